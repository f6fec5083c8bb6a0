/**
 * The PostgreSQL store (node-postgres `pg`, see docs/postgres-driver.md).
 * Statements live in `statements.ts`, transactions and conflict retries in
 * `transaction.ts`, schema set-up in `migrate.ts`.
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
 *   `tenant_usage`. Outside a transaction that is one statement. Inside one,
 *   a transaction under a limit locks the row at its first create and keeps
 *   it, so concurrent creates are serialised on it and none passes the limit;
 *   with no limit (the default) the row is not touched until just before
 *   COMMIT, when the transaction adds its net creates minus deletes: the
 *   counter row is then the last lock a transaction takes, so it can never be
 *   part of a deadlock.
 *
 * Contention. Deadlocks and serialization failures (40P01, 40001) abort the
 * transaction; `transaction(fn)` then runs `fn` again from its start (see
 * transaction.ts), and a single statement outside a transaction is re-sent.
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
 * duplicates). jsonb also refuses strings containing U+0000 or an unpaired
 * surrogate (SQLSTATE 22P05 / 22P02): such a write throws here.
 *
 * Broken connections (server restart, `pg_terminate_backend`) never crash the
 * process: pool and client `error` events are logged, the call that was using
 * the connection throws (see `isConnectionError`), the dead client is
 * destroyed instead of being returned to the pool, and the next call gets a
 * fresh connection. Nothing is retried: a write whose connection died may or
 * may not have happened.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Scope } from '../../auth/principal.js';
import { silentLogger, type Logger } from '../../log.js';
import { RECORD_COLUMNS, recordValues, replaceValues, tokenValues } from '../record-columns.js';
import type { InsertOptions, InsertOutcome, ListQuery, RecordKey, Store, StoredRecord, TokenInfo, TokenRecord, TokenSource } from '../types.js';
import {
  DELETE_TOKEN_SQL,
  FIND_TOKEN_SQL,
  LIST_TOKENS_SQL,
  LOCK_TOKENS_SQL,
  PUT_FIRST_TOKEN_SQL,
  PUT_TOKEN_SQL,
  TOUCH_TOKENS_SQL,
  type TokenInfoRow,
  type TokenRow,
} from './token-statements.js';
import { isConnectionError } from './connection-errors.js';
import { deferringClient, inlineStatement } from './deferred-statements.js';
import type { BatchCommit, CommitRecorder } from '../../engine/types.js';
import type { IdempotencyKeyStore } from '../idempotency-types.js';
import type { RateBucketStore } from '../rate-bucket-types.js';
import { PostgresBatchCommit, type BatchTransactionHost } from './batch-commit.js';
import { PostgresIdempotencyKeys } from './postgres-idempotency.js';
import { PostgresRateBuckets } from './postgres-rate-buckets.js';
import { connectionConfig, migrate } from './migrate.js';
import { compilePostgresFilter, compilePostgresOrderBy } from './postgres-filter-compiler.js';
import {
  ADD_USAGE_SQL,
  COUNT_USAGE_SQL,
  DELETE_ONLY_SQL,
  DELETE_SQL,
  GET_RECORD_SQL,
  GET_RECORDS_SQL,
  INSERT_MANY_SQL,
  INSERT_ONE_SQL,
  INSERT_ONLY_SQL,
  INSERT_SQL,
  LIST_RECORDS_SQL,
  LOCK_KEYS_SQL,
  LOCK_USAGE_SQL,
  REPLACE_SQL,
  UNBUMP_SQL,
  UNINSERT_SQL,
} from './statements.js';
import {
  AbortedTransaction,
  isAbortedTransaction,
  conflictBackoff,
  conflictError,
  copyUsage,
  isTransactionConflict,
  MAX_CONFLICT_ATTEMPTS,
  newTxContext,
  RollbackFailed,
  runInTransaction,
  type Client,
  type SharedTransaction,
  type TxContext,
  type Usage,
} from './transaction.js';
import { PostgresSharedCommit } from './shared-commit.js';

export { RECORD_COLUMNS };
export { INSERT_SQL, REPLACE_SQL } from './statements.js';
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
  /** Where pool/connection errors and conflict retries are reported (default: silent). */
  logger?: Pick<Logger, 'warn'>;
  /** `application_name` of the pooled connections, as `pg_stat_activity` shows it (default `omnibus`). */
  applicationName?: string;
  /** Longest time (ms) a batch keeps its transaction open before committing what it has done (default 20). */
  batchCommitMs?: number;
}

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

