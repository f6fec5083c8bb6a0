/**
 * The FHIR Bundle dialect against the same work in a dialect without
 * references or reordering, side by side on real servers, interleaved rounds,
 * medians, on SQLite (temp file) and PostgreSQL (OMNIBUS_BENCH_DATABASE_URL,
 * default postgres://postgres@127.0.0.1:5432/test, a throwaway schema):
 *
 * (a) 100 creates in one transaction Bundle vs the same 100 creates as one
 *     transaction group of the `requests` batch (seed 002; `ops` has no
 *     groups, so this is the plainest JSON batch that runs one group)
 *     (target: FHIR <= 1.3x per operation);
 * (b) a 100-step reference chain (each POST's resource refers to the
 *     previous entry's urn:uuid: fullUrl, listed last first so the order is
 *     worked out too) vs 100 independent POSTs whose references are to
 *     records outside the Bundle, both one transaction (target: chain <= 1.2x).
 *
 * Prints per-operation microseconds and ratios of wall-clock medians (the
 * target) and of CPU-time medians (steadier on a shared machine); writes
 * fhir.json with the results.
 */
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import pg from 'pg';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { BENCH_TOKEN, benchServer, httpCall, interleavedRounds, median, time, writeResults, type BenchServer } from './support.js';

const PG_URL = process.env['OMNIBUS_BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = 100;
const ROUNDS = Number(process.env['OMNIBUS_BENCH_ROUNDS'] ?? 21);

/** Wall-clock and CPU milliseconds of one request (CPU: this process's, the server's and the client's alike). */
type Variant = (round: number) => Promise<{ wall: number; cpu: number }>;

async function timed(fn: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  const cpu = process.cpuUsage();
  const wall = await time(fn);
  const used = process.cpuUsage(cpu);
  return { wall, cpu: (used.user + used.system) / 1000 };
}

interface Comparison {
  name: string;
  variants: [[string, Variant], [string, Variant]];
  atMost: number;
}

const uuid = (i: number) => `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

/**
 * `N` POST entries, each with a reference. Chained, each refers to the entry
 * before it by its fullUrl, and they stand in reverse, so each must wait for
 * a later one; independent, each refers to a record outside the Bundle, by a
 * reference as long as a resolved one (`Observation/` and a 14-character
 * id), so both store the same amount and only resolving differs.
 */
function creates(round: number, chained: boolean) {
  const entry = Array.from({ length: N }, (_, i) => ({
    fullUrl: uuid(i),
    resource: chained ? { ...observation(i, round), derivedFrom: [{ reference: uuid(Math.max(0, i - 1)) }] } : observation(i, round),
    request: { method: 'POST', url: 'Observation' },
  }));
  // The chain's first entry refers to nothing of the Bundle.
  if (chained) entry[0]!.resource.derivedFrom = [{ reference: 'Observation/external000000' }];
  return { resourceType: 'Bundle', type: 'transaction', entry: chained ? entry.reverse() : entry };
}

/** The resource each create stores when nothing has to be resolved: its reference names a record outside the Bundle. */
const observation = (i: number, round: number) => ({
  resourceType: 'Observation',
  status: 'final',
  i,
  round,
  derivedFrom: [{ reference: `Observation/external${String(i).padStart(6, '0')}` }],
});

function comparisons(s: BenchServer, agent: Agent): Comparison[] {
  const send = async (path: string, contentType: string, body: unknown, check: (doc: any) => boolean): Promise<void> => {
    const r = await httpCall(agent, s.port, 'POST', path, JSON.stringify(body), { authorization: `Bearer ${BENCH_TOKEN}`, 'content-type': contentType });
    if (r.status !== 200 || !check(JSON.parse(r.text))) throw new Error(`${path} answered ${r.status}: ${r.text.slice(0, 300)}`);
  };
  const fhir = (round: number, chained: boolean) =>
    timed(() => send('/fhir', 'application/fhir+json', creates(round, chained), (d) => d.entry.length === N && d.entry.every((e: any) => e.response.status === '201 Created')));
  const group = (round: number) =>
    timed(() =>
      send(
        '/v1/batch',
        'application/json',
        Array.from({ length: N }, (_, i) => ({ id: String(i), method: 'POST', path: '/v1/Observation', body: JSON.stringify(observation(i, round)), transaction: 'all' })),
        (d) => d.length === N && d.every((x: any) => x.code === 201),
      ),
    );
  return [
    { name: `${N} creates, one transaction`, variants: [['fhir transaction Bundle', (round) => fhir(round, false)], ['requests, one group', group]], atMost: 1.3 },
    { name: `${N} creates, reference chain vs independent`, variants: [['fhir chain', (round) => fhir(round, true)], ['fhir independent', (round) => fhir(round, false)]], atMost: 1.2 },
  ];
}

interface Row {
  backend: string;
  workload: string;
  first: string;
  'first µs/op': number;
  second: string;
  'second µs/op': number;
  ratio: number;
  'cpu ratio': number;
  target: string;
  met: boolean;
}

async function measure(backend: string, c: Comparison): Promise<Row> {
  const timings = await interleavedRounds(c.variants.map(([, fn]) => fn), ROUNDS);
  const samples = timings.map((ts) => ts.map((t) => t.wall)) as [number[], number[]];
  const cpu = timings.map((ts) => ts.map((t) => t.cpu)) as [number[], number[]];
  const [a, b] = samples.map(median) as [number, number];
  const ratio = a / b;
  const cpuRatio = median(cpu[0]) / median(cpu[1]);
  return {
    backend,
    workload: c.name,
    first: c.variants[0][0],
    'first µs/op': +((a * 1000) / N).toFixed(1),
    second: c.variants[1][0],
    'second µs/op': +((b * 1000) / N).toFixed(1),
    ratio: +ratio.toFixed(2),
    'cpu ratio': +cpuRatio.toFixed(2),
    target: `<= ${c.atMost}`,
    met: ratio <= c.atMost,
  };
}

async function pgReachable(): Promise<boolean> {
  const probe = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.end();
    return true;
  } catch {
    return false;
  }
}

export default async function run(): Promise<void> {
  const rows: Row[] = [];
  const agent = new Agent({ keepAlive: true });
  try {
    const s = await benchServer();
    try {
      for (const c of comparisons(s, agent)) rows.push(await measure('sqlite', c));
    } finally {
      await s.close();
    }
    if (await pgReachable()) {
      const schema = `omnibus_bench_${randomBytes(5).toString('hex')}`;
      const store = await PostgresStore.open({ url: PG_URL, schema });
      const p = await benchServer({}, store);
      try {
        for (const c of comparisons(p, agent)) rows.push(await measure('postgres', c));
      } finally {
        await p.close();
        const admin = new pg.Client({ connectionString: PG_URL });
        await admin.connect();
        await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await admin.end();
      }
    } else {
      console.warn(`*** PostgreSQL unreachable at ${PG_URL}: the FHIR PostgreSQL comparisons are SKIPPED ***`);
    }
  } finally {
    agent.destroy();
  }
  console.log(`\nfhir: per-operation microseconds, median of ${ROUNDS} interleaved rounds`);
  console.table(rows);
  for (const r of rows) console.log(`  ${r.met ? 'MET ' : 'MISS'} ${r.backend} ${r.workload}: ${r.first} / ${r.second} = ${r.ratio} wall, ${r['cpu ratio']} CPU (target ${r.target})`);
  const file = writeResults('fhir', { rounds: ROUNDS, rows });
  console.log(`written ${file}`);
}

// `npx tsx bench/fhir.bench.ts` runs it alone.
if (import.meta.url === `file://${process.argv[1]}`) await run();
