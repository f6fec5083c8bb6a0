/**
 * The PostgreSQL store (node-postgres `pg`, see docs/postgres-driver.md).
 *
 * Behaviour mirrors `SqliteStore` outcome for outcome; the differences are in
 * how atomicity is obtained:
 *
 * Isolation. Transactions run at READ COMMITTED, which is enough because no
 * write depends on a value read earlier by application code:
 * - `replaceRecord` / `deleteRecord` are `UPDATE/DELETE ... WHERE etag = $n`.
 *   A concurrent writer that changed the row first holds its row lock; when
 *   that lock is released PostgreSQL re-evaluates the WHERE clause against the
 *   newest row version (EvalPlanQual), sees the new etag and touches nothing.
 *   So of N writers with the same expected etag exactly one wins.
 * - The object limit is a conditional increment of the tenant's row in
 *   `tenant_usage` (`objects = objects + 1 ... WHERE objects < max`). Every
 *   create of a tenant takes that row's lock and keeps it until its
 *   transaction ends, so concurrent creates are serialised on it and each
 *   re-checks the condition against the committed count: N concurrent creates
 *   never pass the limit. (The price: creates of one tenant wait for each
 *   other's transactions, much like SQLite's single writer.)
 *
 * Connections. Outside `transaction()` every call runs on the pool
 * (autocommit); a call that needs two statements (`insertRecord` on a
 * duplicate id) takes one client for a short transaction of its own. Inside
 * `transaction()` every call made while `fn` runs, however deep and across
 * awaits, runs on the one client that holds the transaction (carried by
 * AsyncLocalStorage), one call at a time.
 *
 * JSON. `data` is `jsonb`: records come back with equal values, and arrays
 * keep their order (which is what matters, e.g. for the ordered attribute list
 * of `objects`), but jsonb does not keep the key order of objects (it sorts
 * keys) and keeps only the last of duplicate keys (JSON.stringify never makes
 * duplicates). Clients must not rely on object key order; SQLite happens to
 * keep it. jsonb also refuses strings containing U+0000 or an unpaired
 * surrogate (SQLSTATE 22P05 / 22P02): such a write throws here, while SQLite
 * stores it.
 *
 * Broken connections (server restart, `pg_terminate_backend`) never crash the
 * process: pool and client `error` events are logged, the call that was using
 * the connection throws (see `isConnectionError`), the dead client is
 * destroyed instead of being returned to the pool, and the next call gets a
 * fresh connection. Nothing is retried: a write whose connection died may or
 * may not have happened.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import type { Scope } from '../../auth/principal.js';
import { silentLogger, type Logger } from '../../log.js';
import { AsyncMutex } from '../async-mutex.js';
import { MIGRATIONS } from '../migrations.js';
import { RECORD_COLUMNS, recordValues, replaceValues } from '../record-columns.js';
export { RECORD_COLUMNS };
import { tokenIdOf } from '../../auth/tokens.js';
import type { InsertOptions, InsertOutcome, ListQuery, RecordKey, Store, StoredRecord, TokenInfo, TokenRecord, TokenSource } from '../types.js';
import {
  DELETE_TOKEN_SQL,
  FIND_TOKEN_SQL,
  LIST_TOKENS_SQL,
  PUT_TOKEN_SQL,
  TOUCH_TOKENS_SQL,
  type TokenInfoRow,
  type TokenRow,
} from './token-statements.js';
import { isConnectionError } from './connection-errors.js';
import { compilePostgresFilter, compilePostgresOrderBy } from './postgres-filter-compiler.js';

export { isConnectionError } from './connection-errors.js';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database?...` */
  url: string;
  /**
   * Schema holding Omnibus's tables; created if missing and made the
   * `search_path` of every pooled connection. Default: the server's default
   * search path (normally `public`). Letters, digits, `_` and `$` only.
   */
  schema?: string;
  /** Maximum pooled connections (default 10). */
  poolSize?: number;
  /** How long a call waits for a free pooled connection before failing (ms, default 10000). */
  connectionTimeoutMillis?: number;
  /** Where pool/connection errors are reported (default: silent). */
  logger?: Pick<Logger, 'warn'>;
  /** `application_name` of the pooled connections, as `pg_stat_activity` shows it (default `omnibus`). */
  applicationName?: string;
}

/** What a store call runs its statements on: a pooled client, or the pool itself for one autocommit statement. */
type Client = Pick<pg.ClientBase, 'query'>;

interface RecordRow {
  tenant: string;
  collection: string;
  id: string;
  data: Record<string, unknown>;
  etag: string;
  created: string;
  updated: string;
  created_by: string;
  updated_by: string;
}