/** The savepoint around one store call of several statements in a shared transaction. */
const CALL_SAVEPOINT = 'omnibus_call';

/** SQL text (in characters) of kept-back creates waiting at once; past it a create is written at once, as a larger record is. */
const DEFERRED_WRITES_MAX = 1024 * 1024;
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  private readonly tx = new AsyncLocalStorage<TxContext>();
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly log: Pick<Logger, 'warn'>,
    private readonly batchCommitMs: number,
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
    const store = new PostgresStore(pool, log, options.batchCommitMs ?? 20);
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

  /** Runs `fn` in one transaction; re-runs it from the start when PostgreSQL aborted it to break a conflict (see Store). */
  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inTransaction()) return fn(); // nested: join the open transaction
    for (let attempt = 1; ; attempt++) {
      let ctx: TxContext | undefined;
      try {
        return await this.withClient((client) => {
          const c = (ctx = newTxContext(client));
          return runInTransaction(client, c, () =>
            this.tx.run(c, async () => {
              const result = await fn();
              await this.finishWrites(c);
              return result;
            }),
          );
        });
      } catch (err) {
        const conflicted = ctx?.conflict !== undefined || isTransactionConflict(err);
        if (!conflicted) throw err;
        if (attempt >= MAX_CONFLICT_ATTEMPTS) {
          this.log.warn({ attempts: attempt, code: conflictCode(ctx?.conflict ?? err) }, 'postgres: transaction kept conflicting; answering 409');
          // fn's own failure (e.g. a batch group carrying the 409 of the aborted statement) says it best.
          throw ctx?.conflict !== undefined && !isTransactionConflict(err) ? err : conflictError();
        }
        await conflictBackoff(attempt);
      }
    }
  }

  async getRecord(key: RecordKey): Promise<StoredRecord | undefined> {
    const r = await this.query<RecordRow>('omnibus_get_record', GET_RECORD_SQL, [key.tenant, key.collection, key.id]);
    const row = r.rows[0];
    return row && toRecord(row);
  }

  /** Standalone operations of one batch share a transaction, one savepoint each (see PostgresBatchCommit). */
  openBatchCommit(plan: { standaloneWrites: number; recorder?: CommitRecorder }): BatchCommit | undefined {
    // BEGIN, a savepoint per operation and COMMIT cost more round trips than one autocommit write saves,
    // unless the batch's first commit must carry a record (its idempotency key) with its writes.
    if (plan.standaloneWrites < 2 && !(plan.recorder && plan.standaloneWrites > 0)) return undefined;
    return new PostgresBatchCommit({ ...this.batchHost, maxHoldMs: this.batchCommitMs }, plan.recorder);
  }

  /** Independent single-record writes of one batch side by side in one transaction, their statements sent together (see PostgresSharedCommit). */
  openSharedCommit(): BatchCommit {
    return new PostgresSharedCommit({ ...this.batchHost, maxHoldMs: this.batchCommitMs });
  }

  /** Idempotency keys (postgres-idempotency.ts); inside a transaction they join it. */
  readonly idempotencyKeys: IdempotencyKeyStore = new PostgresIdempotencyKeys((name, text, values) => this.query(name, text, values));
  /** Rate-limit buckets in the database, shared by every node (postgres-rate-buckets.ts). */
  readonly rateBuckets: RateBucketStore = new PostgresRateBuckets((name, text, values) => this.query(name, text, values));

  private readonly batchHost: BatchTransactionHost = {
    maxHoldMs: 20, // openBatchCommit() passes the store's option
    begin: async (lockTimeoutMs, then) => {
      const client = await this.pool.connect();
      const ctx = newTxContext(client);
      ctx.client = deferringClient(client, ctx);
      const onError = (err: Error): void => {
        held.broken ??= err;
        this.log.warn({ err: errorInfo(err) }, 'postgres: connection lost while in use');
      };
      const held = { client, onError, broken: undefined as Error | undefined };
      client.on('error', onError);
      this.batchClients.set(ctx, held);
      const statements = ['BEGIN', ...(lockTimeoutMs === undefined ? [] : [`SET LOCAL lock_timeout = ${Math.floor(lockTimeoutMs)}`]), ...(then ? [then] : [])];
      ctx.deferred = statements.join('; ');
      ctx.opening = true;
      return ctx;
    },
    within: (ctx, fn) => this.tx.run(ctx, fn),
    control: async (ctx, sql) => {
      const release = await ctx.lock.acquire();
      try {
        await ctx.client.query(sql);
      } finally {
        release();
      }
    },
    settle: async (ctx) => {
      if (ctx.pending.length === 0) return;
      const release = await ctx.lock.acquire();
      let kept: boolean;
      try {
        kept = this.keepBack(ctx);
      } finally {
        release();
      }
      if (!kept) await this.inTx(ctx, async () => undefined); // written now, inside the operation's savepoint
    },
    end: async (ctx, commit) => {
      if (ctx.opening && (!commit || (ctx.pending.length === 0 && !ctx.writes))) {
        // BEGIN never went out (no operation sent a statement, no create is kept back): nothing to end.
        ctx.finished = true;
        ctx.deferred = undefined;
        ctx.writes = false;
        this.releaseBatchClient(ctx, undefined);
        return;
      }
      // COMMIT releases the last savepoint, ROLLBACK drops it; creates kept back go out with the COMMIT.
      if (!ctx.opening && !(commit && ctx.writes)) {
        ctx.deferred = undefined;
        ctx.writes = false;
      }
      let broken: Error | undefined;
      try {
        if (commit) {
          // The counters are taken last, in tenant order, so waiting for one cannot close a cycle:
          // the operations' lock timeout must not fail the commit of a batch whose creates meet another's.
          if ([...ctx.usage.values()].some((u) => u.delta !== 0)) await this.batchHost.control(ctx, 'SET LOCAL lock_timeout = 0');
          await this.finishWrites(ctx);
        }
        const release = await ctx.lock.acquire();
        try {
          ctx.finished = true;
          const r = await ctx.client.query(commit ? 'COMMIT' : 'ROLLBACK');
          if (commit && r.command !== 'COMMIT') throw new AbortedTransaction();
        } finally {
          release();
        }
      } catch (err) {
        if (!ctx.finished) {
          ctx.finished = true;
          await ctx.client.query('ROLLBACK').catch((e: unknown) => (broken = asError(e)));
        }
        if (isConnectionError(err)) broken ??= asError(err);
        throw err;
      } finally {
        this.releaseBatchClient(ctx, broken);
      }
    },
  };

  private readonly batchClients = new WeakMap<TxContext, { client: pg.PoolClient; onError: (err: Error) => void; broken?: Error }>();

  private releaseBatchClient(ctx: TxContext, broken: Error | undefined): void {
    const held = this.batchClients.get(ctx);
    if (!held) return;
    this.batchClients.delete(ctx);
    held.client.off('error', held.onError);
    held.client.release(broken ?? held.broken);
  }

  async lockRecords(keys: RecordKey[]): Promise<void> {
    const ctx = this.tx.getStore();
    if (!ctx || keys.length === 0) return;
    await this.inTx(ctx, (client) => client.query({ name: 'omnibus_lock_keys', text: LOCK_KEYS_SQL, values: [keys.map(keyHash)] }));
  }

  async getRecords(keys: RecordKey[]): Promise<StoredRecord[]> {
    if (keys.length === 0) return [];
    const r = await this.query<RecordRow>('omnibus_get_records', GET_RECORDS_SQL, [
      keys.map((k) => k.tenant),
      keys.map((k) => k.collection),
      keys.map((k) => k.id),
    ]);
    return r.rows.map(toRecord);
  }

  async listRecords(tenant: string, collection: string, query: ListQuery): Promise<StoredRecord[]> {
    const params: unknown[] = [tenant, collection];
    let sql = LIST_RECORDS_SQL;
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
    if (ctx) return options.freshId ? this.deferInsert(ctx, record, maxObjects) : this.insertInTransaction(ctx, record, maxObjects);
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
    const values = [key.tenant, key.collection, key.id, expectedEtag];
    const ctx = this.tx.getStore();
    if (ctx) {
      const r = await this.query('omnibus_delete_only', DELETE_ONLY_SQL, values);
      if (r.rowCount !== 1) return false;
      usageOf(ctx, key.tenant).delta--;
      return true;
    }
    const r = await this.query<{ deleted: boolean }>('omnibus_delete_record', DELETE_SQL, values);
    return r.rows[0]?.deleted === true;
  }

  async countRecords(tenant: string): Promise<number> {
    const r = await this.query<{ objects: string }>('omnibus_count_records', COUNT_USAGE_SQL, [tenant]);
    const row = r.rows[0];
    const own = this.tx.getStore()?.usage.get(tenant)?.delta ?? 0;
    return (row ? Number(row.objects) : 0) + own;
  }

  async putToken(token: TokenRecord): Promise<void> {
    const params = tokenValues(token);
    try {
      await this.query('omnibus_put_token_v3', PUT_TOKEN_SQL, params);
    } catch (err) {
      // Two nodes starting together store the same OMNIBUS_TOKENS entry at once: the
      // conflict on the hash is arbitrated, the one on the id index (derived from the
      // hash) is raised instead. Once the other insert has committed, the retry updates it.
      if (!isUniqueViolationOn(err, 'tokens_id')) throw err;
      await this.query('omnibus_put_token_v3', PUT_TOKEN_SQL, params);
    }
  }

  async putFirstToken(token: TokenRecord): Promise<boolean> {
    const params = tokenValues(token);
    return this.withClient((client) =>
      runInTransaction(client, undefined, async () => {
        await client.query(LOCK_TOKENS_SQL);
        return (await client.query(PUT_FIRST_TOKEN_SQL, params)).rowCount === 1;
      }),
    );
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
   * Under an object limit the decision is still made now, exactly: the
   * tenant's usage row is locked (once per transaction) and its count kept
   * here, so no concurrent create can pass the limit in between.
   */
  private deferInsert(ctx: TxContext, record: StoredRecord, maxObjects: number): Promise<InsertOutcome> {
    return this.inTx(
      ctx,
      async (client) => {
        if (!(await this.underLimit(ctx, client, record.tenant, maxObjects))) return 'limit';
        usageOf(ctx, record.tenant).delta++;
        ctx.pending.push(record);
        return 'inserted';
      },
      false,
    );
  }

  /**
   * A create of a client-chosen id (PUT) inside a transaction. The row is
   * inserted first, so a PUT whose id turns out to exist never locks the
   * tenant's counter; under a limit an insert that would pass it is taken back.
   */
  private insertInTransaction(ctx: TxContext, record: StoredRecord, maxObjects: number): Promise<InsertOutcome> {
    return this.inTx(ctx, async (client) => {
      const r = await client.query({ name: 'omnibus_insert_only', text: INSERT_ONLY_SQL, values: recordValues(record) });
      if (r.rowCount !== 1) return 'exists';
      if (!(await this.underLimit(ctx, client, record.tenant, maxObjects))) {
        await client.query({ name: 'omnibus_uninsert', text: UNINSERT_SQL, values: [record.tenant, record.collection, record.id] });
        return 'limit';
      }
      usageOf(ctx, record.tenant).delta++;
      return 'inserted';
    });
  }

  /** Whether one more record fits the tenant's limit; locks its counter row for the rest of the transaction the first time. */
  private async underLimit(ctx: TxContext, client: Client, tenant: string, maxObjects: number): Promise<boolean> {
    if (maxObjects <= 0) return true;
    const usage = usageOf(ctx, tenant);
    if (usage.locked === undefined) {
      const r = await client.query<{ objects: string }>({ name: 'omnibus_lock_usage', text: LOCK_USAGE_SQL, values: [tenant] });
      usage.locked = Number(r.rows[0]!.objects);
    }
    return usage.locked + usage.delta < maxObjects;
  }

  /**
   * A batch commit's operation created records and succeeded: their INSERTs
   * join the deferred statements (deferred-statements.ts), inside the
   * operation's savepoint, so a run of creates costs no round trip until the
   * next statement or the COMMIT, all in one query. Only rows whose values
   * can be written as literals, and only up to DEFERRED_WRITES_MAX bytes of
   * SQL waiting at once; false leaves the rows to be written now.
   */
  private keepBack(ctx: TxContext): boolean {
    const inserts = ctx.pending.map((r) => inlineStatement(INSERT_ONE_SQL, recordValues(r)));
    if (!inserts.every((sql): sql is string => sql !== undefined)) return false;
    const waiting = (ctx.deferred?.length ?? 0) + inserts.reduce((n, sql) => n + sql.length + 2, 0);
    if (waiting > DEFERRED_WRITES_MAX) return false;
    ctx.deferred = ctx.deferred === undefined ? inserts.join('; ') : `${ctx.deferred}; ${inserts.join('; ')}`;
    ctx.writes = true;
    ctx.pending = [];
    return true;
  }

  /** Writes deferred creates in one statement. Call holding `ctx.lock`. */
  private async flushPending(ctx: TxContext): Promise<void> {
    if (ctx.pending.length === 0) return;
    const rows = ctx.pending.splice(0).map(recordValues);
    if (rows.length === 1) {
      await ctx.client.query({ name: 'omnibus_insert_one', text: INSERT_ONE_SQL, values: rows[0] });
      return;
    }
    // One array per column, for unnest.
    const columns = rows[0]!.map((_, i) => rows.map((row) => row[i]));
    await ctx.client.query({ name: 'omnibus_insert_many', text: INSERT_MANY_SQL, values: columns });
  }

  /** Before COMMIT: deferred creates, then each tenant's net count change, in tenant order (a fixed lock order). */
  private async finishWrites(ctx: TxContext): Promise<void> {
    try {
      await this.inTx(ctx, async (client) => {
        const tenants = [...ctx.usage.keys()].sort();
        for (const tenant of tenants) {
          const delta = ctx.usage.get(tenant)!.delta;
          if (delta !== 0) await client.query({ name: 'omnibus_add_usage', text: ADD_USAGE_SQL, values: [tenant, delta] });
        }
        ctx.usage.clear();
      });
    } catch (err) {
      // fn swallowed the failure of one of its statements: COMMIT would roll back; say so.
      throw isAbortedTransaction(err) ? new AbortedTransaction() : err;
    }
  }

  /** One statement: on the transaction's client inside `transaction()`, else on the pool (autocommit). */
  private query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    name: string | undefined,
    text: string,
    values: unknown[],
  ): Promise<pg.QueryResult<R>> {
    // Named statements are prepared once per connection and reused.
    const config: pg.QueryConfig = name ? { name, text, values } : { text, values };
    const ctx = this.tx.getStore();
    if (ctx?.shared && ctx.pending.length === 0) return this.sharedQuery<R>(ctx.shared, config);
    return this.atomically((client) => client.query<R>(config), false);
  }

  /** One statement in a shared transaction: sent with the others of this turn; a conflict fails only its operation. */
  private async sharedQuery<R extends pg.QueryResultRow>(shared: SharedTransaction, config: pg.QueryConfig): Promise<pg.QueryResult<R>> {
    try {
      return (await shared.statements.query(config)) as pg.QueryResult<R>;
    } catch (err) {
      if (!isTransactionConflict(err)) throw err;
      shared.conflicted(err);
      throw conflictError();
    }
  }

  /**
   * A store call of several statements in a shared transaction, atomic in a
   * savepoint of its own (which rides with its first statement, and its
   * release with the next one): on failure it is rolled back alone, counters
   * included, and the transaction stays usable. Call holding `ctx.lock`.
   */
  private async sharedCall<T>(ctx: TxContext, shared: SharedTransaction, fn: () => Promise<T>): Promise<T> {
    const before = ctx.deferred;
    const usage = copyUsage(ctx.usage);
    const opened = before === undefined ? `SAVEPOINT ${CALL_SAVEPOINT}` : `${before}; SAVEPOINT ${CALL_SAVEPOINT}`;
    ctx.deferred = opened;
    try {
      const result = await fn();
      if (ctx.deferred === opened) ctx.deferred = before; // it sent nothing
      else ctx.deferred = ctx.deferred === undefined ? `RELEASE SAVEPOINT ${CALL_SAVEPOINT}` : `${ctx.deferred}; RELEASE SAVEPOINT ${CALL_SAVEPOINT}`;
      return result;
    } catch (err) {
      if (ctx.deferred === opened) ctx.deferred = before;
      else await ctx.client.query(`ROLLBACK TO SAVEPOINT ${CALL_SAVEPOINT}; RELEASE SAVEPOINT ${CALL_SAVEPOINT}`);
      ctx.usage = usage;
      if (!isTransactionConflict(err)) throw err;
      shared.conflicted(err);
      throw conflictError();
    }
  }

  /**
   * Runs `fn` on the open transaction's client, or else on a pooled client:
   * inside a short transaction of its own when `needsTransaction`. Outside a
   * transaction, work aborted by a conflict is simply run again.
   */
  private async atomically<T>(fn: (client: Client) => Promise<T>, needsTransaction: boolean): Promise<T> {
    const ctx = this.tx.getStore();
    if (ctx) return this.inTx(ctx, fn);
    for (let attempt = 1; ; attempt++) {
      try {
        if (!needsTransaction) return await fn(this.pool);
        return await this.withClient((client) => runInTransaction(client, undefined, () => fn(client)));
      } catch (err) {
        if (!isTransactionConflict(err)) throw err;
        if (attempt >= MAX_CONFLICT_ATTEMPTS) throw conflictError();
        await conflictBackoff(attempt);
      }
    }
  }

  /**
   * One store call on the transaction's client: after the deferred creates
   * are written, and never after a conflict aborted the transaction (its
   * statements would all fail); a conflict is recorded so `transaction()`
   * re-runs the whole of it, and answered as 409 meanwhile.
   */
  private async inTx<T>(ctx: TxContext, fn: (client: Client) => Promise<T>, flushFirst = true): Promise<T> {
    const release = await ctx.lock.acquire();
    try {
      if (ctx.finished) throw new Error('The store transaction has already ended; this call was made too late.');
      if (ctx.conflict !== undefined) throw conflictError();
      if (ctx.shared) {
        const shared = ctx.shared;
        return await this.sharedCall(ctx, shared, async () => {
          if (flushFirst) await this.flushPending(ctx);
          return fn(ctx.client);
        });
      }
      try {
        if (flushFirst) await this.flushPending(ctx);
        return await fn(ctx.client);
      } catch (err) {
        if (!isTransactionConflict(err)) throw err;
        ctx.conflict = err;
        throw conflictError();
      }
    } finally {
      release();
    }
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

/** A signed 64-bit hash of a record key (as a decimal string, for a bigint parameter). */
function keyHash(key: RecordKey): string {
  const digest = createHash('sha256').update(`${key.tenant}\u0000${key.collection}\u0000${key.id}`).digest();
  return digest.readBigInt64BE(0).toString();
}

function usageOf(ctx: TxContext, tenant: string): Usage {
  let usage = ctx.usage.get(tenant);
  if (!usage) ctx.usage.set(tenant, (usage = { delta: 0 }));
  return usage;
}

function conflictCode(err: unknown): unknown {
  return (err as { code?: unknown } | undefined)?.code;
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

function isUniqueViolationOn(err: unknown, constraint: string): boolean {
  const e = err as { code?: unknown; constraint?: unknown } | null;
  return e !== null && typeof e === 'object' && e.code === '23505' && e.constraint === constraint;
}
