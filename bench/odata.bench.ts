/**
 * The odata-json dialect (a dependency graph, independent requests run
 * concurrently) against the `ops` dialect doing the same work, side by side
 * on real servers, several interleaved rounds, medians:
 *
 * (a) PostgreSQL (OMNIBUS_BENCH_DATABASE_URL, default
 *     postgres://postgres@127.0.0.1:5432/test, a throwaway schema):
 *     100 PATCHes of different records, odata-json at concurrency 8 vs `ops`
 *     one by one (target: odata-json >= 3x faster); 100 GETs (target:
 *     odata-json no slower).
 * (b) SQLite (temp file, synchronous as the store default): 100 GETs and 100
 *     creates, odata-json vs `ops` (target: overhead <= 1.2x).
 * (c) SQLite: 100 GETs as a dependsOn chain vs the same without dependencies
 *     (target: planning overhead <= 1.1x).
 *
 * Prints per-operation microseconds and ratios; writes odata.json with the results.
 */
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import pg from 'pg';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { BENCH_TOKEN, benchServer, httpCall, interleavedRounds, median, time, writeResults, type BenchServer } from './support.js';

const PG_URL = process.env['OMNIBUS_BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = 100;
const ROUNDS = 21;

type Variant = (round: number) => Promise<number>;

interface Comparison {
  name: string;
  backend: 'postgres' | 'sqlite';
  /** First variant over second: the ratio printed. */
  variants: [string, Variant][];
  target: { ratio: 'first / second' | 'second / first'; atMost?: number; atLeast?: number };
}

function sender(s: BenchServer, agent: Agent) {
  return async (path: string, body: unknown, expectedStatuses: number[]): Promise<void> => {
    const r = await httpCall(agent, s.port, 'POST', path, JSON.stringify(body), {
      authorization: `Bearer ${BENCH_TOKEN}`,
      'content-type': 'application/json',
    });
    if (r.status !== 200) throw new Error(`${path} answered ${r.status}: ${r.text.slice(0, 300)}`);
    const doc = JSON.parse(r.text) as { responses: Array<{ status: number }> };
    const bad = doc.responses.find((x) => !expectedStatuses.includes(x.status));
    if (bad || doc.responses.length !== N) throw new Error(`${path}: unexpected answer ${r.text.slice(0, 300)}`);
  };
}

const odataGets = (ids: string[], chained = false) => ({
  requests: ids.map((id, i) => ({ id: String(i), method: 'GET', url: `/v1/items/${id}`, ...(chained && i > 0 ? { dependsOn: [String(i - 1)] } : {}) })),
});
const opsGets = (ids: string[]) => ({ requests: ids.map((id) => ({ method: 'GET', path: `/v1/items/${id}` })) });

async function seed(s: BenchServer): Promise<string[]> {
  const ids = Array.from({ length: N }, (_, i) => `r${i}`);
  for (const id of ids) await s.request('PUT', `/v1/items/${id}`, { title: `item ${id}`, n: 0 });
  return ids;
}

function postgresComparisons(s: BenchServer, agent: Agent, ids: string[]): Comparison[] {
  const send = sender(s, agent);
  return [
    {
      name: `${N} PATCHes of different records`,
      backend: 'postgres',
      variants: [
        ['odata-json (concurrency 8)', (round) => time(() => send('/v1/$batch', { requests: ids.map((id, i) => ({ id: String(i), method: 'PATCH', url: `items/${id}`, body: { n: round, by: 'odata' } })) }, [200]))],
        ['ops (one by one)', (round) => time(() => send('/batch', { requests: ids.map((id) => ({ method: 'PATCH', path: `/v1/items/${id}`, body: { n: round, by: 'ops' } })) }, [200]))],
      ],
      target: { ratio: 'second / first', atLeast: 3 },
    },
    {
      name: `${N} GETs`,
      backend: 'postgres',
      variants: [
        ['odata-json', () => time(() => send('/v1/$batch', odataGets(ids), [200]))],
        ['ops', () => time(() => send('/batch', opsGets(ids), [200]))],
      ],
      target: { ratio: 'first / second', atMost: 1 },
    },
  ];
}

function sqliteComparisons(s: BenchServer, agent: Agent, ids: string[]): Comparison[] {
  const send = sender(s, agent);
  return [
    {
      name: `${N} GETs`,
      backend: 'sqlite',
      variants: [
        ['odata-json', () => time(() => send('/v1/$batch', odataGets(ids), [200]))],
        ['ops', () => time(() => send('/batch', opsGets(ids), [200]))],
      ],
      target: { ratio: 'first / second', atMost: 1.2 },
    },
    {
      name: `${N} creates`,
      backend: 'sqlite',
      variants: [
        ['odata-json', (round) => time(() => send('/v1/$batch', { requests: ids.map((_, i) => ({ id: String(i), method: 'POST', url: '/v1/created', body: { i, round } })) }, [201]))],
        ['ops', (round) => time(() => send('/batch', { requests: ids.map((_, i) => ({ method: 'POST', path: '/v1/created', body: { i, round } })) }, [201]))],
      ],
      target: { ratio: 'first / second', atMost: 1.2 },
    },
    {
      name: `${N} GETs, dependsOn chain vs none`,
      backend: 'sqlite',
      variants: [
        ['odata-json chain', () => time(() => send('/v1/$batch', odataGets(ids, true), [200]))],
        ['odata-json independent', () => time(() => send('/v1/$batch', odataGets(ids), [200]))],
      ],
      target: { ratio: 'first / second', atMost: 1.1 },
    },
  ];
}

interface Row {
  backend: string;
  workload: string;
  first: string;
  'first µs/op': number;
  second: string;
  'second µs/op': number;
  ratio: string;
  target: string;
  met: boolean;
}

async function measure(c: Comparison): Promise<Row> {
  const names = c.variants.map(([n]) => n);
  const samples = await interleavedRounds(c.variants.map(([, fn]) => fn), ROUNDS);
  const [a, b] = samples.map(median) as [number, number];
  const ratio = c.target.ratio === 'first / second' ? a / b : b / a;
  const met = (c.target.atMost === undefined || ratio <= c.target.atMost) && (c.target.atLeast === undefined || ratio >= c.target.atLeast);
  return {
    backend: c.backend,
    workload: c.name,
    first: names[0]!,
    'first µs/op': +((a * 1000) / N).toFixed(1),
    second: names[1]!,
    'second µs/op': +((b * 1000) / N).toFixed(1),
    ratio: `${c.target.ratio} = ${ratio.toFixed(2)}`,
    target: c.target.atMost !== undefined ? `<= ${c.target.atMost}` : `>= ${c.target.atLeast}`,
    met,
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
    if (await pgReachable()) {
      const schema = `omnibus_bench_${randomBytes(5).toString('hex')}`;
      const store = await PostgresStore.open({ url: PG_URL, schema });
      const s = await benchServer({}, store);
      try {
        const ids = await seed(s);
        for (const c of postgresComparisons(s, agent, ids)) rows.push(await measure(c));
      } finally {
        await s.close();
        const admin = new pg.Client({ connectionString: PG_URL });
        await admin.connect();
        await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await admin.end();
      }
    } else {
      console.warn(`*** PostgreSQL unreachable at ${PG_URL}: the odata-json PostgreSQL comparisons are SKIPPED ***`);
    }
    const s = await benchServer();
    try {
      const ids = await seed(s);
      for (const c of sqliteComparisons(s, agent, ids)) rows.push(await measure(c));
    } finally {
      await s.close();
    }
  } finally {
    agent.destroy();
  }
  console.log(`\nodata-json: per-operation microseconds, median of ${ROUNDS} interleaved rounds`);
  console.table(rows);
  for (const r of rows) console.log(`  ${r.met ? 'MET ' : 'MISS'} ${r.backend} ${r.workload}: ${r.ratio} (target ${r.target})`);
  const file = writeResults('odata', { rounds: ROUNDS, rows });
  console.log(`written ${file}`);
}

// `npx tsx bench/odata.bench.ts` runs it alone.
if (import.meta.url === `file://${process.argv[1]}`) await run();