/** The open transaction that store calls made inside `transaction(fn)` join. */
interface TxContext {
  client: Client;
  /** One store call at a time on the transaction's client (insertRecord is two statements). */
  lock: AsyncMutex;
  /** Set once COMMIT/ROLLBACK was issued: late calls must not touch a client that went back to the pool. */
  finished: boolean;
  /** Creates with server-generated ids, not yet written: flushed in one statement before any other call and before COMMIT. */
  pending: StoredRecord[];
  /** Tenants whose usage row this transaction holds locked, with their count including pending creates. */
  usage: Map<string, number>;
}


/**
 * Create under the object limit, in one statement: bump the tenant's counter
 * (creating the row on the tenant's first record) unless it is at the limit
 * ($10 <= 0: no limit), then insert the record only if the bump happened.
 * The bump takes the counter row's lock first, so by the time the insert runs
 * every earlier create of this tenant has committed or rolled back.
 * `present` reads the statement's snapshot, i.e. rows that existed before it.
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

/** Locks the tenant's usage row for the rest of the transaction (creating it at 0) and reads its count. */
const LOCK_USAGE_SQL = `
INSERT INTO tenant_usage AS u (tenant, objects) VALUES ($1, 0)
ON CONFLICT (tenant) DO UPDATE SET objects = u.objects
RETURNING objects`;

/** Deferred creates in one statement; `unnest` keeps their order, so `seq` follows it. */
const INSERT_MANY_SQL = `
INSERT INTO records (${RECORD_COLUMNS})
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])`;

/** The counter was bumped but the id existed: give the slot back (same transaction). */
const UNBUMP_SQL = 'UPDATE tenant_usage SET objects = objects - 1 WHERE tenant = $1';

export const GET_RECORD_SQL = `SELECT ${RECORD_COLUMNS} FROM records WHERE tenant = $1 AND collection = $2 AND id = $3`;

export const GET_RECORDS_SQL = `SELECT ${RECORD_COLUMNS} FROM records WHERE tenant = $1 AND collection = $2 AND id = ANY($3::text[])`;

export const REPLACE_SQL = `
UPDATE records SET data = $1::jsonb, etag = $2, updated = $3, updated_by = $4
WHERE tenant = $5 AND collection = $6 AND id = $7 AND etag = $8`;

/** Delete and count down in one statement (data-modifying CTEs always run to completion). */
const DELETE_SQL = `
WITH del AS (
  DELETE FROM records WHERE tenant = $1 AND collection = $2 AND id = $3 AND etag = $4 RETURNING 1
), dec AS (
  UPDATE tenant_usage SET objects = objects - 1 WHERE tenant = $1 AND EXISTS (SELECT 1 FROM del) RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM del) AS deleted`;

