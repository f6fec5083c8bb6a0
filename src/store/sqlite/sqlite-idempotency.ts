import type Database from 'better-sqlite3';
import type { IdempotencyKeyStore, IdempotencyRow, StoredResponse } from '../idempotency-types.js';

type Db = Database.Database;

/** What the key table needs of the SQLite store: its writer (joining an open transaction), its reader, its statement cache. */
export interface SqliteKeyHost {
  /** Runs `fn` on the writer: inside the current transaction when there is one, else under the writer lock. */
  write<T>(fn: (db: Db) => T): Promise<T>;
  /** The connection reads go to: the committed snapshot outside a transaction. */
  readDb(): Db;
  stmt(db: Db, sql: string): Database.Statement;
}

const COLUMNS = 'fingerprint, owner, state, status, headers, body, lease_until, expires_at';

interface KeyRow {
  fingerprint: string;
  owner: string;
  state: 'running' | 'done';
  status: number | null;
  headers: string | null;
  body: Buffer | null;
  lease_until: number;
  expires_at: number;
}

/**
 * `put` in one statement: insert, or take over a row of the same owner or
 * one no longer live. Under SQLite's single writer nothing can come between.
 */
const PUT_SQL = `
INSERT INTO idempotency_keys (tenant, key, ${COLUMNS}, created)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (tenant, key) DO UPDATE SET
  fingerprint = excluded.fingerprint, owner = excluded.owner, state = excluded.state, status = excluded.status,
  headers = excluded.headers, body = excluded.body, lease_until = excluded.lease_until, expires_at = excluded.expires_at,
  created = excluded.created
WHERE idempotency_keys.owner = excluded.owner
   OR (idempotency_keys.state = 'done' AND idempotency_keys.expires_at <= ?)
   OR (idempotency_keys.state = 'running' AND (idempotency_keys.lease_until <= ? OR idempotency_keys.expires_at <= ?))`;

/** Idempotency keys on SQLite (table `idempotency_keys`, migration 5). */
export class SqliteIdempotencyKeys implements IdempotencyKeyStore {
  constructor(private readonly host: SqliteKeyHost) {}

  async find(tenant: string, key: string): Promise<IdempotencyRow | undefined> {
    const db = this.host.readDb();
    const row = this.host.stmt(db, `SELECT ${COLUMNS} FROM idempotency_keys WHERE tenant = ? AND key = ?`).get(tenant, key) as KeyRow | undefined;
    return row && toRow(row);
  }

  put(tenant: string, key: string, row: IdempotencyRow, now: number): Promise<boolean> {
    const r = row.response;
    return this.host.write(
      (db) =>
        this.host
          .stmt(db, PUT_SQL)
          .run(
            tenant,
            key,
            row.fingerprint,
            row.owner,
            row.state,
            r?.status ?? null,
            r ? JSON.stringify(r.headers) : null,
            r ? Buffer.from(r.body) : null,
            row.leaseUntil,
            row.expiresAt,
            now,
            now,
            now,
            now,
          ).changes === 1,
    );
  }

  complete(tenant: string, key: string, owner: string, response: StoredResponse, expiresAt: number): Promise<boolean> {
    return this.host.write(
      (db) =>
        this.host
          .stmt(
            db,
            `UPDATE idempotency_keys SET state = 'done', status = ?, headers = ?, body = ?, expires_at = ?
             WHERE tenant = ? AND key = ? AND owner = ?`,
          )
          .run(response.status, JSON.stringify(response.headers), Buffer.from(response.body), expiresAt, tenant, key, owner).changes === 1,
    );
  }

  renew(tenant: string, key: string, owner: string, leaseUntil: number): Promise<boolean> {
    return this.host.write(
      (db) =>
        this.host
          .stmt(db, `UPDATE idempotency_keys SET lease_until = ? WHERE tenant = ? AND key = ? AND owner = ? AND state = 'running'`)
          .run(leaseUntil, tenant, key, owner).changes === 1,
    );
  }

  sweep(now: number, limit: number): Promise<number> {
    return this.host.write(
      (db) =>
        this.host
          .stmt(db, 'DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys WHERE expires_at <= ? LIMIT ?)')
          .run(now, limit).changes,
    );
  }
}

function toRow(row: KeyRow): IdempotencyRow {
  return {
    fingerprint: row.fingerprint,
    owner: row.owner,
    state: row.state,
    response:
      row.state === 'done' && row.status !== null
        ? { status: row.status, headers: JSON.parse(row.headers ?? '{}') as Record<string, string>, body: new Uint8Array(row.body ?? Buffer.alloc(0)) }
        : undefined,
    leaseUntil: row.lease_until,
    expiresAt: row.expires_at,
  };
}
