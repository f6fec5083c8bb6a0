/**
 * Real store backends for tests: every test that should hold for SQLite and
 * PostgreSQL alike iterates over `BACKENDS`.
 *
 * - SQLite: a fresh database file in a new temp directory, removed by cleanup.
 * - PostgreSQL: `OMNIBUS_TEST_DATABASE_URL`, by default
 *   `postgres://postgres@127.0.0.1:5432/test` (trust auth), in a fresh schema
 *   `omnibus_test_<random>` per `open()`, dropped with CASCADE by cleanup.
 *
 * When PostgreSQL is unreachable, its tests are skipped with a loud warning,
 * except when `CI=true`: then they run and fail in `open()` (call it in
 * `beforeAll`), so a broken CI database never passes silently.
 *
 * Typical use:
 *
 *   const enabled = await enabledBackends();            // top-level await
 *   describe.each(enabled)('$name store', (backend) => {
 *     let handle: BackendHandle;
 *     beforeAll(async () => { handle = await backend.open(); });
 *     afterAll(async () => { await handle?.cleanup(); });
 *     it('...', async () => { await handle.store.getRecord(...) });
 *   });
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { PostgresStore, type PostgresStoreOptions } from '../../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/types.js';

export type BackendName = 'sqlite' | 'postgres';

export const PG_TEST_URL = process.env['OMNIBUS_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface BackendHandle {
  name: BackendName;
  /** The store under test, on a fresh, empty, migrated database. */
  store: Store;
  /** Where the data lives: the SQLite file path, or the PostgreSQL schema name. */
  location: string;
  /**
   * Opens another store on the same database (same SQLite file / same
   * PostgreSQL schema), like a second server process: it runs the migrations
   * again. Closed by `cleanup()`.
   */
  openSibling(): Promise<Store>;
  /** Versions recorded in `omnibus_migrations`, ascending (read with a separate connection). */
  migrationVersions(): Promise<number[]>;
  /** Closes every store opened through this handle and deletes the database (file / schema). */
  cleanup(): Promise<void>;
}

export interface Backend {
  name: BackendName;
  /**
   * A fresh database for one test file (or one `describe`). For PostgreSQL,
   * `options` are passed to `PostgresStore.open` (url and schema are set here).
   * Throws when the backend is unreachable.
   */
  open(options?: { postgres?: Partial<Omit<PostgresStoreOptions, 'url' | 'schema'>> }): Promise<BackendHandle>;
}

export const SQLITE_BACKEND: Backend = {
  name: 'sqlite',
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'omnibus-store-'));
    const path = join(dir, 'omnibus.db');
    const stores: Store[] = [];
    const openOne = (): Store => {
      const store = new SqliteStore({ path });
      stores.push(store);
      return store;
    };
    return {
      name: 'sqlite',
      store: openOne(),
      location: path,
      openSibling: async () => openOne(),
      async migrationVersions() {
        const db = new Database(path, { readonly: true });
        try {
          return (db.prepare('SELECT version FROM omnibus_migrations ORDER BY version').all() as Array<{ version: number }>).map(
            (r) => r.version,
          );
        } finally {
          db.close();
        }
      },
      async cleanup() {
        for (const store of stores.splice(0)) await store.close().catch(() => {});
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

export const POSTGRES_BACKEND: Backend = {
  name: 'postgres',
  async open(options = {}) {
    if (!(await pgAvailable())) {
      throw new Error(`PostgreSQL is unreachable at ${redact(PG_TEST_URL)} (required because CI=true).`);
    }
    const schema = `omnibus_test_${randomBytes(6).toString('hex')}`;
    const stores: Store[] = [];
    const openOne = async (): Promise<Store> => {
      const store = await PostgresStore.open({ ...options.postgres, url: PG_TEST_URL, schema });
      stores.push(store);
      return store;
    };
    const withAdmin = <T>(fn: (client: pg.Client) => Promise<T>): Promise<T> => withPgClient(PG_TEST_URL, fn);
    let store: Store;
    try {
      store = await openOne();
    } catch (err) {
      await withAdmin((c) => c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)).catch(() => {});
      throw err;
    }
    return {
      name: 'postgres',
      store,
      location: schema,
      openSibling: openOne,
      migrationVersions: () =>
        withAdmin(async (c) =>
          (await c.query<{ version: number }>(`SELECT version FROM "${schema}".omnibus_migrations ORDER BY version`)).rows.map(
            (r) => r.version,
          ),
        ),
      async cleanup() {
        for (const s of stores.splice(0)) await s.close().catch(() => {});
        await withAdmin((c) => c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
      },
    };
  },
};

export const BACKENDS: Backend[] = [SQLITE_BACKEND, POSTGRES_BACKEND];

/** Runs `fn` on a short-lived client of its own (for test set-up: schemas, databases, killing connections). */
export async function withPgClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

let probe: Promise<boolean> | undefined;

/** Whether the test PostgreSQL answers `SELECT 1` (probed once per test file, 3 s timeout). */
export function pgAvailable(): Promise<boolean> {
  probe ??= (async () => {
    const client = new pg.Client({ connectionString: PG_TEST_URL, connectionTimeoutMillis: 3000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return probe;
}

export function isCI(): boolean {
  return process.env['CI'] === 'true';
}

/**
 * Whether tests for `backend` should run. PostgreSQL unreachable: false with
 * a warning, but true under CI=true so that `open()` fails the suite.
 */
export async function backendEnabled(backend: Backend): Promise<boolean> {
  if (backend.name !== 'postgres' || (await pgAvailable()) || isCI()) return true;
  console.warn(
    `\n*** PostgreSQL tests SKIPPED: PostgreSQL unreachable at ${redact(PG_TEST_URL)}. ` +
      'Start it (or set OMNIBUS_TEST_DATABASE_URL); with CI=true these tests fail instead. ***\n',
  );
  return false;
}

/** `BACKENDS` minus the ones `backendEnabled` rules out (warns once per skipped backend). */
export async function enabledBackends(): Promise<Backend[]> {
  const enabled: Backend[] = [];
  for (const backend of BACKENDS) if (await backendEnabled(backend)) enabled.push(backend);
  return enabled;
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
