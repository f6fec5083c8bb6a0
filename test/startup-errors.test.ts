import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, loadConfig } from '../src/config.js';
import { startServer } from '../src/server.js';
import { StartupError } from '../src/startup-error.js';
import { openStore } from '../src/store/open.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { isCI, pgAvailable, PG_TEST_URL } from './support/backends.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = ['--import', 'tsx', join(ROOT, 'src', 'cli.ts')];
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'omnibus-start-'));
  dirs.push(d);
  return d;
}

/** Runs the CLI (from source) and collects its exit code and output. */
function cli(args: string[], env: Record<string, string> = {}, options: { uid?: number; gid?: number } = {}) {
  const base: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn', ...env };
  for (const k of ['OMNIBUS_TOKENS', 'DATABASE_URL', 'OMNIBUS_DB', 'PORT', 'HOST', 'OMNIBUS_CONFIG']) if (!(k in env)) delete base[k];
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [...CLI, ...args], { env: base, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

async function startupError(promise: Promise<unknown>): Promise<StartupError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StartupError);
  return err as StartupError;
}

const isRoot = process.getuid?.() === 0;
/** PostgreSQL cases run when it is reachable, and always under CI=true (where it must be). */
const withPostgres = (await pgAvailable()) || isCI();
/** Root writes through any mode bits, so the unwritable cases run as `nobody` then. */
const NOBODY = { uid: 65534, gid: 65534 };
/**
 * Running as `nobody` needs a checkout that `nobody` can read: not one under
 * a directory only its owner may enter (`/root`, a `mktemp -d` directory),
 * where the CLI cannot even load its modules. Such a checkout skips the
 * unwritable cases, loudly, outside CI; under CI=true they fail, saying why.
 */
const nobodyReadsCheckout =
  !isRoot || spawnSync(process.execPath, ['-e', 'require("node:fs").accessSync(process.argv[1], 5)', ROOT], { ...NOBODY, cwd: tmpdir(), stdio: 'ignore' }).status === 0;
const NOBODY_CANNOT_READ = `uid 65534 cannot read this checkout (${ROOT}): a directory above it is closed to other users`;
const skipUnwritable = !nobodyReadsCheckout && !isCI();
if (skipUnwritable) {
  console.warn(`*** the unwritable data directory cases are SKIPPED: ${NOBODY_CANNOT_READ}; clone under a directory others may enter (such as /tmp or /srv) to run them ***`);
}

