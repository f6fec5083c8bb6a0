import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '..', 'bin', 'omnibus.js');
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'omnibus-cli-'));
  dirs.push(d);
  return d;
}

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn', ...extra };
  for (const k of ['OMNIBUS_TOKENS', 'DATABASE_URL', 'OMNIBUS_DB', 'PORT']) if (!(k in extra)) delete env[k];
  return env;
}

/** Starts `omnibus serve` and resolves once it printed its URL (and anything before it). */
function serve(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const ready = new Promise<{ url: string; out: string }>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ url: m[1]!, out });
    });
    child.on('exit', (code) => reject(new Error(`serve exited early (${code}): ${out}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, ready, exited };
}

describe('omnibus CLI', () => {
  it('token create prints a token once and stores only its hash', async () => {
    const dir = tempDir();
    const db = join(dir, 'o.db');
    const r = spawnSync(process.execPath, [BIN, 'token', 'create', '--tenant', 'acme', '--scopes', 'read,write', '--db', db], {
      env: cleanEnv(),
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    const token = r.stdout.trim();
    expect(token).toMatch(/^omb_[A-Za-z0-9_-]{20,}$/);
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
    const r = spawnSync(process.execPath, [BIN, 'token', 'create', '--tenant', 'acme', '--scopes', 'fly', '--db', join(tempDir(), 'o.db')], {
      env: cleanEnv(),
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('unknown scope "fly"');
  });

  it('first start with no tokens creates one admin token for tenant default, prints it once, and it works', async () => {
    const dir = tempDir();
    const db = join(dir, 'nested', 'data', 'o.db');
    const first = serve(['--db', db], cleanEnv());
    const { url, out } = await first.ready;
    const token = /^\s+(omb_\S+)$/m.exec(out)?.[1];
    expect(token).toBeDefined();
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
      expect(again.out).not.toContain('omb_');
      const got = await fetch(`${again.url}/v1/notes/n1`, { headers: { authorization: `Bearer ${token}` } });
      expect(((await got.json()) as any).t).toBe('hello');
    } finally {
      second.child.kill('SIGINT');
      expect(await second.exited).toBe(0);
    }
  });

  it('graceful shutdown lets an in-flight batch finish', async () => {
    const dir = tempDir();
    const server = serve(['--db', join(dir, 'o.db')], cleanEnv({ OMNIBUS_TOKENS: 't=acme:read,write' }));
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
    const r = spawnSync(process.execPath, [BIN, 'serve', '--db', join(tempDir(), 'o.db')], {
      env: cleanEnv({ OMNIBUS_MAX_OPS: 'lots' }),
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('OMNIBUS_MAX_OPS');
  });
});
