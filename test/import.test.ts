import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../src/client/index.js';
import { startTestServer, TOKENS, type TestServer } from './support/server.js';

/**
 * `omnibus import`, run as users run it: the CLI from its sources (through
 * tsx) in a child process, against a real server on 127.0.0.1.
 */
const ROOT = join(import.meta.dirname, '..');
const CLI = ['--import', 'tsx', join(ROOT, 'src', 'cli.ts')];
const HAS_SCRIPT = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
if (!HAS_SCRIPT) console.warn('\n*** import.test.ts: script(1) not found, the progress bar test is SKIPPED ***\n');
const HAS_PROC = existsSync('/proc/self/status');
if (!HAS_PROC) console.warn('\n*** import.test.ts: no /proc, the bounded-memory test is SKIPPED ***\n');

const dirs: string[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'omnibus-import-'));
  dirs.push(d);
  return d;
}

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['OMNIBUS_TOKENS', 'OMNIBUS_TOKEN', 'OMNIBUS_URL', 'DATABASE_URL', 'OMNIBUS_DB', 'PORT', 'HOST', 'LOG_FORMAT', 'OMNIBUS_CONFIG']) delete e[k];
  return e;
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Peak resident memory of the child, from /proc (kB), when asked for. */
  peakKb: number;
  /** Its resident memory over time: [ms since start, kB]. */
  rss: [number, number][];
}

