/**
 * The PostgreSQL store's statements, in one place so that the plan test
 * (`EXPLAIN` at 50,000 rows with no statistics) checks exactly what runs.
 *
 * Every statement that names one record filters on the three primary-key
 * columns, and no other index starts with them: the list index is on the
 * expression `ARRAY[tenant, collection]`, which only the list query uses. So
 * a key lookup can only be planned on the primary key, whatever the table's
 * statistics say (without statistics PostgreSQL used to pick the list index
 * `(tenant, collection, seq)` for key lookups and read the whole collection).
 */
import { RECORD_COLUMNS } from '../record-columns.js';

export const GET_RECORD_SQL = `SELECT ${RECORD_COLUMNS} FROM records WHERE tenant = $1 AND collection = $2 AND id = $3`;

/**
 * Many keys in one query. Written as a LATERAL lookup per key (the LIMIT
 * keeps the planner from flattening it into a join): `id = ANY($3)` and a
 * join against `unnest` were both planned, without statistics, as a scan of
 * the whole collection on the key's first two columns with `id` as a filter.
 */
export const GET_RECORDS_SQL = `
SELECT r.* FROM unnest($1::text[], $2::text[], $3::text[]) AS k(tenant, collection, id)
CROSS JOIN LATERAL (
  SELECT ${RECORD_COLUMNS} FROM records
  WHERE records.tenant = k.tenant AND records.collection = k.collection AND records.id = k.id LIMIT 1
) r`;

/** The start of a list query: `$1` tenant, `$2` collection; filters, order and paging are appended. */
export const LIST_RECORDS_SQL = `SELECT ${RECORD_COLUMNS} FROM records WHERE ARRAY[tenant, collection] = ARRAY[$1::text, $2::text]`;

/**
 * Create under the object limit, in one statement (outside a transaction):
 * bump the tenant's counter (creating the row on the tenant's first record)
 * unless it is at the limit ($10 <= 0: no limit), then insert the record only
 * if the bump happened. The bump takes the counter row's lock first, so by
 * the time the insert runs every earlier create of this tenant has committed
 * or rolled back. `present` reads the statement's snapshot.
 */
export const INSERT_SQL = `
WITH bump AS (
  INSERT INTO tenant_usage AS u (tenant, objects) VALUES ($1, 1)
  ON CONFLICT (tenant) DO UPDATE SET objects = u.objects + 1
  WHERE $10::bigint <= 0 OR u.objects < $10::bigint
  RETURNING 1
), ins AS (
  INSERT INTO records (${RECORD_COLUMNS})
  SELECT $1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM bump)
  ON CONFLICT (tenant, collection, id) DO NOTHING
  RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM bump) AS bumped,
       EXISTS (SELECT 1 FROM ins) AS inserted,
       EXISTS (SELECT 1 FROM records WHERE tenant = $1 AND collection = $2 AND id = $3) AS present`;

/** The counter was bumped but the id existed: give the slot back (same transaction). */
export const UNBUMP_SQL = 'UPDATE tenant_usage SET objects = objects - 1 WHERE tenant = $1';

/** Inside a transaction: the record alone; its count is added to the tenant's counter at COMMIT. */
export const INSERT_ONLY_SQL = `
INSERT INTO records (${RECORD_COLUMNS}) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9)
ON CONFLICT (tenant, collection, id) DO NOTHING RETURNING 1`;

/** Takes back a row this transaction just inserted (it went over the object limit). */
export const UNINSERT_SQL = 'DELETE FROM records WHERE tenant = $1 AND collection = $2 AND id = $3';

/** One deferred create (a statement whose values are scalars, so a deferred savepoint can ride with it). */
export const INSERT_ONE_SQL = `
INSERT INTO records (${RECORD_COLUMNS}) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9)`;

/** Deferred creates in one statement; `unnest` keeps their order, so `seq` follows it. */
export const INSERT_MANY_SQL = `
INSERT INTO records (${RECORD_COLUMNS})
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])`;

/** Locks the tenant's usage row for the rest of the transaction (creating it at 0) and reads its count. */
export const LOCK_USAGE_SQL = `
INSERT INTO tenant_usage AS u (tenant, objects) VALUES ($1, 0)
ON CONFLICT (tenant) DO UPDATE SET objects = u.objects
RETURNING objects`;

/** A transaction's net creates minus deletes of one tenant, applied just before COMMIT. */
export const ADD_USAGE_SQL = `
INSERT INTO tenant_usage AS u (tenant, objects) VALUES ($1, $2)
ON CONFLICT (tenant) DO UPDATE SET objects = u.objects + excluded.objects`;

/**
 * Transaction-scoped advisory locks on 64-bit hashes of record keys, taken in
 * ascending order (the sorted subquery feeds the aggregate one row at a time).
 * They stand for the records, present or not, among transactions that lock
 * ahead; the single-argument form never collides with the two-int migration lock.
 */
export const LOCK_KEYS_SQL = `
SELECT count(pg_advisory_xact_lock(k)) AS locked FROM (SELECT DISTINCT k FROM unnest($1::bigint[]) AS u(k) ORDER BY k) AS s`;

export const COUNT_USAGE_SQL = 'SELECT objects FROM tenant_usage WHERE tenant = $1';

export const REPLACE_SQL = `
UPDATE records SET data = $1::jsonb, etag = $2, updated = $3, updated_by = $4
WHERE tenant = $5 AND collection = $6 AND id = $7 AND etag = $8`;

/** Outside a transaction: delete and count down in one statement (data-modifying CTEs always run to completion). */
export const DELETE_SQL = `
WITH del AS (
  DELETE FROM records WHERE tenant = $1 AND collection = $2 AND id = $3 AND etag = $4 RETURNING 1
), dec AS (
  UPDATE tenant_usage SET objects = objects - 1 WHERE tenant = $1 AND EXISTS (SELECT 1 FROM del) RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM del) AS deleted`;

/** Inside a transaction: the delete alone; the count goes down at COMMIT. */
export const DELETE_ONLY_SQL = 'DELETE FROM records WHERE tenant = $1 AND collection = $2 AND id = $3 AND etag = $4';
