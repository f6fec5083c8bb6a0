/**
 * The resource every peer serves, written once and mounted by each framework: records in
 * collections, GET by id, POST create (server id), PUT replace with an optional If-Match
 * (412 on a mismatch, as Omnibus answers), a strong random ETag and Last-Modified on every
 * answer. Three stores behind one interface: an in-memory Map, SQLite on better-sqlite3 with
 * Omnibus's own settings (WAL, synchronous=FULL, busy_timeout=5000, the same `records` table),
 * and PostgreSQL through a `pg` pool (the same table, jsonb data).
 *
 * Each operation is what a handler in a plain app does: one statement, autocommitted.
 */
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

interface Row {
  id: string;
  data: Record<string, unknown>;
  etag: string;
  updated: string;
}

interface RowStore {
  get(tenant: string, collection: string, id: string): Promise<Row | undefined>;
  insert(tenant: string, collection: string, row: Row, by: string): Promise<void>;
  /** Replaces the row when its ETag is `ifMatch` (any ETag when undefined); false when it did not. */
  replace(tenant: string, collection: string, row: Row, ifMatch: string | undefined, by: string): Promise<'replaced' | 'created' | 'mismatch'>;
  close(): Promise<void>;
}

export type PeerStoreKind = 'map' | 'sqlite' | 'postgres';

const newEtag = () => randomBytes(12).toString('base64url');
const newId = () => randomBytes(10).toString('base64url');
const quoted = (etag: string) => `"${etag}"`;
const unquote = (v: string) => (v.startsWith('W/') ? v.slice(2) : v).replace(/^"|"$/g, '');

function problem(status: number, code: string, detail: string): Answer {
  return { status, headers: { 'content-type': 'application/problem+json' }, body: { status, code, detail } };
}

function represent(status: number, row: Row, extra: Record<string, string> = {}): Answer {
  return {
    status,
    headers: { 'content-type': 'application/json', etag: quoted(row.etag), 'last-modified': new Date(row.updated).toUTCString(), ...extra },
    body: { ...row.data, id: row.id },
  };
}

export class Resource {
  constructor(private readonly rows: RowStore) {}

  async get(tenant: string, collection: string, id: string): Promise<Answer> {
    const row = await this.rows.get(tenant, collection, id);
    return row ? represent(200, row) : problem(404, 'not_found', `No record ${id} in ${collection}.`);
  }

  async create(tenant: string, collection: string, body: unknown, by: string): Promise<Answer> {
    if (!isObject(body)) return problem(400, 'invalid_body', 'The body must be a JSON object.');
    const row: Row = { id: newId(), data: body, etag: newEtag(), updated: new Date().toISOString() };
    await this.rows.insert(tenant, collection, row, by);
    return represent(201, row, { location: `/v1/${collection}/${row.id}` });
  }

  async put(tenant: string, collection: string, id: string, body: unknown, ifMatch: string | undefined, by: string): Promise<Answer> {
    if (!isObject(body)) return problem(400, 'invalid_body', 'The body must be a JSON object.');
    const row: Row = { id, data: body, etag: newEtag(), updated: new Date().toISOString() };
    const outcome = await this.rows.replace(tenant, collection, row, ifMatch === undefined ? undefined : unquote(ifMatch), by);
    if (outcome === 'mismatch') return problem(412, 'precondition_failed', 'If-Match does not match the current ETag.');
    return represent(outcome === 'created' ? 201 : 200, row);
  }