/** First key of the two-int advisory lock that guards migrations ('OMNB'). */
const MIGRATION_LOCK_CLASS = 0x4f4d4e42;

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  private readonly tx = new AsyncLocalStorage<TxContext>();
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly log: Pick<Logger, 'warn'>,
  ) {}

  /**
   * Creates the pool, creates `schema` if given, and applies the missing
   * migrations (each version in its own transaction, under an advisory lock,
   * so servers starting together migrate once). Idempotent.
   */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const log = options.logger ?? silentLogger;
    if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
      throw new Error(`Invalid PostgreSQL schema name ${JSON.stringify(options.schema)}: use letters, digits, _ and $.`);
    }
    const pool = new pg.Pool({
      ...connectionConfig(options.url, options.schema),
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: options.applicationName ?? 'omnibus',
    });
    // An idle pooled connection that dies (server restart, pg_terminate_backend)
    // is reported here; without a listener the process would crash.
    pool.on('error', (err) => log.warn({ err: errorInfo(err) }, 'postgres: idle connection lost'));
    // A checked-out client whose connection dies between queries emits 'error'
    // too; pg-pool only listens while the client is idle.
    pool.on('connect', (client) => client.on('error', () => {}));
    const store = new PostgresStore(pool, log);
    try {
      await store.withClient((client) => migrate(client, options.schema));
    } catch (err) {
      await pool.end().catch(() => {});
      throw err;
    }
    return store;
  }

  inTransaction(): boolean {
    return this.tx.getStore() !== undefined;
  }

  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inTransaction()) return fn(); // nested: join the open transaction
    return this.withClient((client) => {
      const ctx: TxContext = { client, lock: new AsyncMutex(), finished: false, pending: [], usage: new Map() };
      return runInTransaction(client, ctx, () =>
        this.tx.run(ctx, async () => {
          const result = await fn();
          await this.atomically(async () => undefined, false); // flushes deferred creates before COMMIT
          return result;
        }),
      );
    });
  }

  async getRecord(key: RecordKey): Promise<StoredRecord | undefined> {
    const r = await this.query<RecordRow>('omnibus_get_record', GET_RECORD_SQL, [key.tenant, key.collection, key.id]);
    const row = r.rows[0];
    return row && toRecord(row);
  }

  async getRecords(keys: RecordKey[]): Promise<StoredRecord[]> {
    // One `id = ANY(...)` query per (tenant, collection): it can only be planned on the primary key.
    const groups = new Map<string, { tenant: string; collection: string; ids: string[] }>();
    for (const k of keys) {
      const g = `${k.tenant}\u0000${k.collection}`;
      let group = groups.get(g);
      if (!group) groups.set(g, (group = { tenant: k.tenant, collection: k.collection, ids: [] }));
      group.ids.push(k.id);
    }
    const found: StoredRecord[] = [];
    for (const g of groups.values()) {
      const r = await this.query<RecordRow>('omnibus_get_records', GET_RECORDS_SQL, [g.tenant, g.collection, g.ids]);
      for (const row of r.rows) found.push(toRecord(row));
    }
    return found;
  }

  async listRecords(tenant: string, collection: string, query: ListQuery): Promise<StoredRecord[]> {
    const params: unknown[] = [tenant, collection];
    let sql = `SELECT ${RECORD_COLUMNS} FROM records WHERE tenant = $1 AND collection = $2`;
    let next = 3;
    if (query.filter) {
      const f = compilePostgresFilter(query.filter, next);
      sql += ` AND (${f.sql})`;
      params.push(...f.params);
      next = f.nextParam;
    }
    if (query.orderBy && query.orderBy.length > 0) {
      const o = compilePostgresOrderBy(query.orderBy, next);
      sql += ` ORDER BY ${o.sql}`;
      params.push(...o.params);
      next = o.nextParam;
    } else {
      sql += ' ORDER BY seq';
    }
    sql += ` LIMIT $${next} OFFSET $${next + 1}`;
    params.push(query.top, query.skip);
    const r = await this.query<RecordRow>(undefined, sql, params);
    return r.rows.map(toRecord);
  }

  insertRecord(record: StoredRecord, maxObjects: number, options: InsertOptions = {}): Promise<InsertOutcome> {
    const ctx = this.tx.getStore();
    if (ctx && options.freshId) return this.deferInsert(ctx, record, maxObjects);
    return this.atomically(async (client) => {
      const r = await client.query<{ bumped: boolean; inserted: boolean; present: boolean }>({
        name: 'omnibus_insert_record',
        text: INSERT_SQL,
        values: [...recordValues(record), maxObjects],
      });
      const row = r.rows[0];
      if (!row) throw new Error('insertRecord: no result row');
      if (row.inserted) return 'inserted';
      if (row.bumped) {
        // The id was taken (possibly by a create that committed while we waited
        // for the counter lock): undo the bump before anyone else can see it.
        await client.query({ name: 'omnibus_unbump', text: UNBUMP_SQL, values: [record.tenant] });
        return 'exists';
      }
      return row.present ? 'exists' : 'limit';
    }, /* needsTransaction */ true);
  }

  async replaceRecord(record: StoredRecord, expectedEtag: string): Promise<boolean> {
    const r = await this.query('omnibus_replace_record', REPLACE_SQL, replaceValues(record, expectedEtag));
    return r.rowCount === 1;
  }

  async deleteRecord(key: RecordKey, expectedEtag: string): Promise<boolean> {
    const r = await this.query<{ deleted: boolean }>('omnibus_delete_record', DELETE_SQL, [
      key.tenant,
      key.collection,
      key.id,
      expectedEtag,
    ]);
    return r.rows[0]?.deleted === true;
  }

  async countRecords(tenant: string): Promise<number> {
    const r = await this.query<{ objects: string }>(
      'omnibus_count_records',
      'SELECT objects FROM tenant_usage WHERE tenant = $1',
      [tenant],
    );
    const row = r.rows[0];
    return row ? Number(row.objects) : 0;
  }

  async putToken(token: TokenRecord): Promise<void> {
    await this.query('omnibus_put_token_v3', PUT_TOKEN_SQL, [
      token.hash,
      tokenIdOf(token.hash),
      token.tenant,
      token.subject,
      token.scopes.join(','),
      token.created,
      token.source ?? 'cli',
    ]);
  }

  async findToken(hash: string): Promise<TokenRecord | undefined> {
    const r = await this.query<TokenRow>('omnibus_find_token', FIND_TOKEN_SQL, [hash]);
    const row = r.rows[0];
    return row && { ...row, scopes: row.scopes.split(',') as Scope[] };
  }

  async countTokens(): Promise<number> {
    const r = await this.query<{ n: number }>('omnibus_count_tokens', 'SELECT count(*)::int AS n FROM tokens', []);
    return r.rows[0]?.n ?? 0;
  }

  async listTokens(): Promise<TokenInfo[]> {
    const r = await this.query<TokenInfoRow>('omnibus_list_tokens', LIST_TOKENS_SQL, []);
    return r.rows.map((row) => ({
      id: row.id,
      tenant: row.tenant,
      subject: row.subject,
      scopes: row.scopes.split(',') as Scope[],
      created: row.created,
      lastUsed: row.last_used,
      source: row.source as TokenSource,
    }));
  }

  async deleteToken(id: string): Promise<boolean> {
    const r = await this.query('omnibus_delete_token', DELETE_TOKEN_SQL, [id]);
    return (r.rowCount ?? 0) > 0;
  }

  async touchTokens(uses: ReadonlyArray<{ hash: string; lastUsed: string }>): Promise<void> {
    if (uses.length === 0) return;
    await this.query('omnibus_touch_tokens', TOUCH_TOKENS_SQL, [uses.map((u) => u.hash), uses.map((u) => u.lastUsed)]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  /**
   * A create with a server-generated id inside a transaction: a PostgreSQL
   * round trip costs more than the rest of the operation, so the row is kept
   * back and written with the transaction's other such rows in one statement.
   * The object limit is still decided now, exactly: the tenant's usage row is
   * locked (once per transaction) and its count kept here, so no concurrent
   * create can pass the limit in between.
   */
  private async deferInsert(ctx: TxContext, record: StoredRecord, maxObjects: number): Promise<InsertOutcome> {
    const release = await ctx.lock.acquire();
    try {
      if (ctx.finished) throw new Error('The store transaction has already ended; this call was made too late.');
      let count = ctx.usage.get(record.tenant);
      if (count === undefined) {
        const r = await ctx.client.query<{ objects: string }>({ name: 'omnibus_lock_usage', text: LOCK_USAGE_SQL, values: [record.tenant] });
        count = Number(r.rows[0]!.objects);
      }
      if (maxObjects > 0 && count >= maxObjects) {
        ctx.usage.set(record.tenant, count);
        return 'limit';
      }
      ctx.usage.set(record.tenant, count + 1);
      ctx.pending.push(record);
      return 'inserted';
    } finally {
      release();
    }
  }

  /** Writes deferred creates (one statement) and the locked usage counts. Call holding `ctx.lock`. */
  private async flush(ctx: TxContext): Promise<void> {
    if (ctx.pending.length > 0) {
      const rows = ctx.pending.splice(0).map(recordValues);
      // One array per column, for unnest.
      const columns = rows[0]!.map((_, i) => rows.map((row) => row[i]));
      await ctx.client.query({ name: 'omnibus_insert_many', text: INSERT_MANY_SQL, values: columns });
    }
    for (const [tenant, objects] of ctx.usage) {
      await ctx.client.query({ name: 'omnibus_set_usage', text: 'UPDATE tenant_usage SET objects = $2 WHERE tenant = $1', values: [tenant, objects] });
    }
    ctx.usage.clear();
  }

  /** One statement: on the transaction's client inside `transaction()`, else on the pool (autocommit). */
  private query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    name: string | undefined,
    text: string,
    values: unknown[],
  ): Promise<pg.QueryResult<R>> {
    // Named statements are prepared once per connection and reused.
    const config: pg.QueryConfig = name ? { name, text, values } : { text, values };
    return this.atomically((client) => client.query<R>(config), false);
  }

  /**
   * Runs `fn` on the open transaction's client, or else on a pooled client:
   * inside a short transaction of its own when `needsTransaction`.
   */
  private async atomically<T>(fn: (client: Client) => Promise<T>, needsTransaction: boolean): Promise<T> {
    const ctx = this.tx.getStore();
    if (ctx) {
      const release = await ctx.lock.acquire();
      try {
        if (ctx.finished) throw new Error('The store transaction has already ended; this call was made too late.');
        if (ctx.pending.length > 0 || ctx.usage.size > 0) await this.flush(ctx);
        return await fn(ctx.client);
      } finally {
        release();
      }
    }
    if (!needsTransaction) return fn(this.pool);
    return this.withClient((client) => runInTransaction(client, undefined, () => fn(client)));
  }

  /**
   * Checks out one client for `fn` and always gives it back: destroyed instead
   * of pooled when its connection broke (or its transaction state is unknown).
   */
  private async withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    const onError = (err: Error): void => {
      broken ??= err;
      this.log.warn({ err: errorInfo(err) }, 'postgres: connection lost while in use');
    };
    client.on('error', onError);
    try {
      return await fn(client);
    } catch (err) {
      if (isConnectionError(err) || err instanceof RollbackFailed) broken ??= asError(err);
      throw err instanceof RollbackFailed ? err.original : err;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }
}

