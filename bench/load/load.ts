/**
 * One load run against `omnibus serve` in a child process: seed shared
 * records, warm up, then autocannon at each concurrency for a fixed time
 * with the mixed batches of workload.ts, while a separate process asks
 * /healthz every 20 ms; afterwards the If-Match counter. Everything is
 * counted, nothing is judged here: callers compare against their limits.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { childDatabase, startChildServer } from '../../test/support/child-server.js';
import type { BackendName } from '../../test/support/backends.js';
import { TOKENS } from '../../test/support/server.js';
import { httpCaller, runCounter, type CounterResult } from './counter.js';
import { randomBatch, seedBatches, type LoadBatch } from './workload.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');

export interface LoadOptions {
  clients: number[];
  seconds: number;
  warmupSeconds: number;
  counterClients: number;
  counterIncrements: number;
}

export interface LevelResult {
  clients: number;
  seconds: number;
  batches: number;
  operations: number;
  operationsPerSecond: number;
  /** Batch latency (ms) as autocannon saw it. */
  p50: number;
  p99: number;
  /** Batch answers with a status outside 2xx, and connection errors or timeouts. */
  non2xx: number;
  errors: number;
  /** Inner answers with a 5xx status, with another non-2xx status, and answers that could not be read. */
  inner5xx: number;
  innerOther: Record<string, number>;
  malformed: string[];
  healthz: { count: number; p50: number; p99: number; max: number };
  /** Resident memory of the server (MiB) after the warm-up and after this level. */
  rssAfterWarmup: number;
  rssAfter: number;
}

export interface BackendLoad {
  backend: BackendName;
  levels: LevelResult[];
  counter: CounterResult;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) / 1024;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function probeHealthz(url: string, ms: number): Promise<LevelResult['healthz']> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/load/healthz-probe.ts', url, String(ms)], { cwd: ROOT });
  const latencies = (JSON.parse(stdout) as number[]).sort((a, b) => a - b);
  return { count: latencies.length, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? Number.NaN };
}

async function cannon(url: string, clients: number, seconds: number) {
  let batches = 0;
  let operations = 0;
  let inner5xx = 0;
  const innerOther: Record<string, number> = {};
  const malformed: string[] = [];
  const result = await autocannon({
    url,
    connections: clients,
    duration: seconds,
    timeout: 30,
    method: 'POST',
    headers: { authorization: `Bearer ${TOKENS.acme}` },
    requests: [
      {
        setupRequest: (req, context) => {
          const batch = randomBatch();
          context['batch'] = batch;
          return { ...req, method: 'POST', path: batch.path, body: batch.body, headers: { ...req.headers, 'content-type': batch.contentType } };
        },
        onResponse: (status, body, context) => {
          const batch = context['batch'] as LoadBatch;
          const statuses = batch.statuses(status, body);
          batches++;
          if (typeof statuses === 'string') {
            if (malformed.length < 10) malformed.push(`${batch.name}: ${statuses}: ${body.slice(0, 300)}`);
            return;
          }
          operations += statuses.length;
          for (const s of statuses) {
            if (s >= 500) inner5xx++;
            else if (s >= 300) innerOther[`${batch.name} ${s}`] = (innerOther[`${batch.name} ${s}`] ?? 0) + 1;
          }
        },
      },
    ],
  });
  return { result, batches, operations, inner5xx, innerOther, malformed };
}

/** Seeds, warms up at the highest concurrency, runs every level, then the counter. */
export async function loadBackend(backend: BackendName, o: LoadOptions): Promise<BackendLoad> {
  const db = await childDatabase(backend, 'load');
  const node = startChildServer({ ...db.env, LOG_LEVEL: 'warn' });
  try {
    const url = await node.url;
    const pid = node.child.pid!;
    for (const b of seedBatches()) {
      const res = await fetch(`${url}${b.path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKENS.acme}`, 'content-type': b.contentType }, body: b.body });
      const statuses = b.statuses(res.status, await res.text());
      if (typeof statuses === 'string' || statuses.some((s) => s >= 300)) throw new Error(`seeding failed: ${JSON.stringify(statuses)}`);
    }
    await cannon(url, Math.max(...o.clients), o.warmupSeconds);
    await sleep(500);
    const rssAfterWarmup = rssMiB(pid);
    const levels: LevelResult[] = [];
    for (const clients of o.clients) {
      const [c, healthz] = await Promise.all([cannon(url, clients, o.seconds), probeHealthz(url, o.seconds * 1000 - 300)]);
      await sleep(500);
      levels.push({
        clients,
        seconds: o.seconds,
        batches: c.batches,
        operations: c.operations,
        operationsPerSecond: Math.round(c.operations / o.seconds),
        p50: c.result.latency.p50,
        p99: c.result.latency.p99,
        non2xx: c.result.non2xx,
        errors: c.result.errors + c.result.timeouts,
        inner5xx: c.inner5xx,
        innerOther: c.innerOther,
        malformed: c.malformed,
        healthz,
        rssAfterWarmup: Math.round(rssAfterWarmup),
        rssAfter: Math.round(rssMiB(pid)),
      });
    }
    const counter = await runCounter(httpCaller(url, TOKENS.acme), o.counterClients, o.counterIncrements);
    return { backend, levels, counter };
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\nserver output:\n${node.output().slice(-3000)}`);
  } finally {
    node.child.kill('SIGKILL');
    await node.exited;
    await db.cleanup();
  }
}

/** What the load run requires, as messages; empty when every requirement holds. */
export function violations(r: BackendLoad, timing: boolean): string[] {
  const out: string[] = [];
  for (const l of r.levels) {
    const at = `${r.backend}, ${l.clients} clients`;
    if (l.batches === 0) out.push(`${at}: no batch answered`);
    if (l.non2xx > 0) out.push(`${at}: ${l.non2xx} batch answers outside 2xx`);
    if (l.errors > 0) out.push(`${at}: ${l.errors} connection errors or timeouts`);
    if (l.inner5xx > 0) out.push(`${at}: ${l.inner5xx} operations answered 5xx`);
    if (Object.keys(l.innerOther).length > 0) out.push(`${at}: operations answered ${JSON.stringify(l.innerOther)}`);
    if (l.malformed.length > 0) out.push(`${at}: unreadable answers: ${l.malformed.join(' | ')}`);
    if (timing && !(l.healthz.p99 < 50)) out.push(`${at}: /healthz p99 ${l.healthz.p99.toFixed(1)} ms (limit 50)`);
    if (timing && l.rssAfter > l.rssAfterWarmup * 1.2) out.push(`${at}: memory ${l.rssAfter} MiB after the run, ${l.rssAfterWarmup} MiB after the warm-up (limit +20%)`);
  }
  const c = r.counter;
  if (c.final !== c.expected) out.push(`${r.backend}: counter ${c.final}, expected ${c.expected}`);
  if (c.unexpected.length > 0) out.push(`${r.backend}: counter answers ${c.unexpected.slice(0, 5).join(', ')}`);
  return out;
}
