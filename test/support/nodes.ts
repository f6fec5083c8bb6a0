/**
 * Several Omnibus servers in this process on ONE database (the same SQLite
 * file, the same PostgreSQL schema), like nodes of a cluster: each has its
 * own services (what runs, what is in flight), and on PostgreSQL its own
 * store and pool; and a store whose writes to one collection wait at a gate,
 * to hold a request in the middle of its work.
 */
import { DEFAULTS, type Config } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/types.js';
import type { Backend, BackendHandle } from './backends.js';
import { TOKEN_LIST, TOKENS, type CallInit, type CallResult } from './server.js';

/** Writes to this collection wait while the gate is closed. */
export const GATED = 'gated';

export interface Gate {
  /** Closes the gate: writes to `gated` wait until `open()`. */
  close(): void;
  open(): void;
  /** Resolves once a write is waiting at the closed gate. */
  reached(): Promise<void>;
  /** Every write to `gated` takes `ms` longer (until `open()`), to make a request slow rather than stopped. */
  slow(ms: number): void;
}

/** The store, with writes to the `gated` collection held while its gate is closed. */
export function gatedStore(store: Store): { store: Store; gate: Gate } {
  let wait: Promise<void> = Promise.resolve();
  let release = (): void => {};
  let arrived: () => void = () => {};
  let arrival = new Promise<void>((resolve) => (arrived = resolve));
  let delayMs = 0;
  const gate: Gate = {
    slow(ms) {
      delayMs = ms;
    },
    close() {
      wait = new Promise<void>((resolve) => (release = resolve));
      arrival = new Promise<void>((resolve) => (arrived = resolve));
    },
    open() {
      release();
      wait = Promise.resolve();
      delayMs = 0;
    },
    reached: () => arrival,
  };
  const held = async (collection: string): Promise<void> => {
    if (collection !== GATED) return;
    arrived();
    await wait;
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  };
  const gated = new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      if (prop === 'insertRecord' || prop === 'replaceRecord') {
        return async (...args: unknown[]) => {
          await held((args[0] as { collection: string }).collection);
          return fn.apply(target, args);
        };
      }
      if (prop === 'deleteRecord') {
        return async (...args: unknown[]) => {
          await held((args[0] as { collection: string }).collection);
          return fn.apply(target, args);
        };
      }
      return fn.bind(target);
    },
  });
  return { store: gated, gate };
}

export interface TestNode {
  url: string;
  server: RunningServer;
  gate: Gate;
  call(method: string, path: string, init?: CallInit): Promise<CallResult>;
}

export interface TestCluster {
  nodes: TestNode[];
  handle: BackendHandle;
  close(): Promise<void>;
}

/**
 * `count` servers on one fresh database of `backend`, each on a gated store
 * of its own; `overrides.batchCommitMs` is given to those stores too.
 */
export async function startNodes(backend: Backend, count: number, overrides: Partial<Config> = {}): Promise<TestCluster> {
  const batchCommitMs = overrides.batchCommitMs;
  const handle = await backend.open(batchCommitMs === undefined ? {} : { postgres: { batchCommitMs } });
  const own: Store[] = [];
  // SQLite: the nodes share one store, as one process has one writer (two writers in one process
  // would wait for each other synchronously); PostgreSQL: a store, and a pool, each.
  let shared: Store | undefined;
  if (backend.name === 'sqlite') {
    shared = batchCommitMs === undefined ? handle.store : new SqliteStore({ path: handle.location, batchCommitMs });
    if (shared !== handle.store) own.push(shared);
  }
  const storeFor = async (i: number): Promise<Store> => shared ?? (i === 0 ? handle.store : handle.openSibling());
  const nodes: TestNode[] = [];
  for (let i = 0; i < count; i++) {
    const { store, gate } = gatedStore(await storeFor(i));
    const server = await startServer({ ...DEFAULTS, port: 0, tokens: TOKEN_LIST, ...overrides }, { store });
    nodes.push({ url: server.url, server, gate, call: caller(server.url) });
  }
  return {
    nodes,
    handle,
    async close() {
      for (const n of nodes) {
        n.gate.open();
        await n.server.close().catch(() => {});
      }
      for (const store of own) await store.close().catch(() => {});
      await handle.cleanup();
    },
  };
}

/** `call` as test/support/server.ts has it, against any base URL. */
export function caller(base: string): (method: string, path: string, init?: CallInit) => Promise<CallResult> {
  return async (method, path, init = {}) => {
    const headers: Record<string, string> = { ...init.headers };
    const token = init.token === undefined ? TOKENS.acme : init.token;
    if (token !== null) headers['authorization'] = `Bearer ${token}`;
    let body: string | undefined = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(base + path, { method, headers, body });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  };
}
