import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Scope } from '../../auth/principal.js';
import { MIGRATIONS } from '../migrations.js';
import { RECORD_COLUMNS, recordValues, replaceValues, TOKEN_COLUMNS, tokenValues } from '../record-columns.js';
import { AsyncMutex } from '../async-mutex.js';
import type { InsertOutcome, ListQuery, RecordKey, Store, StoredRecord, TokenInfo, TokenRecord, TokenSource } from '../types.js';
import type { BatchCommit, CommitRecorder } from '../../engine/types.js';
import type { IdempotencyKeyStore } from '../idempotency-types.js';
import { SqliteBatchCommit } from './sqlite-batch-commit.js';
import { SqliteIdempotencyKeys } from './sqlite-idempotency.js';
import { compileSqliteFilter, compileSqliteOrderBy } from './sqlite-filter-compiler.js';

type Db = Database.Database;

export interface SqliteStoreOptions {
  /** File path, or `:memory:` (one connection, for throwaway use). */
  path: string;
  /** `FULL` (default) survives power loss; `NORMAL` is faster and survives process crashes in WAL mode. */
  synchronous?: 'FULL' | 'NORMAL' | 'OFF';
  /** Longest time (ms) a batch holds the writer before committing what it has done (default 20). */
  batchCommitMs?: number;
}

interface RecordRow {
  tenant: string;
  collection: string;
  id: string;
  data: string;
  etag: string;
  created: string;
  updated: string;
  created_by: string;
  updated_by: string;
}

