/**
 * The PostgreSQL store's statements on `idempotency_keys` (migration 5).
 * Every lookup names the whole primary key (tenant, key), so its plan never
 * depends on statistics; only the sweep reads the expiry index.
 */

const COLUMNS = 'fingerprint, owner, state, status, headers, body, lease_until, expires_at';

export const FIND_KEY_SQL = `SELECT ${COLUMNS} FROM idempotency_keys WHERE tenant = $1 AND key = $2`;

/**
 * Insert, or take over a row of the same owner or one no longer live at
 * `$11` (now, epoch ms). Inside a transaction, a concurrent insert of the same
 * key waits for the other transaction to end; if it committed, the WHERE is
 * checked against its row (READ COMMITTED re-reads it) and nothing is
 * written: no row returned.
 */
export const PUT_KEY_SQL = `
INSERT INTO idempotency_keys AS k (tenant, key, ${COLUMNS}, created)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (tenant, key) DO UPDATE SET
  fingerprint = excluded.fingerprint, owner = excluded.owner, state = excluded.state, status = excluded.status,
  headers = excluded.headers, body = excluded.body, lease_until = excluded.lease_until, expires_at = excluded.expires_at,
  created = excluded.created
WHERE k.owner = excluded.owner
   OR (k.state = 'done' AND k.expires_at <= $11)
   OR (k.state = 'running' AND (k.lease_until <= $11 OR k.expires_at <= $11))
RETURNING 1`;

export const COMPLETE_KEY_SQL = `
UPDATE idempotency_keys SET state = 'done', status = $4, headers = $5, body = $6, expires_at = $7
WHERE tenant = $1 AND key = $2 AND owner = $3`;

export const RENEW_KEY_SQL = `
UPDATE idempotency_keys SET lease_until = $4 WHERE tenant = $1 AND key = $2 AND owner = $3 AND state = 'running'`;

/** Expired rows, a bounded number at a time, skipping rows another transaction holds (it never waits). */
export const SWEEP_KEYS_SQL = `
DELETE FROM idempotency_keys WHERE ctid IN (
  SELECT ctid FROM idempotency_keys WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`;

export interface KeyRowPg {
  fingerprint: string;
  owner: string;
  state: 'running' | 'done';
  status: number | null;
  headers: string | null;
  body: Buffer | null;
  lease_until: string;
  expires_at: string;
}
