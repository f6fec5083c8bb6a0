import { tokenIdOf } from '../auth/tokens.js';
import type { StoredRecord, TokenRecord } from './types.js';

/** The `records` columns a write sets, in one order that both backends' SQL and values follow. */
export const RECORD_COLUMNS = 'tenant, collection, id, data, etag, created, updated, created_by, updated_by';

/** A record's values in `RECORD_COLUMNS` order (`data` as JSON text). */
export function recordValues(r: StoredRecord): unknown[] {
  return [r.tenant, r.collection, r.id, JSON.stringify(r.data), r.etag, r.created, r.updated, r.createdBy, r.updatedBy];
}

/**
 * Parameters of the compare-and-set update, in the order both backends' SQL
 * takes them: `SET data, etag, updated, updated_by WHERE tenant, collection, id, etag`.
 */
export function replaceValues(r: StoredRecord, expectedEtag: string): unknown[] {
  return [JSON.stringify(r.data), r.etag, r.updated, r.updatedBy, r.tenant, r.collection, r.id, expectedEtag];
}

/** The `tokens` columns a write sets, in one order that both backends' SQL and values follow. */
export const TOKEN_COLUMNS = 'hash, id, tenant, subject, scopes, created, source';

/** A token's values in `TOKEN_COLUMNS` order (its public id derived from the hash, scopes comma-separated). */
export function tokenValues(token: TokenRecord): unknown[] {
  return [token.hash, tokenIdOf(token.hash), token.tenant, token.subject, token.scopes.join(','), token.created, token.source ?? 'cli'];
}
