/**
 * What an Idempotency-Key and the rate limit cost, side by side in one run:
 *
 * - SQLite (synchronous=FULL): a 100-create ops batch with a fresh
 *   Idempotency-Key per run against the same batch without one (the key is
 *   one more row, written in the batch's own transaction). Target <= 1.1x.
 * - SQLite: a 100-GET ops batch on a server with OMNIBUS_RATE_LIMIT (never
 *   reached) against one without. Target <= 1.05x.
 * - The same two on PostgreSQL when it is reachable (figures, no target):
 *   there the key is one statement in the batch transaction and the bucket
 *   one statement per batch.
 *
 * Reads OMNIBUS_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { principalOf } from '../src/auth/tokens.js';
import { requestFingerprint } from '../src/idempotency/index.js';
import { MemoryBuckets, RateLimiter } from '../src/rate-limit/index.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { benchServer, expect, median, time, writeResults, type BenchServer } from './support.js';

const URL = process.env['OMNIBUS_BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = 100;
const ROUNDS = 41;
/** A limit no run reaches: the bucket is consulted, never empty. */
const NEVER_REACHED = { limit: 1_000_000_000, windowS: 1 };

function creates(round: number) {
  return { requests: Array.from({ length: N }, (_, i) => ({ method: 'POST', path: '/v1/created', body: { i, round, title: `t${i}` } })) };
}

const GETS = { requests: Array.from({ length: N }, (_, i) => ({ method: 'GET', path: `/v1/items/r${i}` })) };

async function load(s: BenchServer): Promise<void> {
  const r = await s.post('/batch', { requests: Array.from({ length: N }, (_, i) => ({ method: 'PUT', path: `/v1/items/r${i}`, body: { i, title: `item ${i}` } })) });
  if (r.status !== 200) throw new Error(`load failed: ${r.text.slice(0, 200)}`);
}

/** One batch over HTTP: wall-clock ms, and CPU ms of this process (client and server: the same for both variants but theirs). */
async function batchMs(s: BenchServer, body: unknown, headers: Record<string, string> = {}): Promise<Sample> {
  const cpu = process.cpuUsage();
  const wall = await time(async () => {
    const r = await s.request('POST', '/batch', body, headers);
    if (r.status !== 200 || r.text.includes('"status":4') || r.text.includes('"status":5')) throw new Error(`batch failed: ${r.text.slice(0, 300)}`);
  });
  const used = process.cpuUsage(cpu);
  return { wall, cpu: (used.user + used.system) / 1000 };
}

interface Sample {
  wall: number;
  cpu: number;
}

interface Pair {
  label: string;
  /** Median wall-clock ms per batch, without and with. */
  base: number;
  variant: number;
  /** Median of the rounds' wall-clock ratios. */
  ratio: number;
  /** Median of the rounds' CPU-time ratios: what other processes on a shared machine disturb least. */
  cpuRatio: number;
}

/**
 * Interleaved rounds of the two variants, back to back (order alternating):
 * medians per batch in ms, and the median of each round's ratio, which a
 * machine whose speed drifts between rounds disturbs least.
 */
async function measure(label: string, base: () => Promise<Sample>, variant: () => Promise<Sample>): Promise<Pair> {
  const a: number[] = [];
  const b: number[] = [];
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  for (let i = 0; i < 3; i++) {
    await base();
    await variant();
  }
  for (let r = 0; r < ROUNDS; r++) {
    let x: Sample;
    let y: Sample;
    if (r % 2) {
      x = await base();
      y = await variant();
    } else {
      y = await variant();
      x = await base();
    }
    a.push(x.wall);
    b.push(y.wall);
    ratios.push(y.wall / x.wall);
    cpuRatios.push(y.cpu / x.cpu);
  }
  const pair = {
    label,
    base: +median(a).toFixed(2),
    variant: +median(b).toFixed(2),
    ratio: +median(ratios).toFixed(3),
    cpuRatio: +median(cpuRatios).toFixed(3),
  };
  console.log(`${label}: ${pair.base} ms -> ${pair.variant} ms (${pair.ratio}x; CPU ${pair.cpuRatio}x)`);
  return pair;
}

/**
 * The key on one server (both variants write to the same database); the
 * limiter on two servers on one database (one store), one with
 * OMNIBUS_RATE_LIMIT, so both read the same records the same way.
 */
