/**
 * `omnibus import` against single POSTs: 100,000 small records (override
 * with OMNIBUS_BENCH_IMPORT_RECORDS) written into a fresh SQLite server
 * (the store's defaults: synchronous=FULL, OMNIBUS_MAX_OPS 100)
 *
 *   (a) by the CLI, `omnibus import file.ndjson` with its defaults (batches
 *       of 100, each one transaction, 4 in flight), run from its sources as a
 *       child process, start-up included;
 *   (b) by 100,000 single `POST /v1/{collection}` at concurrency 10 over
 *       keep-alive connections, from a child process too, so that neither
 *       load generator shares the server's event loop.
 *
 * Target: (a) at least 20x faster. One run of each (at this size rounds
 * would take many minutes); both servers are new and empty. Writes
 * import.json with the results.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_TOKEN, benchServer, expect, writeResults, type BenchServer } from './support.js';

const RECORDS = Number(process.env['OMNIBUS_BENCH_IMPORT_RECORDS'] ?? 100_000);
const CONCURRENCY = 10;
const ROOT = join(import.meta.dirname, '..');

const record = (i: number) => `{"n":${i},"title":"Book ${i}","pages":${(i % 900) + 1}}\n`;

/** The single POSTs, from their own process: keep-alive, CONCURRENCY requests in flight. */
const SINGLES = `
import { Agent, request } from 'node:http';
const [port, token, total, concurrency] = process.argv.slice(1).map((v, i) => (i === 1 ? v : Number(v)));
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
let next = 0, failed = 0;
const post = (i) => new Promise((resolve, reject) => {
  const body = JSON.stringify({ n: i, title: 'Book ' + i, pages: (i % 900) + 1 });
  const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/singles', agent,
    headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
    res.resume();
    res.on('end', () => { if (res.statusCode !== 201) failed++; resolve(); });
  });
  req.on('error', reject);
  req.end(body);
});
await Promise.all(Array.from({ length: concurrency }, async () => { while (next < total) await post(next++); }));
agent.destroy();
if (failed) { console.error(failed + ' POSTs failed'); process.exit(1); }
`;

function child(args: string[]): Promise<{ ms: number; code: number | null; out: string }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OMNIBUS_TOKEN: '', OMNIBUS_URL: '' } });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', (code) => resolve({ ms: performance.now() - started, code, out }));
  });
}

async function count(s: BenchServer, collection: string): Promise<number> {
  let n = 0;
  for (let skip = 0; ; skip += 1000) {
    const r = await s.request('GET', `/v1/${collection}?$top=1000&$skip=${skip}`);
    const items = (JSON.parse(r.text) as { items: unknown[] }).items.length;
    n += items;
    if (items < 1000) return n;
  }
}

export default async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'omnibus-import-bench-'));
  try {
    const file = join(dir, 'records.ndjson');
    const out = createWriteStream(file);
    for (let i = 0; i < RECORDS; i++) if (!out.write(record(i))) await once(out, 'drain');
    out.end();
    await once(out, 'finish');

    const cliServer = await benchServer();
    let cli: { ms: number; code: number | null; out: string };
    try {
      cli = await child(['--import', 'tsx', join(ROOT, 'src', 'cli.ts'), 'import', file, '--collection', 'imported', '--url', cliServer.url, '--token', BENCH_TOKEN, '--progress', 'none']);
      if (cli.code !== 0) throw new Error(`omnibus import failed (${cli.code}): ${cli.out}`);
      const stored = await count(cliServer, 'imported');
      if (stored !== RECORDS) throw new Error(`omnibus import stored ${stored} records, not ${RECORDS}`);
    } finally {
      await cliServer.close();
    }

    const singleServer = await benchServer();
    let singles: { ms: number; code: number | null; out: string };
    try {
      singles = await child(['--input-type=module', '-e', SINGLES, String(singleServer.port), BENCH_TOKEN, String(RECORDS), String(CONCURRENCY)]);
      if (singles.code !== 0) throw new Error(`single POSTs failed: ${singles.out}`);
      const stored = await count(singleServer, 'singles');
      if (stored !== RECORDS) throw new Error(`single POSTs stored ${stored} records, not ${RECORDS}`);
    } finally {
      await singleServer.close();
    }

    const ratio = singles.ms / cli.ms;
    const perSecond = (ms: number) => Math.round(RECORDS / (ms / 1000));
    console.log(`\n${RECORDS.toLocaleString('en-US')} small records into SQLite (synchronous=FULL):`);
    console.log(`  omnibus import (batches of 100, 4 in flight, start-up included): ${(cli.ms / 1000).toFixed(1)} s, ${perSecond(cli.ms).toLocaleString('en-US')} records/s`);
    console.log(`  single POSTs at concurrency ${CONCURRENCY}:                          ${(singles.ms / 1000).toFixed(1)} s, ${perSecond(singles.ms).toLocaleString('en-US')} records/s`);
    const check = expect('omnibus import >= 20x faster than single POSTs', ratio >= 20, `${ratio.toFixed(1)}x`);
    console.log(`  ${check.ok ? 'OK  ' : 'MISS'} ${check.label}: ${check.detail}`);
    const path = writeResults('import', {
      records: RECORDS,
      cli: { ms: Math.round(cli.ms), recordsPerSecond: perSecond(cli.ms), summary: cli.out.trim() },
      singles: { ms: Math.round(singles.ms), recordsPerSecond: perSecond(singles.ms), concurrency: CONCURRENCY },
      ratio: Number(ratio.toFixed(2)),
      checks: [check],
    });
    console.log(`  results: ${path}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
