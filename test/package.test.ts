import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The package as a user gets it: `npm pack` (which builds dist/ in `prepack`),
 * then `npm install --omit=dev <tarball>` into an empty project, which uses the
 * library and the `omnibus` command from there.
 *
 * The project is packed from a copy of this working tree, so that the build
 * never rewrites the dist/ of a tree someone is working in. Dependencies come
 * from the npm cache (`--prefer-offline`). better-sqlite3's native addon is
 * not compiled again (two minutes of C++): install scripts are skipped and the
 * addon this checkout already built for the same version is copied in.
 */
const ROOT = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };

let work: string;
let source: string;
let consumer: string;
let tarball: string;
let packedFiles: string[];

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // Nothing of the `npm test` that runs us (npm_config_*, npm_lifecycle_*) leaks into these npm calls.
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  for (const k of ['OMNIBUS_TOKENS', 'DATABASE_URL', 'OMNIBUS_DB', 'PORT', 'HOST', 'LOG_FORMAT', 'OMNIBUS_CONFIG']) delete clean[k];
  return { ...clean, LOG_LEVEL: 'info', ...extra };
}

function run(command: string, args: string[], cwd: string, extra: Record<string, string> = {}, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: env(extra), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

function must(r: Run, what: string): Run {
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

const SKIP = new Set(['node_modules', '.git', 'dist', '.tmp', 'data']);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'omnibus-pack-'));
  source = join(work, 'source');
  cpSync(ROOT, source, {
    recursive: true,
    filter: (from) => {
      const rel = relative(ROOT, from);
      const top = rel.split(/[\\/]/)[0] ?? '';
      return !SKIP.has(top) && !rel.endsWith('.tgz');
    },
  });
  symlinkSync(join(ROOT, 'node_modules'), join(source, 'node_modules'), 'dir');
  const packed = must(await run('npm', ['pack', '--json', '--pack-destination', work], source), 'npm pack');
  const info = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(work, basename(info[0]!.filename));
  packedFiles = info[0]!.files.map((f) => f.path);

  consumer = join(work, 'consumer');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  const hono = (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'hono', 'package.json'), 'utf8')) as { version: string }).version;
  must(
    await run(
      'npm',
      ['install', '--omit=dev', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock', tarball, `hono@${hono}`],
      consumer,
    ),
    'npm install of the tarball',
  );
  // The native addon: the one this checkout built, when the versions match; else build it.
  const version = (dir: string) => (JSON.parse(readFileSync(join(dir, 'better-sqlite3', 'package.json'), 'utf8')) as { version: string }).version;
  const ours = join(ROOT, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
  const theirs = join(consumer, 'node_modules');
  if (existsSync(ours) && version(join(ROOT, 'node_modules')) === version(theirs)) {
    mkdirSync(join(theirs, 'better-sqlite3', 'build', 'Release'), { recursive: true });
    cpSync(ours, join(theirs, 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'));
  } else {
    must(await run('npm', ['rebuild', 'better-sqlite3'], consumer, {}, 600_000), 'npm rebuild better-sqlite3');
  }
}, 900_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('contains dist/, bin/, README, LICENSE and package.json, and nothing of src/, test/, bench/ or CI', () => {
    for (const f of ['package.json', 'README.md', 'LICENSE', 'bin/omnibus.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli.js']) {
      expect(packedFiles, f).toContain(f);
    }
    const outside = packedFiles.filter((f) => !/^(dist|bin|docs)\//.test(f) && !['package.json', 'README.md', 'LICENSE'].includes(f));
    expect(outside).toEqual([]);
    expect(packedFiles.filter((f) => /\.test\.|^(src|test|bench|\.ci)\//.test(f))).toEqual([]);
  });

  it('installs with --omit=dev: no devDependency (tsx, typescript, vitest) arrives; hono is a peer dependency', () => {
    const modules = join(consumer, 'node_modules');
    for (const dev of ['tsx', 'typescript', 'vitest']) expect(existsSync(join(modules, dev)), dev).toBe(false);
    const installed = JSON.parse(readFileSync(join(modules, pkg.name, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
    expect(installed['peerDependencies']).toHaveProperty('hono');
    expect(installed['dependencies']).not.toHaveProperty('hono');
  });

  it('the library mounts on the user\'s own Hono app and runs a batch through app.request', async () => {
    writeFileSync(
      join(consumer, 'app.mjs'),
      `import { Hono } from 'hono';
import { omnibus, batchPrincipal } from 'omnibus';
const app = new Hono();
app.get('/hello/:name', (c) => c.json({ hi: c.req.param('name'), who: batchPrincipal(c.env)?.subject ?? null }));
app.route('/', omnibus({
  fetch: (req, env) => app.fetch(req, env),
  authenticate: (token) => (token === 'secret' ? { subject: 'me', tenant: 't', scopes: new Set(['read']) } : undefined),
}));
const res = await app.request('/batch', {
  method: 'POST',
  headers: { authorization: 'Bearer secret', 'content-type': 'application/json' },
  body: JSON.stringify({ requests: [{ method: 'GET', path: '/hello/world' }, { method: 'GET', path: '/hello/again' }] }),
});
console.log(JSON.stringify({ status: res.status, body: await res.json() }));
`,
    );
    const r = must(await run(process.execPath, ['app.mjs'], consumer), 'the consumer app');
    const out = JSON.parse(r.stdout) as { status: number; body: { responses: Array<{ status: number; body: unknown }> } };
    expect(out.status).toBe(200);
    expect(out.body.responses.map((x) => [x.status, x.body])).toEqual([
      [200, { hi: 'world', who: 'me' }],
      [200, { hi: 'again', who: 'me' }],
    ]);
  });

  it('omnibus/express and omnibus/fastify import without express or fastify installed, and run a batch once the user has them', async () => {
    const modules = join(consumer, 'node_modules');
    for (const peer of ['express', 'fastify']) expect(existsSync(join(modules, peer)), peer).toBe(false);
    const bare = must(
      await run(process.execPath, ['--input-type=module', '-e', "await import('omnibus/express'); await import('omnibus/fastify'); console.log('ok')"], consumer),
      'importing the adapters without their frameworks',
    );
    expect(bare.stdout.trim()).toBe('ok');
    // The user's own frameworks: this checkout's copies, linked in rather than installed again.
    for (const peer of ['express', 'fastify']) symlinkSync(join(ROOT, 'node_modules', peer), join(modules, peer), 'dir');
    writeFileSync(
      join(consumer, 'adapters.mjs'),
      `import express from 'express';
import Fastify from 'fastify';
import * as ex from 'omnibus/express';
import * as fy from 'omnibus/fastify';
const authenticate = (token) => (token === 'secret' ? { subject: 'me', tenant: 't', scopes: new Set(['read']) } : undefined);
const init = { method: 'POST', headers: { authorization: 'Bearer secret', 'content-type': 'application/json' }, body: JSON.stringify({ requests: [{ method: 'GET', path: '/hello/world' }] }) };
const app = express();
app.use(ex.omnibus({ authenticate }));
app.get('/hello/:name', (req, res) => res.json({ hi: req.params.name, who: ex.batchPrincipal()?.subject ?? null }));
const server = await new Promise((resolve) => { const s = app.listen(0, '127.0.0.1', () => resolve(s)); });
const viaExpress = await (await fetch('http://127.0.0.1:' + server.address().port + '/batch', init)).json();
server.close();
const f = Fastify();
await f.register(fy.omnibus, { authenticate });
f.get('/hello/:name', async (req) => ({ hi: req.params.name, who: fy.batchPrincipal()?.subject ?? null }));
const viaFastify = (await f.inject({ method: 'POST', url: '/batch', headers: init.headers, payload: init.body })).json();
await f.close();
console.log(JSON.stringify([viaExpress.responses[0].body, viaFastify.responses[0].body]));
`,
    );
    const r = must(await run(process.execPath, ['adapters.mjs'], consumer), 'the consumer app on Express and Fastify');
    expect(JSON.parse(r.stdout)).toEqual([{ hi: 'world', who: 'me' }, { hi: 'world', who: 'me' }]);
  });

  it('npx omnibus --version prints the version', async () => {
    const r = must(await run('npx', ['omnibus', '--version'], consumer), 'npx omnibus --version');
    expect(r.stdout.trim()).toBe(pkg.version);
    expect(r.stderr).not.toContain('tsx');
  });

  it('omnibus serve runs from the package until /healthz answers 200, and stops on SIGTERM', async () => {
    const child = spawn(join(consumer, 'node_modules', '.bin', 'omnibus'), ['serve', '--port', '0'], {
      cwd: consumer,
      env: env({ OMNIBUS_TOKENS: 'secret=acme:read,write' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /listening on (http:\/\/[^\s"]+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.on('exit', (code) => reject(new Error(`omnibus serve exited (${code}): ${out}`)));
      });
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
      const put = await fetch(`${url}/v1/books/1`, {
        method: 'PUT',
        headers: { authorization: 'Bearer secret', 'content-type': 'application/json' },
        body: '{"title":"Dune"}',
      });
      expect(put.status).toBe(201);
      expect(existsSync(join(consumer, 'data', 'omnibus.db'))).toBe(true);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('in a checkout, bin/ runs a current dist/, and the sources (with a note) once a source file is newer', async () => {
    const fresh = must(await run(process.execPath, ['bin/omnibus.js', '--version'], source), 'bin with a fresh build');
    expect(fresh.stdout.trim()).toBe(pkg.version);
    expect(fresh.stderr).toBe('');
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(source, 'src', 'cli.ts'), later, later);
    const stale = must(await run(process.execPath, ['bin/omnibus.js', '--version'], source), 'bin with a stale build');
    expect(stale.stdout.trim()).toBe(pkg.version);
    expect(stale.stderr).toContain('dist/ is older than src/cli.ts: running the sources through tsx');
  });
});
