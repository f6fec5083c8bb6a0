/**
 * The PostgreSQL store's statements on `rate_buckets` (migration 5): token
 * buckets every node shares, on the database's clock.
 */

/** Milliseconds since the epoch on the database's clock (every node reads the same one). */
const NOW_MS = '(extract(epoch FROM clock_timestamp()) * 1000)::float8';

/** The bucket's level now: what it held plus the refill since, at most the capacity ($3), at $4 tokens per ms. */
const LEVEL = 'least($3::float8, b.tokens + greatest(0, excluded.updated_ms - b.updated_ms) * $4::float8)';

/**
 * Takes up to `$2` tokens from bucket `$1` in one statement: a new bucket
 * starts full; an existing one is refilled to now, then gives
 * `min(want, floor(level))`. The row lock serialises concurrent takers, on
 * any node. `granted` keeps the last grant, because RETURNING sees only the
 * new row.
 */
export const TAKE_TOKENS_SQL = `
INSERT INTO rate_buckets AS b (key, tokens, updated_ms, granted)
SELECT $1, $3::float8 - least($2::float8, $3::float8), t.now_ms, least($2::float8, $3::float8)
FROM (SELECT ${NOW_MS} AS now_ms) AS t
ON CONFLICT (key) DO UPDATE SET
  granted = least(excluded.granted, floor(${LEVEL})),
  tokens = ${LEVEL} - least(excluded.granted, floor(${LEVEL})),
  updated_ms = greatest(b.updated_ms, excluded.updated_ms)
RETURNING granted, tokens`;

/** Gives tokens back ($2), never above the capacity ($3). */
export const GIVE_TOKENS_SQL = 'UPDATE rate_buckets SET tokens = least($3::float8, tokens + $2::float8) WHERE key = $1';

/** Buckets untouched for `$1` ms (full again by now), a bounded number at a time, never waiting for a lock. */
export const SWEEP_BUCKETS_SQL = `
DELETE FROM rate_buckets WHERE ctid IN (
  SELECT ctid FROM rate_buckets WHERE updated_ms < ${NOW_MS} - $1::float8 LIMIT 1000 FOR UPDATE SKIP LOCKED)`;
