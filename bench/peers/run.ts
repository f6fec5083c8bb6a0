/**
 * `npm run bench:peers`: Omnibus against the batch implementations a Node user would pick
 * instead, each server in its own child process, measured in one run in alternating rounds.
 *
 * - Peers: hapi + bassmaster (server.inject), Express 5 with a loopback batch route (HTTP to
 *   itself), Fastify 5 with an inject batch route. Each serves the same resource (GET by id,
 *   POST create, PUT with If-Match: 412 on a mismatch, ETags) behind a bearer check, on SQLite
 *   with Omnibus's settings, on an in-memory Map, and on PostgreSQL through a `pg` pool.
 * - Omnibus: its own server (`startServer` from src, configured from the environment), on
 *   SQLite (its default store, compared with the peers on SQLite and on a Map) and on
 *   PostgreSQL, with its primary JSON batch, `POST /batch` (ops).
 * - Part 1: 100-operation batches of GETs, creates and If-Match updates, ~100 B records.
 * - Part 2: batch sizes 1, 10, 100, 1000 × record sizes 100 B, 10 KB, 1 MB (not 1 MB × 1000:
 *   every batch is capped at 32 MB of records by default), Omnibus and the peers on SQLite: cost per
 *   operation and the server's peak RSS per batch.
 *
 * Results: bench/results/peers.json (BENCH_PEERS_QUICK=1: .tmp/bench/peers-quick.json);
 * `npm run bench:report` renders docs/PERFORMANCE.md's tables and the SVG charts from it.
 * Variables: bench/README.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { httpCall, median } from '../support.js';

const ROOT = join(import.meta.dirname, '..', '..');
const QUICK = process.env.BENCH_PEERS_QUICK === '1';
const PG_URL = process.env.OMNIBUS_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const OUT = process.env.BENCH_PEERS_OUT ?? (QUICK ? join(ROOT, '.tmp', 'bench', 'peers-quick.json') : join(ROOT, 'bench', 'results', 'peers.json'));
/** Part 2 stops starting new cells after this long (the whole run stays bounded). */
const BUDGET_MS = Number(process.env.BENCH_PEERS_BUDGET_S ?? (QUICK ? 150 : 480)) * 1000;
const ROUNDS = Number(process.env.BENCH_PEERS_ROUNDS ?? (QUICK ? 5 : 21));
const WARMUP = QUICK ? 1 : 3;
const TOKEN = 'bench-token';
const TOKENS = `${TOKEN}=bench:read,write`;
const MAX_OPS = 1000;
const MAX_BATCH_BYTES = 256 * 1024 * 1024;
/**
 * Records per batch at most, in bytes (BENCH_PEERS_CAP_MB, default 32): 1 MB × 1000 (1 GB in one
 * body) is always left out, and 1 MB × 100 by default (see docs/PERFORMANCE.md, Scaling).
 */
const BATCH_CAP_BYTES = Number(process.env.BENCH_PEERS_CAP_MB ?? 32) * 1024 * 1024;
const BATCH_SIZES = [1, 10, 100, 1000];
const PAYLOADS = QUICK ? [100, 10 * 1024] : [100, 10 * 1024, 1024 * 1024];

type Kind = 'omnibus' | 'hapi-bassmaster' | 'express-loopback' | 'fastify-inject';
type StoreKind = 'sqlite' | 'map' | 'postgres';
export type Workload = 'get' | 'create' | 'update';
const WORKLOADS: Workload[] = ['get', 'create', 'update'];
const PEERS: Kind[] = ['hapi-bassmaster', 'express-loopback', 'fastify-inject'];
export const LABELS: Record<Kind, string> = {
  omnibus: 'Omnibus',
  'hapi-bassmaster': 'hapi + bassmaster',
  'express-loopback': 'Express loopback',
  'fastify-inject': 'Fastify inject',
};

interface Op {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
}

interface Target {
  id: string;
  kind: Kind;
  store: StoreKind;
  child: ChildProcess;
  pid: number;
  port: number;
  agent: Agent;
  /** Current ETag of each record the workloads update, per collection. */
  etags: Map<string, Map<string, string>>;
}

