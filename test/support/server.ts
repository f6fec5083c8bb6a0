import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS, type Config } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server.js';

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
  dir: string;
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

/** Starts a real server on 127.0.0.1 with a fresh SQLite file in a temp directory. */
export async function startTestServer(overrides: Partial<Config> = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'omnibus-test-'));
  const config: Config = {
    ...DEFAULTS,
    port: 0,
    sqlitePath: join(dir, 'omnibus.db'),
    tokens: TOKEN_LIST,
    ...overrides,
  };
  const server = await startServer(config);
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
    dir,
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
