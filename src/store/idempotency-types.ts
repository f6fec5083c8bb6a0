/**
 * What a store keeps of an idempotency key (src/idempotency/): one row per
 * tenant and key, first a claim of the request that holds it, then its
 * complete response. Every call made inside `Store.transaction(fn)`, or a
 * batch transaction, joins that transaction, so a key can be committed
 * together with the writes it stands for.
 */

/** A response as it is replayed: status, headers (lower-case names) and the body's exact bytes. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

export interface IdempotencyRow {
  /** Hash of the request's method, path and body (src/idempotency/fingerprint.ts). */
  fingerprint: string;
  /** A random id of the request that wrote the row: only it may complete or renew it. */
  owner: string;
  /** `running`: claimed, its response not known yet; `done`: `response` is the answer to replay. */
  state: 'running' | 'done';
  response?: StoredResponse;
  /** Epoch ms until which a `running` claim holds; after it another request may take the key. */
  leaseUntil: number;
  /** Epoch ms after which the row means nothing and may be swept. */
  expiresAt: number;
}

export interface IdempotencyKeyStore {
  find(tenant: string, key: string): Promise<IdempotencyRow | undefined>;
  /**
   * Writes the row unless the key is held: it is inserted, or replaces a row
   * of the same owner, or one that is no longer live at `now` (a `done` row
   * past `expiresAt`, a `running` claim past `leaseUntil`). False: another
   * request holds the key (nothing was written).
   */
  put(tenant: string, key: string, row: IdempotencyRow, now: number): Promise<boolean>;
  /** The owner's claim becomes `done` with `response`; false when the row is no longer its own. */
  complete(tenant: string, key: string, owner: string, response: StoredResponse, expiresAt: number): Promise<boolean>;
  /** Extends the owner's running claim; false when the row is no longer its own. */
  renew(tenant: string, key: string, owner: string, leaseUntil: number): Promise<boolean>;
  /** Deletes up to `limit` rows that expired at `now`; answers how many. */
  sweep(now: number, limit: number): Promise<number>;
}