interface Sample {
  ms: number;
  peakKb: number;
  cpuMs: number;
}

const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const started = performance.now();
const work = mkdtempSync(join(tmpdir(), 'omnibus-peers-'));
const targets: Target[] = [];
const pgDatabases: string[] = [];

// ---------------------------------------------------------------- children

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  // What a shell exported does not change what is measured: no OMNIBUS_* or DATABASE_URL passes.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OMNIBUS_') && k !== 'DATABASE_URL') env[k] = v;
  return {
    ...env,
    NODE_ENV: 'production',
    OMNIBUS_TOKENS: TOKENS,
    OMNIBUS_MAX_OPS: String(MAX_OPS),
    OMNIBUS_MAX_BATCH_BYTES: String(MAX_BATCH_BYTES),
    OMNIBUS_BATCH_DEADLINE_MS: '600000',
    ...extra,
  };
}

async function startTarget(kind: Kind, store: StoreKind, where: string): Promise<Target> {
  const id = `${kind}/${store}`;
  const extra: Record<string, string> =
    kind === 'omnibus' ? (store === 'postgres' ? { DATABASE_URL: where } : { OMNIBUS_DB: where }) : { PEER_STORE: store, PEER_WHERE: where };
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, `${kind}.ts`)], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: childEnv(extra),
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${id} did not start within 60 s`)), 60_000);
    child.once('message', (m: { port: number }) => {
      clearTimeout(timer);
      resolve(m.port);
    });
    child.once('exit', (code) => reject(new Error(`${id} exited with ${code} before it listened`)));
  });
  const t: Target = { id, kind, store, child, pid: child.pid!, port, agent: new Agent({ keepAlive: true, maxSockets: 1 }), etags: new Map() };
  targets.push(t);
  return t;
}

async function stopTarget(t: Target): Promise<void> {
  t.agent.destroy();
  if (t.child.exitCode !== null) return;
  const exited = new Promise((r) => t.child.once('exit', r));
  t.child.send('stop');
  const timer = setTimeout(() => t.child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** Peak RSS since the last reset, from /proc (Linux); reset by writing 5 to clear_refs. */
function resetPeak(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // Not Linux, or not allowed: the peak is then the process's peak so far.
  }
}
function peakKb(pid: number): number {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}
/** User + system CPU of a process in ms (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------- workloads

const fillers = new Map<number, string>();
/** A record of about `bytes` bytes of JSON. */
function record(i: number, bytes: number, salt: number): Record<string, unknown> {
  const base = { title: `Record ${i}`, n: i, v: salt, data: '' };
  const pad = Math.max(0, bytes - JSON.stringify(base).length);
  let filler = fillers.get(pad);
  if (filler === undefined) {
    filler = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(Math.ceil(pad / 36)).slice(0, pad);
    fillers.set(pad, filler);
  }
  return { ...base, data: filler };
}

function buildOps(t: Target, w: Workload, coll: string, n: number, bytes: number, salt: number): Op[] {
  const ops: Op[] = [];
  for (let i = 0; i < n; i++) {
    if (w === 'get') ops.push({ method: 'GET', path: `/v1/${coll}/r${i}` });
    else if (w === 'create') ops.push({ method: 'POST', path: `/v1/${coll}-new`, body: record(i, bytes, salt) });
    else {
      const etag = t.etags.get(coll)?.get(`r${i}`);
      if (!etag) throw new Error(`${t.id}: no ETag known for ${coll}/r${i}`);
      ops.push({ method: 'PUT', path: `/v1/${coll}/r${i}`, headers: { 'If-Match': etag }, body: record(i, bytes, salt) });
    }
  }
  return ops;
}

/** The batch as each server takes it: the ops shape (Omnibus, Express, Fastify) or bassmaster's. */
function encode(t: Target, ops: Op[]): string {
  if (t.kind !== 'hapi-bassmaster') return JSON.stringify({ requests: ops });
  return JSON.stringify({
    requests: ops.map((op) => ({
      method: op.method,
      path: op.path,
      ...(op.body === undefined ? {} : { payload: op.body }),
      ...(op.headers?.['If-Match'] ? { query: { ifMatch: op.headers['If-Match'] } } : {}),
    })),
  });
}

const EXPECTED: Record<Workload | 'seed', number> = { get: 200, create: 201, update: 200, seed: 201 };

/** Checks every operation's answer; returns the new ETags where the batch format carries them. */
function check(t: Target, w: Workload | 'seed', status: number, text: string, n: number): (string | undefined)[] | undefined {
  if (status !== 200) throw new Error(`${t.id} ${w}: batch answered ${status}: ${text.slice(0, 300)}`);
  const parsed = JSON.parse(text) as unknown;
  if (t.kind === 'hapi-bassmaster') {
    const results = parsed as Array<{ id?: string; status?: number; statusCode?: number }>;
    if (results.length !== n) throw new Error(`${t.id} ${w}: ${results.length} results for ${n} operations`);
    results.forEach((r, i) => {
      if (!r || typeof r.id !== 'string' || (r.statusCode ?? r.status ?? 0) >= 400) throw new Error(`${t.id} ${w}: operation ${i} failed: ${JSON.stringify(r).slice(0, 200)}`);
    });
    return undefined;
  }
  const { responses } = parsed as { responses: Array<{ status: number; headers: Record<string, string> }> };
  if (responses.length !== n) throw new Error(`${t.id} ${w}: ${responses.length} responses for ${n} operations`);
  const want = EXPECTED[w];
  return responses.map((r, i) => {
    if (r.status !== want && !(w === 'seed' && r.status === 200)) throw new Error(`${t.id} ${w}: operation ${i} answered ${r.status}, expected ${want}: ${JSON.stringify(r).slice(0, 300)}`);
    return r.headers.etag;
  });
}

async function refreshEtags(t: Target, coll: string, ids: string[], fromAnswers: (string | undefined)[] | undefined): Promise<void> {
  let map = t.etags.get(coll);
  if (!map) t.etags.set(coll, (map = new Map()));
  if (fromAnswers) {
    ids.forEach((id, i) => map.set(id, fromAnswers[i]!));
    return;
  }
  // bassmaster answers bodies only: read the ETags through the peer's own (untimed) helper route.
  for (let i = 0; i < ids.length; i += 200) {
    const chunk = ids.slice(i, i + 200);
    const r = await httpCall(t.agent, t.port, 'GET', `/bench/etags/${coll}?ids=${chunk.join(',')}`, undefined, auth);
    for (const [id, etag] of Object.entries(JSON.parse(r.text) as Record<string, string>)) map.set(id, etag);
  }
}

async function seed(t: Target, coll: string, count: number, bytes: number): Promise<void> {
  const chunk = Math.max(1, Math.min(100, Math.floor((8 * 1024 * 1024) / bytes)));
  for (let from = 0; from < count; from += chunk) {
    const ids = Array.from({ length: Math.min(chunk, count - from) }, (_, k) => `r${from + k}`);
    const ops = ids.map((id, k) => ({ method: 'PUT', path: `/v1/${coll}/${id}`, body: record(from + k, bytes, 0) }));
    const r = await httpCall(t.agent, t.port, 'POST', '/batch', encode(t, ops), auth);
    await refreshEtags(t, coll, ids, check(t, 'seed', r.status, r.text, ids.length));
  }
}

/** `batches` batches of `n` operations, one after the other; time, peak RSS and CPU of the server. */
async function sample(t: Target, w: Workload, coll: string, n: number, bytes: number, batches: number, salt: number): Promise<Sample> {
  let ms = 0;
  let peak = 0;
  let cpu = 0;
  for (let b = 0; b < batches; b++) {
    const body = encode(t, buildOps(t, w, coll, n, bytes, salt * 1000 + b));
    resetPeak(t.pid);
    const cpu0 = cpuMs(t.pid);
    const t0 = performance.now();
    const r = await httpCall(t.agent, t.port, 'POST', '/batch', body, auth).catch((err: Error) => {
      throw new Error(`${t.id} ${w} (${n} × ${bytes} B): ${err.message}${t.child.exitCode !== null ? `; the server exited with ${t.child.exitCode}` : ''}`);
    });
    ms += performance.now() - t0;
    cpu += cpuMs(t.pid) - cpu0;
    peak = Math.max(peak, peakKb(t.pid));
    const etags = check(t, w, r.status, r.text, n);
    if (w === 'update') await refreshEtags(t, coll, Array.from({ length: n }, (_, i) => `r${i}`), etags);
  }
  return { ms, peakKb: peak, cpuMs: cpu };
}

/** Before measuring: the peer really refuses a stale If-Match with 412 and answers 404 for a missing id. */
async function checkSemantics(t: Target, coll: string): Promise<void> {
  const ops: Op[] = [
    { method: 'PUT', path: `/v1/${coll}/r0`, headers: { 'If-Match': '"stale"' }, body: record(0, 100, 0) },
    { method: 'GET', path: `/v1/${coll}/missing` },
  ];
  const r = await httpCall(t.agent, t.port, 'POST', '/batch', encode(t, ops), auth);
  const parsed = JSON.parse(r.text) as unknown;
  const statuses =
    t.kind === 'hapi-bassmaster'
      ? (parsed as Array<{ status?: number; statusCode?: number }>).map((x) => x.statusCode ?? x.status)
      : (parsed as { responses: Array<{ status: number }> }).responses.map((x) => x.status);
  if (statuses[0] !== 412 || statuses[1] !== 404) throw new Error(`${t.id}: expected 412 and 404, got ${JSON.stringify(statuses)}`);
  const unauth = await httpCall(t.agent, t.port, 'POST', '/batch', encode(t, ops), { 'content-type': 'application/json' });
  if (unauth.status !== 401) throw new Error(`${t.id}: a batch without a token answered ${unauth.status}`);
}

// ---------------------------------------------------------------- measuring

/** One measured cell of bench/results/peers.json (bench/report.ts reads them). */
export interface Cell {
  part: 'peers' | 'scaling';
  /** For part 1: which comparison (peers on SQLite, on a Map, on PostgreSQL); Omnibus rows carry the one they belong to. */
  comparison: StoreKind;
  workload: Workload;
  target: string;
  kind: Kind;
  store: StoreKind;
  batchSize: number;
  payloadBytes: number;
  rounds: number;
  /** Median of the rounds' wall time per batch, ms. */
  batchMs: number;
  usPerOp: number;
  opsPerSec: number;
  /** Median over rounds of (this target's time / Omnibus's time in the same round): Omnibus's speed-up over this target. */
  omnibusSpeedup: number;
  /** Server CPU (user + system) per operation, µs, over all rounds (10 ms ticks summed). */
  cpuUsPerOp: number;
  /** Peak RSS of the server child during a batch: median and maximum over the rounds, MB. */
  peakRssMb: number;
  maxRssMb: number;
  /** Every measured round's wall time per batch, ms, in round order (Omnibus's are in its own cell). */
  roundsMs: number[];
}

const cells: Cell[] = [];

async function measure(
  part: Cell['part'],
  group: Target[],
  comparisons: (t: Target) => StoreKind[],
  coll: string,
  n: number,
  bytes: number,
  rounds: number,
  warmup: number,
): Promise<void> {
  // Every sample covers at least 100 operations (16 for 1 MB records, which would take minutes).
  const batches = Math.ceil(Math.min(100, Math.max(n, Math.floor((16 * 1024 * 1024) / bytes))) / n);
  const samples = new Map<string, Sample[]>();
  for (let round = -warmup; round < rounds; round++) {
    for (const w of WORKLOADS) {
      const shift = ((round % group.length) + group.length) % group.length;
      const order = [...group.slice(shift), ...group.slice(0, shift)];
      for (const t of order) {
        const s = await sample(t, w, coll, n, bytes, batches, round + warmup);
        if (round >= 0) {
          const key = `${w} ${t.id}`;
          if (!samples.has(key)) samples.set(key, []);
          samples.get(key)!.push(s);
        }
      }
    }
  }
  const omnibus = group.find((t) => t.kind === 'omnibus')!;
  for (const w of WORKLOADS) {
    const ref = samples.get(`${w} ${omnibus.id}`)!;
    for (const t of group) {
      const ss = samples.get(`${w} ${t.id}`)!;
      const batchMs = median(ss.map((s) => s.ms)) / batches;
      const ops = n * batches;
      for (const comparison of comparisons(t)) {
        cells.push({
          part,
          comparison,
          workload: w,
          target: LABELS[t.kind],
          kind: t.kind,
          store: t.store,
          batchSize: n,
          payloadBytes: bytes,
          rounds,
          batchMs: round3(batchMs),
          usPerOp: round3((batchMs * 1000) / n),
          opsPerSec: Math.round((n * 1000) / batchMs),
          omnibusSpeedup: round3(median(ss.map((s, i) => s.ms / ref[i]!.ms))),
          cpuUsPerOp: round3((ss.reduce((a, s) => a + s.cpuMs, 0) * 1000) / (ops * ss.length)),
          peakRssMb: round3(median(ss.map((s) => s.peakKb)) / 1024),
          maxRssMb: round3(Math.max(...ss.map((s) => s.peakKb)) / 1024),
          roundsMs: ss.map((s) => round3(s.ms / batches)),
        });
      }
    }
  }
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

function printCells(title: string, rows: Cell[]): void {
  console.log(`\n${title}`);
  console.table(
    rows.map((c) => ({
      workload: c.workload,
      server: `${c.target} (${c.store})`,
      batch: c.batchSize,
      bytes: c.payloadBytes,
      'ops/s': c.opsPerSec,
      'µs/op': c.usPerOp,
      'Omnibus ×': c.omnibusSpeedup,
      'CPU µs/op': c.cpuUsPerOp,
      'peak RSS MB': c.peakRssMb,
    })),
  );
}

async function pgAdmin(): Promise<pg.Client | undefined> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return client;
  } catch (err) {
    console.log(`PostgreSQL at ${PG_URL} not reachable (${(err as Error).message}): the PostgreSQL comparison is skipped.`);
    return undefined;
  }
}

function dbUrl(name: string): string {
  const u = new URL(PG_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

async function main(): Promise<void> {
  const loadBefore = loadavg();
  const notes: string[] = [];
  console.log(`bench:peers${QUICK ? ' (quick)' : ''}: ${ROUNDS} rounds after ${WARMUP} warm-up, results to ${relative(ROOT, OUT)}`);

  const parts = (process.env.BENCH_PEERS_PARTS ?? '1,2').split(',');
  // Part 1a/1b and part 2: Omnibus on SQLite, the peers on SQLite and on a Map.
  const omnibusSqlite = await startTarget('omnibus', 'sqlite', join(work, 'omnibus.db'));
  const sqlitePeers = await Promise.all(PEERS.map((k) => startTarget(k, 'sqlite', join(work, `${k}.db`))));
  const mapPeers = await Promise.all(PEERS.map((k) => startTarget(k, 'map', '')));
  const groupA = [omnibusSqlite, ...sqlitePeers, ...mapPeers];
  for (const t of groupA) {
    await seed(t, 'items', 100, 100);
    await checkSemantics(t, 'items');
  }
  console.log('part 1: 100-operation batches, SQLite and Map peers');
  if (parts.includes('1')) await measure('peers', groupA, (t) => (t.kind === 'omnibus' ? ['sqlite', 'map'] : [t.store]), 'items', 100, 100, ROUNDS, WARMUP);
  for (const t of mapPeers) await stopTarget(t);

  // Part 1c: PostgreSQL, each server in its own throwaway database.
  const admin = parts.includes('1') ? await pgAdmin() : undefined;
  let pgVersion: string | undefined;
  if (admin) {
    pgVersion = ((await admin.query('SHOW server_version')).rows[0] as { server_version: string }).server_version;
    const base = `omnibus_peers_${randomBytes(4).toString('hex')}`;
    const groupC: Target[] = [];
    for (const k of ['omnibus', ...PEERS] as Kind[]) {
      const name = `${base}_${k.replace(/-/g, '_')}`;
      await admin.query(`CREATE DATABASE ${name}`);
      pgDatabases.push(name);
      groupC.push(await startTarget(k, 'postgres', dbUrl(name)));
    }
    for (const t of groupC) {
      await seed(t, 'items', 100, 100);
      await checkSemantics(t, 'items');
    }
    console.log('part 1: 100-operation batches, PostgreSQL');
    await measure('peers', groupC, () => ['postgres'], 'items', 100, 100, ROUNDS, WARMUP);
    for (const t of groupC) await stopTarget(t);
  }
  printCells('Part 1: 100-operation batches (Omnibus × = how many times Omnibus is faster than that server, median of per-round ratios)', cells);

  // Part 2: scaling, Omnibus and the peers on SQLite.
  const groupB = [omnibusSqlite, ...sqlitePeers];
  const skipped: string[] = [];
  for (const bytes of parts.includes('2') ? PAYLOADS.filter((b) => !process.env.BENCH_PEERS_PAYLOADS || process.env.BENCH_PEERS_PAYLOADS.split(',').includes(String(b))) : []) {
    const sizes = BATCH_SIZES.filter((n) => n * bytes <= BATCH_CAP_BYTES);
    for (const n of BATCH_SIZES) if (!sizes.includes(n)) skipped.push(`${n} × ${bytes} B (over the ${BATCH_CAP_BYTES / 1024 / 1024} MB cap per batch)`);
    const coll = `s${bytes}`;
    let seeded = false;
    for (const n of sizes) {
      if (performance.now() - started > BUDGET_MS) {
        skipped.push(`${n} × ${bytes} B (time budget)`);
        continue;
      }
      if (!seeded) {
        for (const t of groupB) await seed(t, coll, Math.max(...sizes), bytes);
        seeded = true;
      }
      const rounds = QUICK ? 2 : n * bytes >= 8 * 1024 * 1024 ? 3 : 7;
      console.log(`part 2: batches of ${n}, ${bytes} B records, ${rounds} rounds`);
      try {
        await measure('scaling', groupB, () => ['sqlite'], coll, n, bytes, rounds, 1);
      } catch (err) {
        console.log(`  failed: ${(err as Error).message}`);
        notes.push(`Scaling cell ${n} × ${bytes} B failed: ${(err as Error).message}.`);
        if (groupB.some((t) => t.child.exitCode !== null)) break;
      }
    }
  }
  if (skipped.length) notes.push(`Scaling cells not measured: ${skipped.join('; ')}.`);
  printCells(
    'Part 2: scaling on SQLite',
    cells.filter((c) => c.part === 'scaling'),
  );

  for (const t of groupB) await stopTarget(t);
  const sqliteVersion = (new Database(':memory:').prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
  if (admin) {
    for (const name of pgDatabases) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
  const result = {
    measuredAt: new Date().toISOString(),
    quick: QUICK,
    durationS: Math.round((performance.now() - started) / 1000),
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      memoryGb: Math.round(totalmem() / 2 ** 30),
      kernel: release(),
      node: process.version,
      sqlite: sqliteVersion,
      postgres: pgVersion ?? null,
      loadBefore: loadBefore.map((x) => +x.toFixed(2)),
      loadAfter: loadavg().map((x) => +x.toFixed(2)),
    },
    settings: {
      rounds: ROUNDS,
      warmup: WARMUP,
      maxOps: MAX_OPS,
      maxBatchBytes: MAX_BATCH_BYTES,
      batchCapBytes: BATCH_CAP_BYTES,
      sqlite: 'WAL, synchronous=FULL, busy_timeout=5000 (Omnibus default; the peers set the same)',
      peerPostgresPool: 10,
    },
    notes,
    cells,
  };
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, JSON.stringify(result, null, 2) + '\n');
  console.log(`\n${relative(ROOT, OUT)} written in ${result.durationS} s; \`npm run bench:report\` renders it.`);
}

try {
  await main();
} finally {
  await Promise.all(targets.map((t) => stopTarget(t).catch(() => {})));
  rmSync(work, { recursive: true, force: true });
  if (pgDatabases.length) {
    const admin = await pgAdmin();
    for (const name of pgDatabases) await admin?.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    await admin?.end();
  }
}
