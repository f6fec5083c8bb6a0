import type { StoredRecord } from './types.js';

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