  /** Not part of the measured workload: the client reads current ETags through it between rounds. */
  async etags(tenant: string, collection: string, ids: string[]): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const id of ids) {
      const row = await this.rows.get(tenant, collection, id);
      if (row) out[id] = quoted(row.etag);
    }
    return out;
  }

  close(): Promise<void> {
    return this.rows.close();
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export async function openResource(kind: PeerStoreKind, where: string): Promise<Resource> {
  if (kind === 'map') return new Resource(new MapRows());
  if (kind === 'sqlite') return new Resource(new SqliteRows(where));
  return new Resource(await PgRows.open(where));
}

class MapRows implements RowStore {
  private readonly rows = new Map<string, Row>();
  async get(t: string, c: string, id: string) {
    return this.rows.get(`${t}\n${c}\n${id}`);
  }
  async insert(t: string, c: string, row: Row) {
    this.rows.set(`${t}\n${c}\n${row.id}`, row);
  }
  async replace(t: string, c: string, row: Row, ifMatch: string | undefined) {
    const key = `${t}\n${c}\n${row.id}`;
    const old = this.rows.get(key);
    if (ifMatch !== undefined && old?.etag !== ifMatch) return 'mismatch' as const;
    this.rows.set(key, row);
    return old ? ('replaced' as const) : ('created' as const);
  }
  async close() {}
}

/** Omnibus's `records` table (src/store/migrations.ts, version 1) and its pragmas (src/store/sqlite/sqlite-store.ts). */
const SQLITE_SCHEMA = `CREATE TABLE IF NOT EXISTS records (
  seq INTEGER PRIMARY KEY,
  tenant TEXT NOT NULL, collection TEXT NOT NULL, id TEXT NOT NULL,
  data TEXT NOT NULL, etag TEXT NOT NULL,
  created TEXT NOT NULL, updated TEXT NOT NULL,
  created_by TEXT NOT NULL, updated_by TEXT NOT NULL,
  UNIQUE (tenant, collection, id))`;

class SqliteRows implements RowStore {
  private readonly db: Database.Database;
  private readonly select: Database.Statement;
  private readonly insertStmt: Database.Statement;
  private readonly update: Database.Statement;
  private readonly updateIf: Database.Statement;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(SQLITE_SCHEMA);
    this.select = this.db.prepare('SELECT id, data, etag, updated FROM records WHERE tenant = ? AND collection = ? AND id = ?');
    this.insertStmt = this.db.prepare(
      'INSERT INTO records (tenant, collection, id, data, etag, created, updated, created_by, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.update = this.db.prepare('UPDATE records SET data = ?, etag = ?, updated = ?, updated_by = ? WHERE tenant = ? AND collection = ? AND id = ?');
    this.updateIf = this.db.prepare(
      'UPDATE records SET data = ?, etag = ?, updated = ?, updated_by = ? WHERE tenant = ? AND collection = ? AND id = ? AND etag = ?',
    );
  }

  async get(t: string, c: string, id: string) {
    const r = this.select.get(t, c, id) as { id: string; data: string; etag: string; updated: string } | undefined;
    return r && { id: r.id, data: JSON.parse(r.data) as Record<string, unknown>, etag: r.etag, updated: r.updated };
  }

  async insert(t: string, c: string, row: Row, by: string) {
    this.insertStmt.run(t, c, row.id, JSON.stringify(row.data), row.etag, row.updated, row.updated, by, by);
  }

  async replace(t: string, c: string, row: Row, ifMatch: string | undefined, by: string) {
    const data = JSON.stringify(row.data);
    if (ifMatch !== undefined) {
      return this.updateIf.run(data, row.etag, row.updated, by, t, c, row.id, ifMatch).changes === 1 ? ('replaced' as const) : ('mismatch' as const);
    }
    if (this.update.run(data, row.etag, row.updated, by, t, c, row.id).changes === 1) return 'replaced' as const;
    this.insertStmt.run(t, c, row.id, data, row.etag, row.updated, row.updated, by, by);
    return 'created' as const;
  }

  async close() {
    this.db.close();
  }
}

/** Omnibus's PostgreSQL `records` table (src/store/migrations.ts, version 1). */
const PG_SCHEMA = `CREATE TABLE IF NOT EXISTS records (
  tenant text NOT NULL, collection text NOT NULL, id text NOT NULL,
  data jsonb NOT NULL, etag text NOT NULL,
  created text NOT NULL, updated text NOT NULL,
  created_by text NOT NULL, updated_by text NOT NULL,
  seq bigserial,
  PRIMARY KEY (tenant, collection, id))`;

class PgRows implements RowStore {
  private constructor(private readonly pool: pg.Pool) {}

  static async open(url: string): Promise<PgRows> {
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    await pool.query(PG_SCHEMA);
    return new PgRows(pool);
  }

  async get(t: string, c: string, id: string) {
    const r = await this.pool.query<Row>('SELECT id, data, etag, updated FROM records WHERE tenant = $1 AND collection = $2 AND id = $3', [t, c, id]);
    return r.rows[0];
  }

  async insert(t: string, c: string, row: Row, by: string) {
    await this.pool.query(
      'INSERT INTO records (tenant, collection, id, data, etag, created, updated, created_by, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $7)',
      [t, c, row.id, JSON.stringify(row.data), row.etag, row.updated, by],
    );
  }

  async replace(t: string, c: string, row: Row, ifMatch: string | undefined, by: string) {
    const data = JSON.stringify(row.data);
    if (ifMatch !== undefined) {
      const r = await this.pool.query(
        'UPDATE records SET data = $1, etag = $2, updated = $3, updated_by = $4 WHERE tenant = $5 AND collection = $6 AND id = $7 AND etag = $8',
        [data, row.etag, row.updated, by, t, c, row.id, ifMatch],
      );
      return r.rowCount === 1 ? ('replaced' as const) : ('mismatch' as const);
    }
    const r = await this.pool.query(
      `INSERT INTO records (tenant, collection, id, data, etag, created, updated, created_by, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $7)
       ON CONFLICT (tenant, collection, id) DO UPDATE SET data = EXCLUDED.data, etag = EXCLUDED.etag, updated = EXCLUDED.updated, updated_by = EXCLUDED.updated_by
       RETURNING (xmax = 0) AS inserted`,
      [t, c, row.id, data, row.etag, row.updated, by],
    );
    return (r.rows[0] as { inserted: boolean }).inserted ? ('created' as const) : ('replaced' as const);
  }

  async close() {
    await this.pool.end();
  }
}

/** The cheap bearer check every peer runs on every request and sub-request: one Map lookup. */
export function bearerCheck(tokens: string): (authorization: string | undefined) => { tenant: string; subject: string } | undefined {
  // Same syntax as OMNIBUS_TOKENS: token=tenant:scope,scope;...
  const byToken = new Map<string, { tenant: string; subject: string }>();
  for (const entry of tokens.split(';')) {
    const [token, rest] = entry.split('=');
    if (!token || !rest) continue;
    byToken.set(`Bearer ${token}`, { tenant: rest.split(':')[0]!, subject: token.slice(0, 8) });
  }
  return (authorization) => (authorization === undefined ? undefined : byToken.get(authorization));
}
