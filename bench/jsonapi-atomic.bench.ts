/**
 * JSON:API atomic operations (POST /operations) against the same work in
 * the seed dialects, side by side on real servers, interleaved rounds,
 * medians:
 *
 * (a) 100 adds in one atomic request vs the same 100 POSTs in one
 *     transaction group. `ops` (POST /batch) has no transaction groups, so
 *     the one-group baseline is the `requests` batch (POST /v1/batch) with
 *     one `transaction` for all: the same engine path, one group of 100
 *     POSTs in one store transaction. Target: atomic / group <= 1.3 per
 *     operation. For reference, also the same POSTs through `ops`, each on
 *     its own in the batch commit (no target).
 * (b) a 100-step lid chain (each add links the previous one by
 *     `{type, lid}`, resolved from its answer) vs 100 independent adds of the
 *     same shape (the link written with a literal id). Target: <= 1.2.
 *
 * On SQLite (temp file, synchronous as the store default) always; on
 * PostgreSQL (OMNIBUS_BENCH_DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test, a throwaway schema) when it is
 * reachable. Prints per-operation microseconds (medians) and ratios (the median of
 * the per-round ratios of two variants run side by side); writes
 * .tmp/bench/jsonapi-atomic.json.
 */
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import pg from 'pg';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { BENCH_TOKEN, benchServer, httpCall, interleavedRounds, median, time, writeResults, type BenchServer } from './support.js';