function cli(args: string[], options: { measure?: boolean; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const started = Date.now();
    const rss: [number, number][] = [];
    // Measured runs cap V8's old generation at 64 MiB: with its large default limit V8 lets garbage pile up for a
    // while (by how much depends on the machine's speed), and an import that kept its records could not run in it.
    const node = options.measure ? ['--max-old-space-size=64'] : [];
    const child = spawn(process.execPath, [...node, ...CLI, ...args], { env: env(), cwd: options.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stdout = '';
    let stderr = '';
    let peakKb = 0;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // VmHWM is the high-water mark of the resident set: polled while the child lives.
    const poll = options.measure
      ? setInterval(() => {
          try {
            const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
            const m = /VmHWM:\s+(\d+) kB/.exec(status);
            if (m) peakKb = Math.max(peakKb, Number(m[1]));
            const now = /VmRSS:\s+(\d+) kB/.exec(status);
            if (now) rss.push([Date.now() - started, Number(now[1])]);
          } catch {
            // exited between two polls
          }
        }, 25)
      : undefined;
    child.on('close', (status) => {
      clearInterval(poll);
      resolve({ status, stdout, stderr, peakKb, rss });
    });
  });
}

function ndjson(path: string, records: unknown[]): void {
  writeFileSync(path, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

async function all(url: string, collection: string): Promise<Record<string, unknown>[]> {
  const c = createClient({ baseUrl: url, token: TOKENS.acme });
  const out: Record<string, unknown>[] = [];
  for await (const item of c.items(`/v1/${collection}?$top=1000`)) out.push(item);
  return out;
}

/** Every `n` from 0 to count-1 exactly once, and every id different. */
function expectExactlyOnce(records: Record<string, unknown>[], count: number): void {
  expect(records).toHaveLength(count);
  expect(new Set(records.map((r) => r['id'])).size).toBe(count);
  const ns = records.map((r) => r['n'] as number).sort((a, b) => a - b);
  expect(ns).toEqual(Array.from({ length: count }, (_, i) => i));
}

describe('omnibus import', { timeout: 120_000 }, () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      collections: [{ name: 'checked', schema: { type: 'object', required: ['title'], properties: { title: { type: 'string' }, pages: { type: 'integer', minimum: 1 } } } }],
    });
  });
  afterAll(async () => {
    await server?.close();
  });
  const connection = () => ['--url', server.url, '--token', TOKENS.acme];

  it('imports NDJSON; a record the server refuses and a line that is not JSON go to the failures file, the rest of their batch is written', async () => {
    const dir = tempDir();
    const file = join(dir, 'books.ndjson');
    const lines = Array.from({ length: 250 }, (_, i) => JSON.stringify({ n: i, title: `Book ${i}`, pages: i + 1 }));
    lines[17] = JSON.stringify({ n: 17, title: 'no pages', pages: 0 }); // fails the schema (minimum 1)
    lines[120] = '{"n": 120, "title": '; // not JSON
    lines.splice(200, 0, ''); // a blank line is no record
    writeFileSync(file, lines.join('\n') + '\n');
    const r = await cli(['import', file, '--collection', 'checked', ...connection(), '--batch-size', '50', '--progress', 'none']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(2);
    expect(r.stdout).toMatch(/^imported 248 records into checked in \S+ \([\d,]+ records\/s\); 2 failed \(see .*books\.ndjson\.failures\.ndjson\)\n$/);
    // One line per failed record, in the order their batches finished.
    const failures = readFileSync(join(dir, 'books.ndjson.failures.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).sort((a, b) => a.number - b.number);
    expect(failures).toEqual([
      expect.objectContaining({ number: 18, line: 18, status: 422, code: 'validation_failed', record: { n: 17, title: 'no pages', pages: 0 } }),
      expect.objectContaining({ number: 121, line: 121, code: 'invalid_record', text: '{"n": 120, "title": ' }),
    ]);
    const stored = await all(server.url, 'checked');
    expect(stored.map((s) => s['n']).sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 250 }, (_, i) => i).filter((i) => i !== 17 && i !== 120));
    // Finished: no state is left to resume.
    expect(existsSync(join(dir, 'books.ndjson.import-state.json'))).toBe(false);
  });

  it('imports CSV (numbers and booleans typed, quoted newlines kept) and JSON arrays; --upsert-by writes each record at its own id', async () => {
    const dir = tempDir();
    const csv = join(dir, 'people.csv');
    writeFileSync(csv, '\ufeffemail,name,age,active,zip\r\nada@x.org,"Lovelace, Ada",36,true,01234\r\nbob@x.org,"Bob\nSmith",-1.5,false,\r\n');
    const csvRun = await cli(['import', csv, '-c', 'people', ...connection(), '--upsert-by', 'email']);
    expect(csvRun.status, csvRun.stderr).toBe(0);
    expect(csvRun.stdout).toMatch(/^imported 2 records into people/);
    expect((await server.call('GET', '/v1/people/ada%40x.org')).json).toEqual({ id: 'ada@x.org', email: 'ada@x.org', name: 'Lovelace, Ada', age: 36, active: true, zip: '01234' });
    expect((await server.call('GET', '/v1/people/bob%40x.org')).json).toMatchObject({ name: 'Bob\nSmith', age: -1.5, active: false, zip: '' });

    const json = join(dir, 'dump.json');
    writeFileSync(json, JSON.stringify(Array.from({ length: 130 }, (_, i) => ({ id: `k${i}`, n: i, nested: { s: ']},"[' } }))));
    for (let round = 0; round < 2; round++) {
      // Twice: PUT replaces, so the second import leaves the same 130 records.
      const r = await cli(['import', json, '-c', 'dumped', ...connection(), '--upsert-by', 'id', '--concurrency', '2']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^imported 130 records into dumped/);
    }
    const stored = await all(server.url, 'dumped');
    expectExactlyOnce(stored, 130);
    expect(stored.find((s) => s['id'] === 'k7')).toEqual({ id: 'k7', n: 7, nested: { s: ']},"[' }, _etag: expect.any(String), _updated: expect.any(String) });
  });

  it('refuses to start over an interrupted import without --resume, and says what to do', async () => {
    const dir = tempDir();
    const file = join(dir, 'x.ndjson');
    ndjson(file, [{ n: 0 }]);
    writeFileSync(
      join(dir, 'x.ndjson.import-state.json'),
      JSON.stringify({ version: 1, run: 'r', imported: 40, next: { batch: 1, at: { offset: 0, items: 0, lines: 0 } } }),
    );
    const r = await cli(['import', file, '-c', 'x', ...connection()]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('an earlier import of this file stopped after 40 records');
    expect(r.stderr).toContain('add --resume to continue it');
    const bad = await cli(['import', join(dir, 'x.txt'), '-c', 'x', ...connection()]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/cannot tell the format|ENOENT|no such file/);
  });

  it.runIf(HAS_SCRIPT)('on a terminal, draws a progress bar with records/s and ETA', async () => {
    const dir = tempDir();
    const file = join(dir, 'tty.ndjson');
    ndjson(file, Array.from({ length: 3000 }, (_, i) => ({ n: i })));
    const command = [process.execPath, ...CLI, 'import', file, '-c', 'tty', ...connection(), '--batch-size', '25', '--concurrency', '1'].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], { env: env(), cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const [code] = (await once(child, 'close')) as [number];
    expect(code, out).toBe(0);
    expect(out).toMatch(/import \S*[█░]+\S* \d+% \| [\d,]+ records \| [\d,]+ records\/s \| ETA \S+ \| 0 failed/);
    expect(out).toContain('100% | 3,000 records');
    expect(out).toContain('imported 3,000 records into tty');
  });

  it.runIf(HAS_PROC)('imports 100,000 records in bounded memory: the peak RSS barely exceeds that of a 1,000-record import', { timeout: 300_000 }, async () => {
    const dir = tempDir();
    const filler = 'x'.repeat(200);
    const write = async (path: string, count: number) => {
      const out = createWriteStream(path);
      for (let i = 0; i < count; i++) if (!out.write(`{"n":${i},"title":"Book ${i}","filler":"${filler}"}\n`)) await once(out, 'drain');
      out.end();
      await once(out, 'finish');
    };
    const small = join(dir, 'small.ndjson');
    const big = join(dir, 'big.ndjson');
    await write(small, 1000);
    await write(big, 100_000);
    const base = await cli(['import', small, '-c', 'memsmall', ...connection(), '--progress', 'none'], { measure: true });
    expect(base.status, base.stderr).toBe(0);
    const r = await cli(['import', big, '-c', 'membig', ...connection(), '--progress', 'lines'], { measure: true });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^imported 100,000 records into membig/);
    const fileMb = readFileSync(big).length / 1024 / 1024;
    const growthMb = (r.peakKb - base.peakKb) / 1024;
    // Steady state: memory in the second half of the import against its second quarter (start-up is over by then).
    const end = r.rss[r.rss.length - 1]![0];
    const maxIn = (from: number, to: number) => Math.max(...r.rss.filter(([t]) => t >= from * end && t <= to * end).map(([, kb]) => kb)) / 1024;
    const drift = maxIn(0.5, 1) - maxIn(0.25, 0.5);
    console.log(
      `import of 100,000 records (${fileMb.toFixed(0)} MiB): peak RSS ${(r.peakKb / 1024).toFixed(0)} MiB, ${growthMb.toFixed(0)} MiB above a 1,000-record import; ` +
        `second half ${drift.toFixed(0)} MiB above the second quarter`,
    );
    expect(base.peakKb).toBeGreaterThan(0);
    expect(r.rss.length).toBeGreaterThan(20);
    // Holding the file would cost its size as one string alone (~23 MiB), and more as 100,000 objects.
    expect(growthMb).toBeLessThan(fileMb);
    expect(drift).toBeLessThan(8);
    // Non-terminal progress: plain lines.
    expect(r.stderr).toMatch(/^import: [\d,]+ records \(\d+%\), [\d,]+ records\/s, ETA \S+, 0 failed$/m);
    expect((await server.call('GET', '/v1/membig?$top=1&$skip=99999')).json.items).toHaveLength(1);
  });
});

