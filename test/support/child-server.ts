/**
 * `omnibus serve` as a child process (through tsx, like a checkout runs it),
 * for tests that signal or kill the server: graceful shutdown, crashes.
 * Its stdout and stderr are collected; `waitFor` resolves when a line matches.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { PG_TEST_URL, withPgClient, type BackendName } from './backends.js';
import { TOKEN_LIST } from './server.js';

const ROOT = join(import.meta.dirname, '..', '..');

export interface ChildServer {
  child: ChildProcess;
  /** The server's base URL once it listens; rejects if it exits first. */
  url: Promise<string>;
  /** Resolves with the exit code (or the signal's name) once the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything it printed so far, stdout and stderr interleaved. */
  output(): string;
  /** Resolves once its output matches `pattern` (rejects if it exits first). */
  waitFor(pattern: RegExp): Promise<RegExpExecArray>;
}

/**
 * Starts `omnibus serve --port 0` with the test tokens and `env` (set
 * `OMNIBUS_DB` or `DATABASE_URL`; the parent's values of both are dropped).
 */
export function startChildServer(env: Record<string, string>): ChildServer {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, OMNIBUS_TOKENS: TOKEN_LIST, LOG_LEVEL: 'warn', ...env };
  if (!env['DATABASE_URL']) delete childEnv['DATABASE_URL'];
  if (!env['OMNIBUS_DB']) delete childEnv['OMNIBUS_DB'];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--port', '0'], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const watchers: Array<() => void> = [];
  const append = (d: string): void => {
    out += d;
    for (const w of [...watchers]) w();
  };
  // Decoded by the stream: a character split between two chunks stays whole.
  child.stdout!.setEncoding('utf8').on('data', append);
  child.stderr!.setEncoding('utf8').on('data', append);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const waitFor = (pattern: RegExp): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = pattern.exec(out);
        if (!m) return false;
        watchers.splice(watchers.indexOf(watch), 1);
        resolve(m);
        return true;
      };
      const watch = (): void => void check();
      watchers.push(watch);
      if (check()) return;
      void exited.then(({ code, signal }) => {
        if (!pattern.exec(out)) reject(new Error(`server exited (${code ?? signal}) before printing ${pattern}:\n${out}`));
      });
    });
  const url = waitFor(/listening on (http:\/\/[^\s"]+)/).then((m) => m[1]!);
  url.catch(() => {});
  return { child, url, exited, output: () => out, waitFor };
}

/** A fresh database for child servers, with direct SQL access for the checks afterwards. */
export interface ChildDatabase {
  backend: BackendName;
  /** `OMNIBUS_DB` or `DATABASE_URL`, for `startChildServer`. */
  env: Record<string, string>;
  /** Runs a read-only query on a connection of its own (SQLite: `?` parameters; PostgreSQL: `$1`). */
  query<T>(sql: string, params?: unknown[]): Promise<T[]>;
  cleanup(): Promise<void>;
}

/**
 * SQLite: a file in a new temp directory. PostgreSQL: a new database on the
 * test server (`PG_TEST_URL`), since the CLI takes no schema; dropped by cleanup.
 */
export async function childDatabase(backend: BackendName, purpose: string): Promise<ChildDatabase> {
  if (backend === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), `omnibus-${purpose}-`));
    const path = join(dir, 'omnibus.db');
    return {
      backend,
      env: { OMNIBUS_DB: path },
      async query<T>(sql: string, params: unknown[] = []) {
        const db = new Database(path, { readonly: true });
        try {
          return db.prepare(sql).all(...params) as T[];
        } finally {
          db.close();
        }
      },
      async cleanup() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const database = `omnibus_${purpose}_${randomBytes(5).toString('hex')}`;
  await withPgClient(PG_TEST_URL, (c) => c.query(`CREATE DATABASE ${database}`));
  const url = new URL(PG_TEST_URL);
  url.pathname = `/${database}`;
  return {
    backend,
    env: { DATABASE_URL: url.toString() },
    query: <T>(sql: string, params: unknown[] = []) => withPgClient(url.toString(), async (c) => (await c.query(sql, params)).rows as T[]),
    async cleanup() {
      await withPgClient(PG_TEST_URL, (c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
    },
  };
}