/** ROLLBACK itself failed: the client's state is unknown and it must not go back to the pool. */
class RollbackFailed extends Error {
  constructor(readonly original: unknown) {
    super('ROLLBACK failed');
  }
}

/**
 * BEGIN; fn; COMMIT — or ROLLBACK when fn rejects. COMMIT/ROLLBACK wait for
 * the store call in progress on `ctx` (if any) and close it to later calls.
 */
async function runInTransaction<T>(client: Client, ctx: TxContext | undefined, fn: () => Promise<T>): Promise<T> {
  const end = async (sql: 'COMMIT' | 'ROLLBACK'): Promise<pg.QueryResult> => {
    const release = ctx ? await ctx.lock.acquire() : undefined;
    try {
      if (ctx) ctx.finished = true;
      return await client.query(sql);
    } finally {
      release?.();
    }
  };
  await client.query('BEGIN');
  let result: T;
  try {
    result = await fn();
  } catch (err) {
    try {
      await end('ROLLBACK');
    } catch {
      throw new RollbackFailed(err);
    }
    throw err;
  }
  const committed = await end('COMMIT');
  // COMMIT of a transaction in which a statement failed (and fn swallowed the
  // error) rolls back and answers "ROLLBACK" instead of raising an error.
  if (committed.command !== 'COMMIT') {
    throw new Error('The transaction was rolled back by PostgreSQL because a statement in it failed.');
  }
  return result;
}

