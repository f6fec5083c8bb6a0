import { describe, beforeAll } from 'vitest';
import { DEFAULTS, type Config } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { enabledBackends, SQLITE_BACKEND, type Backend } from './backends.js';

let currentBackend: Backend = SQLITE_BACKEND;
const enabled = await enabledBackends();

/**
 * Runs a suite once per enabled backend (SQLite always; PostgreSQL when
 * reachable, and always under CI=true). Servers started inside it with
 * `startTestServer` use that backend.
 */
export function describeEachBackend(name: string, fn: (backend: Backend) => void): void {
  describe.each(enabled)(`${name} on $name`, (backend) => {
    beforeAll(() => {
      currentBackend = backend;
    });
    fn(backend);
  });
}

/** Tokens every test server knows. */
export const TOKENS = {
  acme: 'acme-rw-token',
  acmeRead: 'acme-ro-token',
  acmeAdmin: 'acme-admin-token',
  globex: 'globex-rw-token',
} as const;

export const TOKEN_LIST = [
  `${TOKENS.acme}=acme:read,write`,
  `${TOKENS.acmeRead}=acme:read`,
  `${TOKENS.acmeAdmin}=acme:admin`,
  `${TOKENS.globex}=globex:read,write`,
].join(';');

export interface TestServer extends RunningServer {
  /** fetch against the server with the acme read/write token unless `token` says otherwise (null: no token). */
  call(method: string, path: string, init?: CallInit): Promise<CallResult>;
  backend: Backend['name'];
}

export interface CallInit {
  token?: string | null;
  headers?: Record<string, string>;
  json?: unknown;
  body?: string;
}

export interface CallResult {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

/**
 * Starts a real server on 127.0.0.1 on a fresh database of the current
 * backend (a new SQLite file, or a new PostgreSQL schema).
 */
export async function startTestServer(overrides: Partial<Config> = {}, backend: Backend = currentBackend): Promise<TestServer> {
  const handle = await backend.open();
  const config: Config = {
    ...DEFAULTS,
    port: 0,
    tokens: TOKEN_LIST,
    ...overrides,
  };
  const server = await startServer(config, { store: handle.store });
  const call = async (method: string, path: string, init: CallInit = {}): Promise<CallResult> => {
    const headers: Record<string, string> = { ...init.headers };
    const token = init.token === undefined ? TOKENS.acme : init.token;
    if (token !== null) headers['authorization'] = `Bearer ${token}`;
    let body: string | undefined = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(server.url + path, { method, headers, body });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  };
  return {
    ...server,
    call,
    backend: backend.name,
    async close() {
      await server.close();
      await handle.cleanup();
    },
  };
}