/**
 * The server is killed (SIGKILL) right after it committed a batch whose
 * answer never reached the CLI, while other batches are in flight; the
 * import stops; the server starts again on the same database, and
 * `--resume` finishes. Every record is there exactly once: the batch whose
 * answer was lost is sent again under its key and answered from the
 * server's idempotency record.
 */
describe('omnibus import --resume after the server is killed', { timeout: 180_000 }, () => {
  let proxy: Server | undefined;
  afterEach(async () => {
    proxy?.closeAllConnections();
    await new Promise((r) => proxy?.close(r) ?? r(undefined));
  });

  function serve(db: string): Promise<{ child: ChildProcess; url: string }> {
    const child = spawn(process.execPath, [...CLI, 'serve', '--port', '0', '--db', db], {
      env: { ...env(), OMNIBUS_TOKENS: `${TOKENS.acme}=acme:read,write`, LOG_LEVEL: 'warn' },
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    return new Promise((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (http:\/\/\S+?) /.exec(out);
        if (m) resolve({ child, url: m[1]! });
      });
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.on('exit', (code) => reject(new Error(`serve exited (${code}): ${out}`)));
    });
  }

  /** Forwards to `target`; the `killAt`-th batch runs, then its answer is dropped and the server is killed. */
  async function killingProxy(target: string, killAt: number, server: ChildProcess): Promise<{ url: string; batches: () => number }> {
    let batches = 0;
    let dead = false;
    proxy = createServer(async (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const isBatch = req.method === 'POST' && req.url === '/v1/$batch';
      const mine = isBatch ? ++batches : 0;
      if (dead) return void res.socket?.destroy();
      try {
        const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'connection', 'content-length'].includes(k))) as Record<string, string>;
        const answer = await fetch(target + req.url, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
        const body = Buffer.from(await answer.arrayBuffer());
        if (mine === killAt) {
          // Committed (the answer is sent only once the effects are durable), and the client never hears of it.
          dead = true;
          server.kill('SIGKILL');
          return void res.socket?.destroy();
        }
        if (dead) return void res.socket?.destroy();
        res.writeHead(answer.status, Object.fromEntries(answer.headers));
        res.end(body);
      } catch {
        res.socket?.destroy();
      }
    });
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    const port = (proxy.address() as { port: number }).port;
    return { url: `http://127.0.0.1:${port}`, batches: () => batches };
  }

  it('every record is present exactly once (count and ids) after --resume', async () => {
    const dir = tempDir();
    const db = join(dir, 'omnibus.db');
    const file = join(dir, 'books.ndjson');
    const COUNT = 6000;
    ndjson(file, Array.from({ length: COUNT }, (_, i) => ({ n: i, title: `Book ${i}` })));
    const first = await serve(db);
    const via = await killingProxy(first.url, 20, first.child);
    const args = ['import', file, '-c', 'books', '--token', TOKENS.acme, '--batch-size', '100', '--concurrency', '4', '--retries', '1', '--progress', 'none'];

    const stopped = await cli([...args, '--url', via.url]);
    expect(stopped.status, stopped.stderr).toBe(1);
    expect(stopped.stderr).toContain('omnibus: import stopped:');
    expect(stopped.stderr).toMatch(/run the same command with --resume to continue \(state: .*books\.ndjson\.import-state\.json\)/);
    const state = JSON.parse(readFileSync(join(dir, 'books.ndjson.import-state.json'), 'utf8'));
    // Batch 19 (from 0) is the one whose answer was lost: not acknowledged.
    expect(state.next.batch).toBeLessThanOrEqual(19);
    expect(state.imported).toBeLessThan(COUNT);
    expect(via.batches()).toBeGreaterThanOrEqual(20);

    const second = await serve(db);
    const resumed = await cli([...args, '--url', second.url, '--resume']);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(new RegExp(`^imported ${COUNT.toLocaleString('en-US')} records into books .*\\(resumed: [\\d,]+ were imported before\\)`));
    // At least the batch committed before the kill was answered from the idempotency record.
    expect(resumed.stderr).toMatch(/\d+ batch(es were| was) answered from the server's idempotency record/);
    expectExactlyOnce(await all(second.url, 'books'), COUNT);
    expect(existsSync(join(dir, 'books.ndjson.import-state.json'))).toBe(false);
    second.child.kill('SIGTERM');
  });
});
