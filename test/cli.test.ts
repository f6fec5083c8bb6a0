import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

/**
 * The CLI run from its TypeScript source (through tsx), exactly as `omnibus`
 * runs it once built; test/package.test.ts runs the built and packed `bin/`.
 */
const ROOT = join(import.meta.dirname, '..');
const CLI = ['--import', 'tsx', join(ROOT, 'src', 'cli.ts')];
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/** script(1) runs a command on a pseudo-terminal, so stdout.isTTY is true there. */
const HAS_SCRIPT = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
if (!HAS_SCRIPT) console.warn('\n*** cli.test.ts: script(1) not found, the terminal log test is SKIPPED ***\n');
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'omnibus-cli-'));
  dirs.push(d);
  return d;
}

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'info', ...extra };
  for (const k of ['OMNIBUS_TOKENS', 'DATABASE_URL', 'OMNIBUS_DB', 'PORT', 'HOST', 'LOG_FORMAT', 'OMNIBUS_CONFIG']) if (!(k in extra)) delete env[k];
  return env;
}

function run(args: string[], env: NodeJS.ProcessEnv = cleanEnv(), options: SpawnSyncOptions = {}) {
  const r = spawnSync(process.execPath, [...CLI, ...args], { env, encoding: 'utf8', cwd: ROOT, timeout: 100_000, ...options });
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** `run` without blocking, so that independent invocations overlap. */
function runAsync(args: string[], env: NodeJS.ProcessEnv = cleanEnv()): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...CLI, ...args], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Starts `omnibus serve` and resolves once it logged its URL (and anything before it). */
function serve(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [...CLI, 'serve', '--port', '0', ...args], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const ready = new Promise<{ url: string; out: () => string; err: () => string }>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/[^\s"]+)/.exec(out);
      if (m) resolve({ url: m[1]!, out: () => out, err: () => err });
    });
    child.on('exit', (code) => reject(new Error(`serve exited early (${code}): ${out}${err}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, ready, exited };
}

// Each test spawns several Node processes that load the sources through tsx: on a busy machine
// (CI beside other jobs) that takes far longer than an in-process test.
describe('omnibus CLI', { timeout: 120_000 }, () => {
  it('--version prints the package version; -v too', async () => {
    for (const r of await Promise.all(['--version', '-v'].map((flag) => runAsync([flag])))) {
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toBe(VERSION);
    }
  });

  it('--help on every command describes it with examples and exits 0', async () => {
    const commands = [[], ['serve'], ['token'], ['token', 'create'], ['token', 'list'], ['token', 'revoke']];
    const results = await Promise.all(commands.map((args) => runAsync([...args, '--help'])));
    results.forEach((r, i) => {
      const name = commands[i]!.join(' ');
      expect(r.status, name).toBe(0);
      expect(r.stdout, name).toContain('Usage: omnibus');
      expect(r.stdout, name).toMatch(/Examples:\n\s+\$ omnibus/);
    });
    expect(results[1]!.stdout).toContain('--database-url');
  });

  it('an unknown command or option exits 1 with commander\'s message', async () => {
    const [unknown, badPort] = await Promise.all([runAsync(['frobnicate']), runAsync(['serve', '--port', 'many'])]);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    expect(badPort.status).toBe(1);
    expect(badPort.stderr).toContain('must be a whole number');
  });

  it('token create prints a token once and stores only its hash', async () => {
    const dir = tempDir();
    const db = join(dir, 'o.db');
    const r = run(['token', 'create', '--tenant', 'acme', '--scopes', 'read,write', '--db', db]);
    expect(r.status).toBe(0);
    const token = r.stdout.trim();
    expect(token).toMatch(/^omb_[A-Za-z0-9_-]{20,}$/);
    expect(r.stderr).toMatch(/created token [0-9a-f]{12} for tenant acme/);
    const bytes = readdirSync(dir)
      .map((f) => readFileSync(join(dir, f)).toString('latin1'))
      .join('');
    expect(bytes).not.toContain(token);

    const server = serve(['--db', db], cleanEnv());
    const { url } = await server.ready;
    try {
      const ok = await fetch(`${url}/v1/books`, { headers: { authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
      const write = await fetch(`${url}/v1/books/x`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(write.status).toBe(201);
    } finally {
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    }
  });

  it('refuses an unknown scope with a clear message and exit code 1', () => {
    const r = run(['token', 'create', '--tenant', 'acme', '--scopes', 'fly', '--db', join(tempDir(), 'o.db')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('unknown scope "fly"');
  });

  it('token list shows id, tenant, subject, scopes, source, created and last used, never a token or its hash', () => {
    const db = join(tempDir(), 'o.db');
    const a = run(['token', 'create', '--tenant', 'acme', '--scopes', 'read', '--db', db]).stdout.trim();
    const b = run(['token', 'create', '--tenant', 'globex', '--scopes', 'read,admin', '--db', db]).stdout.trim();
    const table = run(['token', 'list', '--db', db]);
    expect(table.status).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+TENANT\s+SUBJECT\s+SCOPES\s+SOURCE\s+CREATED\s+LAST USED$/);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^[0-9a-f]{12}\s+acme\s+token:[0-9a-f]{12}\s+read\s+cli\s+\d{4}-\d\d-\d\dT\S+\s+never$/);
    expect(lines[2]).toMatch(/\sglobex\s.*\sread,admin\s+cli\s/);

    const json = JSON.parse(run(['token', 'list', '--json', '--tenant', 'globex', '--db', db]).stdout) as Array<Record<string, unknown>>;
    expect(json).toHaveLength(1);
    expect(Object.keys(json[0]!).sort()).toEqual(['created', 'id', 'lastUsed', 'scopes', 'source', 'subject', 'tenant']);
    expect(json[0]).toMatchObject({ tenant: 'globex', scopes: ['read', 'admin'], source: 'cli', lastUsed: null });

    const everything = table.stdout + JSON.stringify(json);
    for (const token of [a, b]) {
      expect(everything).not.toContain(token);
      expect(everything).not.toContain(createHashHex(token));
    }
  });

  it('token revoke <id> deletes the token: the server refuses it; an unknown id exits 1', async () => {
    const db = join(tempDir(), 'o.db');
    const keep = run(['token', 'create', '--tenant', 'acme', '--db', db]).stdout.trim();
    const gone = run(['token', 'create', '--tenant', 'acme', '--db', db]).stdout.trim();
    const id = (JSON.parse(run(['token', 'list', '--json', '--db', db]).stdout) as Array<{ id: string; subject: string }>).find(
      (t) => t.subject === `token:${createHashHex(gone).slice(0, 12)}`,
    )!.id;
    const r = run(['token', 'revoke', id, '--db', db]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`revoked token ${id} (tenant acme`);
    const again = run(['token', 'revoke', id, '--db', db]);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain(`no token with id "${id}"`);
    expect(JSON.parse(run(['token', 'list', '--json', '--db', db]).stdout)).toHaveLength(1);

    const server = serve(['--db', db], cleanEnv());
    const { url } = await server.ready;
    try {
      expect((await fetch(`${url}/v1/books`, { headers: { authorization: `Bearer ${gone}` } })).status).toBe(401);
      expect((await fetch(`${url}/v1/books`, { headers: { authorization: `Bearer ${keep}` } })).status).toBe(200);
    } finally {
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    }
  });

  it('first start with no tokens prints one admin token to stderr, framed, and nothing of it on stdout; it works', async () => {
    const dir = tempDir();
    const db = join(dir, 'nested', 'data', 'o.db');
    const first = serve(['--db', db], cleanEnv());
    const { url, out, err } = await first.ready;
    await new Promise((r) => setTimeout(r, 100)); // stderr and stdout are separate pipes
    const token = /^\s+(omb_\S+)$/m.exec(err())?.[1];
    expect(token).toBeDefined();
    expect(err()).toMatch(/={40,}\n.*admin token for tenant "default"[\s\S]*omb_\S+[\s\S]*={40,}/);
    expect(out()).not.toContain('omb_');
    const put = await fetch(`${url}/v1/notes/n1`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{"t":"hello"}',
    });
    expect(put.status).toBe(201);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = serve(['--db', db], cleanEnv());
    const again = await second.ready;
    try {
      expect(again.out() + again.err()).not.toContain('omb_');
      const got = await fetch(`${again.url}/v1/notes/n1`, { headers: { authorization: `Bearer ${token}` } });
      expect(((await got.json()) as any).t).toBe('hello');
    } finally {
      second.child.kill('SIGINT');
      expect(await second.exited).toBe(0);
    }
  });

  it('logs JSON lines when stdout is not a terminal, the listening line once; LOG_FORMAT=pretty forces readable lines', async () => {
    const db = join(tempDir(), 'o.db');
    const env = cleanEnv({ OMNIBUS_TOKENS: 't=acme:read' });
    const json = serve(['--db', db], env);
    const { url, out } = await json.ready;
    await fetch(`${url}/healthz`);
    json.child.kill('SIGTERM');
    expect(await json.exited).toBe(0);
    const lines = out().trim().split('\n');
    const parsed = lines.map((l) => JSON.parse(l) as { msg: string; level: number; url?: string });
    expect(parsed.filter((l) => /listening/.test(l.msg))).toHaveLength(1);
    expect(parsed.find((l) => /listening/.test(l.msg))).toMatchObject({ level: 30, url, msg: `listening on ${url} (sqlite)` });
    expect(parsed.some((l) => l.msg === 'request')).toBe(true);

    const pretty = serve(['--db', db], { ...env, LOG_FORMAT: 'pretty' });
    const p = await pretty.ready;
    pretty.child.kill('SIGTERM');
    expect(await pretty.exited).toBe(0);
    const first = p.out().trim().split('\n')[0]!;
    expect(first).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: listening on http:\/\/127\.0\.0\.1:\d+ \(sqlite\)/);
    expect(() => JSON.parse(first)).toThrow();
    expect(p.out().match(/listening on/g)).toHaveLength(1);
  });

  it.runIf(HAS_SCRIPT)('on a terminal (a pty from script(1)) logs coloured, readable lines, not JSON', async () => {
    const db = join(tempDir(), 'o.db');
    const command = [process.execPath, ...CLI, 'serve', '--port', '0', '--db', db].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], { env: cleanEnv({ OMNIBUS_TOKENS: 't=acme:read' }), cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const listening = new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (/listening on/.test(out)) resolve();
      });
    });
    await listening;
    const line = out.split(/\r?\n/).find((l) => /listening on/.test(l))!;
    const closed = new Promise((resolve) => child.on('close', resolve));
    child.kill('SIGTERM');
    await closed;
    expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] \u001b\[32mINFO\u001b\[39m: .*listening on http:\/\/127\.0\.0\.1:\d+ \(sqlite\)/);
    expect(line).not.toMatch(/^\{/);
  });

  it('prints the listening line once even when LOG_LEVEL hides info lines', async () => {
    const server = serve(['--db', join(tempDir(), 'o.db')], cleanEnv({ OMNIBUS_TOKENS: 't=acme:read', LOG_LEVEL: 'warn' }));
    const { url, out } = await server.ready;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(out()).toBe(`omnibus: listening on ${url} (sqlite)\n`);
  });

  it('refuses LOG_FORMAT other than json or pretty', () => {
    const r = run(['serve', '--db', join(tempDir(), 'o.db')], cleanEnv({ LOG_FORMAT: 'xml' }));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('LOG_FORMAT must be json or pretty');
  });

  it('graceful shutdown lets an in-flight batch finish', async () => {
    const dir = tempDir();
    const server = serve(['--db', join(dir, 'o.db')], cleanEnv({ OMNIBUS_TOKENS: 't=acme:read,write', LOG_LEVEL: 'info' }));
    const { url } = await server.ready;
    const requests = Array.from({ length: 100 }, (_, i) => ({ method: 'PUT', path: `/v1/g/${i}`, body: { i } }));
    const inFlight = fetch(`${url}/batch`, {
      method: 'POST',
      headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
      body: JSON.stringify({ requests }),
    });
    await new Promise((r) => setTimeout(r, 5));
    server.child.kill('SIGTERM');
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).responses).toHaveLength(100);
    expect(await server.exited).toBe(0);
  });

  it('refuses invalid configuration with a message naming the variable', () => {
    const r = run(['serve', '--db', join(tempDir(), 'o.db')], cleanEnv({ OMNIBUS_MAX_OPS: 'lots' }));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('OMNIBUS_MAX_OPS');
  });
});

function createHashHex(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
