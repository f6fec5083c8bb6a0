import pg from 'pg';
import { expect } from 'vitest';
import { DEFAULTS, type Config } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server.js';
import type { PostgresStoreOptions } from '../../src/store/postgres/postgres-store.js';
import type { Store } from '../../src/store/types.js';
import { PG_TEST_URL, POSTGRES_BACKEND, type BackendHandle } from './backends.js';
import { TOKEN_LIST, TOKENS } from './server.js';

/** A server on a PostgreSQL schema of its own, and the test's own client on that schema (to read what the server wrote). */
export interface PostgresServer {
  handle: BackendHandle;
  server: RunningServer;
  admin: pg.Client;
}

export interface PostgresServerOptions {
  /** Called with the store before the server starts (to wrap its methods). */
  watch?: (store: Store) => void;
  /** Store options over the defaults (`PostgresStore.open`). */
  store?: Partial<Omit<PostgresStoreOptions, 'url' | 'schema'>>;
}

/** Starts the server, with the default configuration, on a fresh schema. */
export async function startPostgresServer(options: PostgresServerOptions = {}): Promise<PostgresServer> {
  const handle = await POSTGRES_BACKEND.open({ postgres: options.store });
  let server: RunningServer | undefined;
  try {
    options.watch?.(handle.store);
    const config: Config = { ...DEFAULTS, port: 0, tokens: TOKEN_LIST, logLevel: 'silent' };
    server = await startServer(config, { store: handle.store });
    return { handle, server, admin: await schemaClient(handle.location) };
  } catch (err) {
    await server?.close();
    await handle.cleanup();
    throw err;
  }
}

/** A client of the test's own, connected with `location` (a test's schema) as its search path. */
export async function schemaClient(location: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: PG_TEST_URL });
  await client.connect();
  try {
    await client.query(`SET search_path TO "${location}"`);
  } catch (err) {
    await client.end();
    throw err;
  }
  return client;
}

export async function stopPostgresServer(s: PostgresServer | undefined): Promise<void> {
  await s?.admin.end();
  await s?.server.close();
  await s?.handle.cleanup();
}

/**
 * Counts the queries `pg` clients send while `fn` runs (a server's round
 * trips to PostgreSQL), those of `except` (a test's own client) left out.
 */
export async function countingSends<T>(except: pg.Client | undefined, fn: () => Promise<T>): Promise<{ result: T; sends: number }> {
  const original = pg.Client.prototype.query;
  let sends = 0;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    if (this !== except) sends++;
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof original;
  try {
    return { result: await fn(), sends };
  } finally {
    pg.Client.prototype.query = original;
  }
}

/** One operation of an `ops` batch (`POST /batch`). */
export interface OpsOperation {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
}

/** One operation's answer in an `ops` batch. */
export interface OpsAnswer {
  status: number;
  headers: Record<string, string>;
  body?: any;
}

/** Sends an `ops` batch as the acme tenant: its HTTP status and body text. */
export async function sendOpsBatch(server: RunningServer, requests: OpsOperation[]): Promise<{ status: number; text: string }> {
  const res = await fetch(`${server.url}/batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKENS.acme}`, 'content-type': 'application/json' },
    body: JSON.stringify({ requests }),
  });
  return { status: res.status, text: await res.text() };
}

/** Sends an `ops` batch that must answer 200: the operations' answers. */
export async function opsBatch(server: RunningServer, requests: OpsOperation[]): Promise<OpsAnswer[]> {
  const r = await sendOpsBatch(server, requests);
  expect(r.status, r.text.slice(0, 300)).toBe(200);
  return (JSON.parse(r.text) as { responses: OpsAnswer[] }).responses;
}