const PG_URL = process.env['OMNIBUS_BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = 100;
const ROUNDS = 31;
const ATOMIC = 'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic"';

type Send = (round: number) => Promise<void>;

/** 100 adds of the same records the baselines create. */
const atomicAdds = (round: number) =>
  JSON.stringify({ 'atomic:operations': Array.from({ length: N }, (_, i) => ({ op: 'add', data: { type: 'created', attributes: { i, round, title: `book ${i}` } } })) });

/** 100 adds, each linking the one before: by its lid (a chain of references), or by a literal id (independent). */
function linkedAdds(round: number, chained: boolean): string {
  return JSON.stringify({
    'atomic:operations': Array.from({ length: N }, (_, i) => ({
      op: 'add',
      data: {
        type: 'linked',
        lid: `n${i}`,
        attributes: { i, round, title: `book ${i}` },
        ...(i > 0 ? { relationships: { previous: { data: chained ? { type: 'linked', lid: `n${i - 1}` } : { type: 'linked', id: 'fixed' } } } } : {}),
      },
    })),
  });
}

const requestsCreates = (round: number) =>
  JSON.stringify(
    Array.from({ length: N }, (_, i) => ({
      id: String(i),
      method: 'POST',
      path: '/v1/created',
      headers: 'Content-Type: application/json',
      body: JSON.stringify({ i, round, title: `book ${i}` }),
      transaction: 'g',
    })),
  );

const opsCreates = (round: number) => JSON.stringify({ requests: Array.from({ length: N }, (_, i) => ({ method: 'POST', path: '/v1/created', body: { i, round, title: `book ${i}` } })) });

function senders(s: BenchServer, agent: Agent) {
  const post = async (path: string, body: string, contentType: string) => {
    const r = await httpCall(agent, s.port, 'POST', path, body, { authorization: `Bearer ${BENCH_TOKEN}`, 'content-type': contentType });
    if (r.status !== 200) throw new Error(`${path} answered ${r.status}: ${r.text.slice(0, 300)}`);
    return JSON.parse(r.text) as unknown;
  };
  const atomic: Send = async (round) => {
    const doc = (await post('/operations', atomicAdds(round), ATOMIC)) as { 'atomic:results': Array<{ data?: unknown }> };
    if (doc['atomic:results'].filter((r) => r.data).length !== N) throw new Error('atomic: not 100 adds');
  };
  const linked = (chained: boolean): Send => async (round) => {
    const doc = (await post('/operations', linkedAdds(round, chained), ATOMIC)) as { 'atomic:results': Array<{ data?: { id: string; relationships?: { previous: { data: { id: string } } } } }> };
    const results = doc['atomic:results'];
    if (results.length !== N || results.some((r) => !r.data)) throw new Error('atomic: not 100 adds');
    if (chained && results[N - 1]!.data!.relationships!.previous.data.id !== results[N - 2]!.data!.id) throw new Error('atomic: the chain did not resolve');
  };
  const requests: Send = async (round) => {
    const doc = (await post('/v1/batch', requestsCreates(round), 'application/json')) as Array<{ code: number }>;
    if (doc.filter((r) => r.code === 201).length !== N) throw new Error('requests: not 100 creates');
  };
  const ops: Send = async (round) => {
    const doc = (await post('/batch', opsCreates(round), 'application/json')) as { responses: Array<{ status: number }> };
    if (doc.responses.filter((r) => r.status === 201).length !== N) throw new Error('ops: not 100 creates');
  };
  return { atomic, linked, requests, ops };
}

/**
 * Each variant's median milliseconds over interleaved rounds (in a shuffled order, so none
 * always runs warmer or always meets the GC), and the median over rounds of each variant's
 * time over the first's in the same round: on a busy machine the load drifts between rounds,
 * and the ratio of two runs side by side is what stays put.
 */
async function measure(variants: Send[]): Promise<{ ms: number[]; ratios: number[] }> {
  const samples = await interleavedRounds(variants.map((v) => (round: number) => time(() => v(round))), ROUNDS);
  return { ms: samples.map(median), ratios: samples.map((xs) => median(xs.map((x, round) => samples[0]![round]! / x))) };
}

interface Row {
  backend: string;
  workload: string;
  'atomic µs/op': number;
  'baseline µs/op': number;
  ratio: number;
  target: string;
  met: boolean;
}

const perOp = (ms: number) => +((ms * 1000) / N).toFixed(1);

async function rowsFor(backend: string, s: BenchServer, agent: Agent): Promise<Row[]> {
  const send = senders(s, agent);
  const first = await measure([send.atomic, send.requests, send.ops]);
  const [atomic, group, ops] = first.ms as [number, number, number];
  const [, vsGroup, vsOps] = first.ratios as [number, number, number];
  const second = await measure([send.linked(true), send.linked(false)]);
  const [chain, independent] = second.ms as [number, number];
  const [, vsIndependent] = second.ratios as [number, number];
  return [
    {
      backend,
      workload: `${N} adds in one atomic request / ${N} POSTs in one transaction group (requests batch)`,
      'atomic µs/op': perOp(atomic),
      'baseline µs/op': perOp(group),
      ratio: +vsGroup.toFixed(2),
      target: '<= 1.3',
      met: vsGroup <= 1.3,
    },
    {
      backend,
      workload: `${N} adds in one atomic request / ${N} standalone POSTs through ops (batch commit, for reference)`,
      'atomic µs/op': perOp(atomic),
      'baseline µs/op': perOp(ops),
      ratio: +vsOps.toFixed(2),
      target: '-',
      met: true,
    },
    {
      backend,
      workload: `a ${N}-step lid chain / ${N} independent adds`,
      'atomic µs/op': perOp(chain),
      'baseline µs/op': perOp(independent),
      ratio: +vsIndependent.toFixed(2),
      target: '<= 1.2',
      met: vsIndependent <= 1.2,
    },
  ];
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
      rows.push(...(await rowsFor('sqlite', s, agent)));
    } finally {
      await s.close();
    }
    if (await pgReachable()) {
      const schema = `omnibus_bench_${randomBytes(5).toString('hex')}`;
      const store = await PostgresStore.open({ url: PG_URL, schema });
      const p = await benchServer({}, store);
      try {
        rows.push(...(await rowsFor('postgres', p, agent)));
      } finally {
        await p.close();
        const admin = new pg.Client({ connectionString: PG_URL });
        await admin.connect();
        await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await admin.end();
      }
    } else {
      console.log(`PostgreSQL at ${PG_URL} is not reachable: SQLite only.`);
    }
  } finally {
    agent.destroy();
  }
  console.table(rows);
  const file = writeResults('jsonapi-atomic', { rounds: ROUNDS, operations: N, rows });
  console.log(`results: ${file}`);
  const missed = rows.filter((r) => !r.met);
  if (missed.length > 0) console.log(`targets missed: ${missed.map((r) => `${r.backend} ${r.workload}`).join('; ')}`);
}

// `npx tsx bench/jsonapi-atomic.bench.ts` runs it alone.
if (import.meta.url === `file://${process.argv[1]}`) await run();