/** Creates the schema (if any) and applies missing migrations, each in its own transaction. */
async function migrate(client: Client, schema: string | undefined): Promise<void> {
  const lock = (): Promise<unknown> =>
    client.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2))', [
      MIGRATION_LOCK_CLASS,
      `omnibus:${schema ?? ''}`,
    ]);
  const setup = async (): Promise<void> => {
    await lock();
    if (schema !== undefined) {
      const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
      // Checked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when the schema exists.
      if (exists.rowCount === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    }
    await client.query(
      'CREATE TABLE IF NOT EXISTS omnibus_migrations (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())',
    );
  };
  await runInTransaction(client, undefined, setup);
  const applied = async (): Promise<Set<number>> =>
    new Set((await client.query<{ version: number }>('SELECT version FROM omnibus_migrations')).rows.map((r) => r.version));
  const done = await applied();
  for (const m of MIGRATIONS) {
    if (done.has(m.version)) continue;
    await runInTransaction(client, undefined, async () => {
      await lock();
      // Another server may have applied it while we waited for the lock.
      const again = await client.query('SELECT 1 FROM omnibus_migrations WHERE version = $1', [m.version]);
      if (again.rowCount !== 0) return;
      for (const sql of m.postgres) await client.query(sql);
      await client.query('INSERT INTO omnibus_migrations (version) VALUES ($1)', [m.version]);
    });
  }
}

/** Pool connection settings that put `schema` first on every connection's search_path. */
function connectionConfig(url: string, schema: string | undefined): pg.PoolConfig {
  if (schema === undefined) return { connectionString: url };
  const setting = `-c search_path=${quoteIdent(schema)}`;
  // Options in the URL override `options` in the config, so merge into them when present.
  try {
    const parsed = new URL(url);
    const existing = parsed.searchParams.get('options');
    if (existing !== null) {
      parsed.searchParams.set('options', `${existing} ${setting}`);
      return { connectionString: parsed.toString() };
    }
  } catch {
    // Not a WHATWG-parsable URL: pg parses it its own way, and it has no options we could merge.
  }
  return { connectionString: url, options: setting };
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function toRecord(row: RecordRow): StoredRecord {
  return {
    tenant: row.tenant,
    collection: row.collection,
    id: row.id,
    data: row.data,
    etag: row.etag,
    created: row.created,
    updated: row.updated,
    createdBy: row.created_by,
    updatedBy: row.updated_by,
  };
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function errorInfo(err: unknown): { message: string; code?: unknown } {
  const e = asError(err);
  return { message: e.message, code: (e as { code?: unknown }).code };
}