describe('startup errors name what failed and what to check', { timeout: 120_000 }, () => {
  it('PostgreSQL unreachable: exit 1, the address, the code, a hint and DATABASE_URL with its password masked', async () => {
    const r = await cli(['serve'], { DATABASE_URL: 'postgres://omnibus:s3cret@127.0.0.1:5999/x' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      'omnibus: cannot reach PostgreSQL at 127.0.0.1:5999 (ECONNREFUSED): is it running? DATABASE_URL=postgres://omnibus:***@127.0.0.1:5999/x\n',
    );
    expect(r.stderr + r.stdout).not.toContain('s3cret');
  });

  it.runIf(withPostgres)('PostgreSQL without that database: says so and how to fix it', async () => {
    const url = new URL(PG_TEST_URL);
    url.pathname = '/omnibus_no_such_database';
    const err = await startupError(openStore({ databaseUrl: url.toString(), sqlitePath: 'unused' }));
    expect(err.message).toMatch(/^PostgreSQL at 127\.0\.0\.1:5432 has no such database \(3D000: .*omnibus_no_such_database.*\): create it/);
  });

  it('an unresolvable PostgreSQL host: says the host name does not resolve', async () => {
    const err = await startupError(openStore({ databaseUrl: 'postgresql://u:p@no-such-host.invalid:5432/x', sqlitePath: 'unused' }));
    expect(err.message).toMatch(/^cannot reach PostgreSQL at no-such-host\.invalid:5432 \((ENOTFOUND|EAI_AGAIN): the host name does not resolve\)/);
    expect(err.message).toContain('DATABASE_URL=postgresql://u:***@no-such-host.invalid:5432/x');
  });

  it('the port in use: port N is in use: set PORT; the store is closed again', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    const dir = tempDir();
    try {
      const err = await startupError(startServer({ ...DEFAULTS, port, sqlitePath: join(dir, 'o.db'), tokens: 't=acme:read' }));
      expect(err.message).toBe(`port ${port} is in use: set PORT (or --port) to a free port, or stop the process that holds it`);
      // The store was closed: another one opens the file and writes at once.
      const store = new SqliteStore({ path: join(dir, 'o.db') });
      await store.putToken({ hash: 'h', tenant: 'acme', subject: 's', scopes: ['read'], created: 'now' });
      await store.close();
    } finally {
      blocker.close();
    }
  });

  it('a SQLite path through a regular file: found at start, before anything is written', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'file'), 'x');
    const path = join(dir, 'file', 'data', 'o.db');
    const err = await startupError(openStore({ sqlitePath: path }));
    expect(err.message).toBe(
      `cannot open the SQLite database ${path}: ${join(dir, 'file', 'data')} cannot be created: part of that path is a file, not a directory (set OMNIBUS_DB)`,
    );
  });

  it('a SQLite path that is a directory: says so', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'o.db'));
    const err = await startupError(openStore({ sqlitePath: join(dir, 'o.db') }));
    expect(err.message).toContain('that path is a directory, not a file');
  });

  it('a file that is not an SQLite database: names the file and the driver code', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'o.db'), 'this is not a database, just text that is long enough to fill a header page'.repeat(20));
    const err = await startupError(openStore({ sqlitePath: join(dir, 'o.db') }));
    expect(err.message).toMatch(new RegExp(`^cannot open the SQLite database ${join(dir, 'o.db')}: .*\\(SQLITE_NOTADB\\): it is not an SQLite database`));
  });

  describe.skipIf(skipUnwritable)(`an unwritable data directory or file (${isRoot ? 'as uid 65534, since this runs as root' : 'chmod'})`, () => {
    const user = isRoot ? NOBODY : {};
    const uid = isRoot ? 65534 : process.getuid?.();
    beforeAll(() => {
      if (!nobodyReadsCheckout) throw new Error(NOBODY_CANNOT_READ);
    });

    it('a directory the server cannot write: exit 1 at start with the directory and the uid, nothing created', async () => {
      const dir = tempDir();
      chmodSync(dir, 0o755); // readable by anyone, writable by its owner only
      const data = join(dir, 'data');
      mkdirSync(data);
      chmodSync(data, isRoot ? 0o755 : 0o555);
      const r = await cli(['serve', '--port', '0', '--db', join(data, 'omnibus.db')], {}, user);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(
        `omnibus: cannot open the SQLite database ${join(data, 'omnibus.db')}: the directory is not writable by uid ${uid} ` +
          `(${data}: fix its owner or mode, or set OMNIBUS_DB to a path this user can write)\n`,
      );
      expect(existsSync(join(data, 'omnibus.db'))).toBe(false);
      chmodSync(data, 0o755);
    });

    it('a database file the server cannot write (made by another user): exit 1 at start, not a 500 at the first write', async () => {
      const dir = tempDir();
      chmodSync(dir, 0o777);
      const path = join(dir, 'omnibus.db');
      const store = new SqliteStore({ path });
      await store.close();
      chmodSync(path, 0o444);
      const r = await cli(['serve', '--port', '0', '--db', path], {}, user);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`omnibus: cannot open the SQLite database ${path}: the file is not writable by uid ${uid}`);
    });

    it('a directory that cannot be created: names it', async () => {
      const dir = tempDir();
      chmodSync(dir, isRoot ? 0o755 : 0o555);
      const path = join(dir, 'sub', 'omnibus.db');
      const r = await cli(['token', 'list', '--db', path], {}, user);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`cannot open the SQLite database ${path}: the directory ${join(dir, 'sub')} cannot be created by uid ${uid}`);
      chmodSync(dir, 0o755);
    });
  });
});

describe('DATABASE_URL', { timeout: 120_000 }, () => {
  it('is refused, with the accepted forms, for another scheme or a non-URL: exit 1, the password masked', async () => {
    const [mysql, text] = await Promise.all([
      cli(['serve'], { DATABASE_URL: 'mysql://root:hunter2@127.0.0.1/x' }),
      cli(['token', 'list'], { DATABASE_URL: 'not a url' }),
    ]);
    expect(mysql.status).toBe(1);
    expect(mysql.stderr).toContain('omnibus: DATABASE_URL=mysql://root:***@127.0.0.1/x cannot be used: the scheme "mysql:" is not supported. Use one of:');
    expect(mysql.stderr).toContain('postgres://user:password@host:5432/database');
    expect(mysql.stderr).toContain('sqlite:./path/to/file.db');
    expect(mysql.stderr).not.toContain('hunter2');
    expect(text.status).toBe(1);
    expect(text.stderr).toContain('DATABASE_URL=not a url cannot be used: it is not a URL');
  });

  it('accepts postgres:, postgresql:, sqlite: and file: URLs, and unset', () => {
    for (const url of ['postgres://u@h/db', 'postgresql://u:p@h:5433/db?sslmode=require', 'sqlite:./x.db', 'file:/tmp/x.db', undefined]) {
      expect(() => loadConfig({ DATABASE_URL: url })).not.toThrow();
    }
    expect(loadConfig({ DATABASE_URL: 'sqlite:./some/where.db' }).sqlitePath).toBe('./some/where.db');
    for (const url of ['mysql://h/x', 'redis://h', 'not a url', 'postgres:/h/db', 'SQLITE:x.db', 'sqlite:']) {
      expect(() => loadConfig({ DATABASE_URL: url }), url).toThrow(ConfigError);
    }
  });

  it('the --database-url flag is checked the same way', async () => {
    const r = await cli(['token', 'list', '--database-url', 'mongodb://h/x']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('DATABASE_URL=mongodb://h/x cannot be used: the scheme "mongodb:" is not supported');
  });
});
