import type { Scope } from '../auth/principal.js';
import type { FilterExpr, OrderByItem } from './query/filter.js';

export interface RecordKey {
  tenant: string;
  collection: string;
  id: string;
}

/** A stored record: the client's JSON object plus what the store keeps beside it. */
export interface StoredRecord extends RecordKey {
  data: Record<string, unknown>;
  /** Opaque version token, unquoted; the `ETag` header is `"<etag>"`. */
  etag: string;
  created: string;
  updated: string;
  createdBy: string;
  updatedBy: string;
}

export interface ListQuery {
  filter?: FilterExpr;
  orderBy?: OrderByItem[];
  top: number;
  skip: number;
}

export type InsertOutcome = 'inserted' | 'exists' | 'limit';

export interface TokenRecord {
  hash: string;
  tenant: string;
  subject: string;
  scopes: Scope[];
  created: string;
}

/**
 * Persistence behind one interface (SQLite, PostgreSQL).
 *
 * Every write is compare-and-set inside the database: `replaceRecord` and
 * `deleteRecord` only touch the row when its etag is still `expectedEtag`,
 * and `insertRecord` only inserts when the id is absent and the tenant is
 * under its object limit. Callers retry or answer 412 on `false`.
 *
 * `transaction(fn)` runs `fn` in one database transaction carried by
 * AsyncLocalStorage: every store call made while `fn` runs (however deep,
 * across awaits) joins it. `fn` rejecting rolls everything back.
 */
export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  transaction<T>(fn: () => Promise<T>): Promise<T>;
  inTransaction(): boolean;

  getRecord(key: RecordKey): Promise<StoredRecord | undefined>;
  listRecords(tenant: string, collection: string, query: ListQuery): Promise<StoredRecord[]>;
  insertRecord(record: StoredRecord, maxObjects: number): Promise<InsertOutcome>;
  replaceRecord(record: StoredRecord, expectedEtag: string): Promise<boolean>;
  deleteRecord(key: RecordKey, expectedEtag: string): Promise<boolean>;
  countRecords(tenant: string): Promise<number>;

  putToken(token: TokenRecord): Promise<void>;
  findToken(hash: string): Promise<TokenRecord | undefined>;
  countTokens(): Promise<number>;

  close(): Promise<void>;
}