async function pair(label: string, writes: BenchServer, plain: BenchServer, limited: BenchServer): Promise<Pair[]> {
  await load(plain);
  let round = 0;
  const key = await measure(
    `${label}: 100 creates, Idempotency-Key vs none`,
    () => batchMs(writes, creates(round++)),
    () => batchMs(writes, creates(round++), { 'idempotency-key': randomUUID() }),
  );
  const limit = await measure(`${label}: 100 GETs, rate limit vs none`, () => batchMs(plain, GETS), () => batchMs(limited, GETS));
  return [key, limit];
}

/**
 * The same costs without HTTP or a disk, which a loaded machine disturbs
 * least: microseconds per call of a 100-token reservation in memory (what a
 * SQLite server's limiter does per batch), and of fingerprinting a 100-create
 * body (what every keyed batch does besides its one row).
 */
async function inProcess(): Promise<{ reserveMicros: number; fingerprintMicros: number }> {
  const limiter = new RateLimiter(NEVER_REACHED, new MemoryBuckets());
  const principal = principalOf({ subject: 'bench', tenant: 'bench', scopes: ['read'] });
  const body = JSON.stringify(creates(0));
  const per = async (n: number, fn: () => unknown): Promise<number> => {
    const samples: number[] = [];
    for (let r = 0; r < 5; r++) samples.push((await time(async () => { for (let i = 0; i < n; i++) await fn(); })) * 1000 / n);
    return +median(samples).toFixed(2);
  };
  const reserveMicros = await per(20_000, () => limiter.reserve(principal, N));
  const fingerprintMicros = await per(2_000, () => requestFingerprint('POST', '/batch', new URLSearchParams(), body));
  console.log(`in process: a 100-token reservation ${reserveMicros} µs, fingerprint of a 100-create body ${fingerprintMicros} µs`);
  return { reserveMicros, fingerprintMicros };
}

async function pgReachable(): Promise<boolean> {
  const probe = new pg.Client({ connectionString: URL, connectionTimeoutMillis: 3000 });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.end();
    return true;
  } catch {
    return false;
  }
}

export default async function run(): Promise<unknown> {
  const results: Record<string, unknown> = {};
  const writes = await benchServer();
  const plain = await benchServer();
  const limited = await benchServer({ rateLimit: NEVER_REACHED }, plain.services.store);
  try {
    const [key, limit] = await pair('SQLite', writes, plain, limited);
    const cpu = await inProcess();
    results['sqlite'] = {
      key,
      limit,
      cpu,
      checks: [
        expect('SQLite: key on a 100-create batch <= 1.1x', key!.ratio <= 1.1, `${key!.ratio}x`),
        expect('SQLite: limiter on a 100-GET batch <= 1.05x', limit!.ratio <= 1.05, `${limit!.ratio}x`),
      ],
    };
  } finally {
    await writes.close();
    await limited.close().catch(() => {});
    await plain.close().catch(() => {});
  }

  if (await pgReachable()) {
    const schemas = [0, 1].map(() => `omnibus_bench_${randomBytes(5).toString('hex')}`);
    const writesPg = await benchServer({}, await PostgresStore.open({ url: URL, schema: schemas[0] }));
    const plainPg = await benchServer({}, await PostgresStore.open({ url: URL, schema: schemas[1] }));
    const limitedPg = await benchServer({ rateLimit: NEVER_REACHED }, await PostgresStore.open({ url: URL, schema: schemas[1] }));
    try {
      const [key, limit] = await pair('PostgreSQL', writesPg, plainPg, limitedPg);
      results['postgres'] = { key, limit };
    } finally {
      await writesPg.close();
      await limitedPg.close();
      await plainPg.close();
      const admin = new pg.Client({ connectionString: URL });
      await admin.connect();
      for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    }
  } else {
    console.log(`PostgreSQL unreachable at OMNIBUS_BENCH_DATABASE_URL: its half is skipped.`);
  }
  for (const r of Object.values(results)) {
    for (const c of (r as { checks?: Array<{ label: string; ok: boolean; detail: string }> }).checks ?? []) {
      console.log(`${c.ok ? 'met   ' : 'MISSED'} ${c.label}: ${c.detail}`);
    }
  }
  console.log(`results: ${writeResults('idempotency', results)}`);
  return results;
}