/**
 * The embedded store. SQLite has one writer, so:
 * - every write and every transaction holds an async writer lock on the one
 *   writer connection, so no other request's statement can land inside an
 *   open batch transaction;
 * - reads outside a transaction use a second connection and see the last
 *   committed snapshot (WAL), so they never wait for a writer.
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly writer: Db;
  private readonly reader: Db;
  private readonly lock = new AsyncMutex();
  private readonly tx = new AsyncLocalStorage<true>();
  private readonly statements = new WeakMap<Db, Map<string, Database.Statement>>();
  /** Multi-statement writes outside a transaction, committed as one unit; built once, not per call. */
  private readonly insertTx: (record: StoredRecord, maxObjects: number) => InsertOutcome;
  private readonly deleteTx: (key: RecordKey, expectedEtag: string) => boolean;
  private readonly batchCommitMs: number;

  constructor(options: SqliteStoreOptions) {
    const memory = options.path === ':memory:';
    this.batchCommitMs = options.batchCommitMs ?? 20;
    if (!memory) mkdirSync(dirname(options.path), { recursive: true });
    this.writer = new Database(options.path);
    this.writer.pragma('busy_timeout = 5000');
    if (!memory) this.writer.pragma('journal_mode = WAL');
    this.writer.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    migrate(this.writer);
    this.insertTx = this.writer.transaction((r: StoredRecord, max: number) => this.insertNow(r, max));
    this.deleteTx = this.writer.transaction((k: RecordKey, etag: string) => this.deleteNow(k, etag));
    if (memory) {
      this.reader = this.writer;
    } else {
      this.reader = new Database(options.path, { readonly: true });
      this.reader.pragma('busy_timeout = 5000');
    }
  }

  inTransaction(): boolean {
    return this.tx.getStore() === true;
  }

  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inTransaction()) return fn();
    const release = await this.lock.acquire();
    try {
      this.writer.exec('BEGIN IMMEDIATE');
      let result: T;
      try {
        result = await this.tx.run(true, fn);
      } catch (err) {
        if (this.writer.inTransaction) this.writer.exec('ROLLBACK');
        throw err;
      }
      this.writer.exec('COMMIT');
      return result;
    } finally {
      release();
    }
  }

  /** Standalone operations of one batch share one durable commit (see SqliteBatchCommit). */
  openBatchCommit(plan?: { recorder?: CommitRecorder }): BatchCommit {
    return new SqliteBatchCommit({ db: this.writer, lock: this.lock, tx: this.tx, maxHoldMs: this.batchCommitMs }, plan?.recorder);
  }

  /** Idempotency keys (sqlite-idempotency.ts), on the writer inside a transaction. */
  readonly idempotencyKeys: IdempotencyKeyStore = new SqliteIdempotencyKeys({
    write: (fn) => this.write(fn),
    readDb: () => this.readDb(),
    stmt: (db, sql) => this.stmt(db, sql),
  });

  async getRecord(key: RecordKey): Promise<StoredRecord | undefined> {
    const row = this.stmt(this.readDb(), 'SELECT * FROM records WHERE tenant = ? AND collection = ? AND id = ?').get(
      key.tenant,
      key.collection,
      key.id,
    ) as RecordRow | undefined;
    return row && toRecord(row);
  }

  async getRecords(keys: RecordKey[]): Promise<StoredRecord[]> {
    const found: StoredRecord[] = [];
    for (const key of keys) {
      const r = await this.getRecord(key);
      if (r) found.push(r);
    }
    return found;
  }

  async listRecords(tenant: string, collection: string, query: ListQuery): Promise<StoredRecord[]> {
    const params: unknown[] = [tenant, collection];
    let sql = 'SELECT * FROM records WHERE tenant = ? AND collection = ?';
    if (query.filter) {
      const f = compileSqliteFilter(query.filter);
      sql += ` AND (${f.sql})`;
      params.push(...f.params);
    }
    if (query.orderBy && query.orderBy.length > 0) {
      const o = compileSqliteOrderBy(query.orderBy);
      sql += ` ORDER BY ${o.sql}`;
      params.push(...o.params);
    } else {
      sql += ' ORDER BY seq';
    }
    sql += ' LIMIT ? OFFSET ?';
    params.push(query.top, query.skip);
    const rows = this.readDb().prepare(sql).all(...params) as RecordRow[];
    return rows.map(toRecord);
  }

  insertRecord(record: StoredRecord, maxObjects: number): Promise<InsertOutcome> {
    // Inside a transaction the statements run bare (the writer lock and synchronous code
    // mean nothing interleaves, and a failure rolls the whole transaction back); outside,
    // they are wrapped so that they commit together, with one sync.
    return this.write(() => (this.inTransaction() ? this.insertNow(record, maxObjects) : this.insertTx(record, maxObjects)));
  }

  /** Counts the record against the tenant's limit first, so a refused create changes nothing. */
  private insertNow(record: StoredRecord, maxObjects: number): InsertOutcome {
    const db = this.writer;
    const counted =
      maxObjects > 0
        ? this.stmt(db, 'UPDATE tenant_usage SET objects = objects + 1 WHERE tenant = ? AND objects < ?').run(record.tenant, maxObjects)
        : this.stmt(db, 'UPDATE tenant_usage SET objects = objects + 1 WHERE tenant = ?').run(record.tenant);
    if (counted.changes === 0) {
      const row = this.stmt(db, 'SELECT objects FROM tenant_usage WHERE tenant = ?').get(record.tenant);
      if (row) {
        // A taken id is 'exists' even at the limit: the caller (a PUT) then replaces it.
        const taken = this.stmt(db, 'SELECT 1 FROM records WHERE tenant = ? AND collection = ? AND id = ?').get(
          record.tenant,
          record.collection,
          record.id,
        );
        return taken ? 'exists' : 'limit';
      }
      this.stmt(db, 'INSERT INTO tenant_usage (tenant, objects) VALUES (?, 1)').run(record.tenant);
    }
    const inserted = this.stmt(
      db,
      `INSERT INTO records (${RECORD_COLUMNS})
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, collection, id) DO NOTHING`,
    ).run(...recordValues(record));
    if (inserted.changes === 0) {
      this.stmt(db, 'UPDATE tenant_usage SET objects = objects - 1 WHERE tenant = ?').run(record.tenant);
      return 'exists';
    }
    return 'inserted';
  }

  replaceRecord(record: StoredRecord, expectedEtag: string): Promise<boolean> {
    return this.write((db) => {
      const r = this.stmt(
        db,
        `UPDATE records SET data = ?, etag = ?, updated = ?, updated_by = ?
         WHERE tenant = ? AND collection = ? AND id = ? AND etag = ?`,
      ).run(...replaceValues(record, expectedEtag));
      return r.changes === 1;
    });
  }

  deleteRecord(key: RecordKey, expectedEtag: string): Promise<boolean> {
    return this.write(() => (this.inTransaction() ? this.deleteNow(key, expectedEtag) : this.deleteTx(key, expectedEtag)));
  }

  private deleteNow(key: RecordKey, expectedEtag: string): boolean {
    const db = this.writer;
    const r = this.stmt(db, 'DELETE FROM records WHERE tenant = ? AND collection = ? AND id = ? AND etag = ?').run(
      key.tenant,
      key.collection,
      key.id,
      expectedEtag,
    );
    if (r.changes !== 1) return false;
    this.stmt(db, 'UPDATE tenant_usage SET objects = objects - 1 WHERE tenant = ?').run(key.tenant);
    return true;
  }

  async countRecords(tenant: string): Promise<number> {
    const row = this.stmt(this.readDb(), 'SELECT objects FROM tenant_usage WHERE tenant = ?').get(tenant) as
      | { objects: number }
      | undefined;
    return row?.objects ?? 0;
  }

  putToken(token: TokenRecord): Promise<void> {
    return this.write((db) => {
      this.stmt(
        db,
        `INSERT INTO tokens (${TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (hash) DO UPDATE SET tenant = excluded.tenant, subject = excluded.subject, scopes = excluded.scopes,
           source = excluded.source`,
      ).run(...tokenValues(token));
    });
  }

  putFirstToken(token: TokenRecord): Promise<boolean> {
    // IMMEDIATE: the write lock first, so the check reads what another process has committed.
    return this.write((db) =>
      db
        .transaction(() => {
          if (this.stmt(db, 'SELECT 1 FROM tokens LIMIT 1').get() !== undefined) return false;
          this.stmt(db, `INSERT INTO tokens (${TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`).run(...tokenValues(token));
          return true;
        })
        .immediate(),
    );
  }

  async findToken(hash: string): Promise<TokenRecord | undefined> {
    const row = this.stmt(this.readDb(), 'SELECT hash, tenant, subject, scopes, created FROM tokens WHERE hash = ?').get(hash) as
      | { hash: string; tenant: string; subject: string; scopes: string; created: string }
      | undefined;
    return row && { ...row, scopes: row.scopes.split(',') as Scope[] };
  }

  async countTokens(): Promise<number> {
    return (this.stmt(this.readDb(), 'SELECT count(*) AS n FROM tokens').get() as { n: number }).n;
  }

  async listTokens(): Promise<TokenInfo[]> {
    const rows = this.stmt(
      this.readDb(),
      'SELECT id, tenant, subject, scopes, created, last_used, source FROM tokens ORDER BY created, id',
    ).all() as Array<{ id: string; tenant: string; subject: string; scopes: string; created: string; last_used: string | null; source: string }>;
    return rows.map((r) => ({
      id: r.id,
      tenant: r.tenant,
      subject: r.subject,
      scopes: r.scopes.split(',') as Scope[],
      created: r.created,
      lastUsed: r.last_used,
      source: r.source as TokenSource,
    }));
  }

  deleteToken(id: string): Promise<boolean> {
    return this.write((db) => this.stmt(db, 'DELETE FROM tokens WHERE id = ?').run(id).changes > 0);
  }

  touchTokens(uses: ReadonlyArray<{ hash: string; lastUsed: string }>): Promise<void> {
    if (uses.length === 0) return Promise.resolve();
    return this.write((db) => {
      const touch = this.stmt(db, 'UPDATE tokens SET last_used = ? WHERE hash = ? AND (last_used IS NULL OR last_used < ?)');
      const all = () => {
        for (const u of uses) touch.run(u.lastUsed, u.hash, u.lastUsed);
      };
      if (this.inTransaction()) all();
      else db.transaction(all)();
    });
  }

  async close(): Promise<void> {
    const release = await this.lock.acquire();
    try {
      if (this.reader !== this.writer) this.reader.close();
      this.writer.close();
    } finally {
      release();
    }
  }

  /** Inside a transaction reads see its own writes; outside they read the committed snapshot. */
  private readDb(): Db {
    return this.inTransaction() ? this.writer : this.reader;
  }

  private async write<T>(fn: (db: Db) => T): Promise<T> {
    if (this.inTransaction()) return fn(this.writer);
    const release = await this.lock.acquire();
    try {
      return fn(this.writer);
    } finally {
      release();
    }
  }

  private stmt(db: Db, sql: string): Database.Statement {
    let cache = this.statements.get(db);
    if (!cache) this.statements.set(db, (cache = new Map()));
    let s = cache.get(sql);
    if (!s) cache.set(sql, (s = db.prepare(sql)));
    return s;
  }
}

function migrate(db: Db): void {
  db.exec('CREATE TABLE IF NOT EXISTS omnibus_migrations (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)');
  const done = new Set(
    (db.prepare('SELECT version FROM omnibus_migrations').all() as Array<{ version: number }>).map((r) => r.version),
  );
  for (const m of MIGRATIONS) {
    if (done.has(m.version)) continue;
    db.transaction(() => {
      for (const sql of m.sqlite) db.exec(sql);
      db.prepare('INSERT INTO omnibus_migrations (version, applied) VALUES (?, ?)').run(m.version, new Date().toISOString());
    }).immediate();
  }
}

function toRecord(row: RecordRow): StoredRecord {
  return {
    tenant: row.tenant,
    collection: row.collection,
    id: row.id,
    data: JSON.parse(row.data) as Record<string, unknown>,
    etag: row.etag,
    created: row.created,
    updated: row.updated,
    createdBy: row.created_by,
    updatedBy: row.updated_by,
  };
}
