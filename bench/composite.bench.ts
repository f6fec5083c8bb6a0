/**
 * Salesforce Composite (POST /services/data/v59.0/composite) against the
 * same work in the seed dialects, side by side on real servers, interleaved
 * rounds, medians:
 *
 * (a) 100 creates in one allOrNone request vs the same 100 POSTs in one
 *     transaction group. `ops` (POST /batch) has no transaction groups, so
 *     the one-group baseline is the `requests` batch (POST /v1/batch) with
 *     one `transaction` for all: the same engine path, one group of 100
 *     POSTs in one store transaction. Target: composite / group <= 1.3 per
 *     operation. For reference, also the same POSTs through `ops`, each on
 *     its own in the batch commit (no target).
 * (b) a 100-step reference chain (each create's body carries
 *     `"previous": "@{n<i-1>.id}"`, resolved from the
 *     answer before) vs 100 independent creates of the same shape (a literal
 *     id as long as an assigned one, so both store as much), both allOrNone.
 *     Target: <= 1.2.
 *
 * On SQLite (temp file, synchronous as the store default) always; on
 * PostgreSQL (OMNIBUS_BENCH_DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test, a throwaway schema) when it is
 * reachable. Prints per-operation microseconds and ratios; writes
 * .tmp/bench/composite.json.
 */
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import pg from 'pg';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { BENCH_TOKEN, benchServer, httpCall, interleavedRounds, median, time, writeResults, type BenchServer } from './support.js';

const PG_URL = process.env['OMNIBUS_BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = 100;
const ROUNDS = 21;
const ENDPOINT = '/services/data/v59.0/composite';

type Send = (round: number) => Promise<void>;

/** 100 creates of the same records the baselines create, in one allOrNone request. */
const compositeCreates = (round: number) =>
  JSON.stringify({
    allOrNone: true,
    compositeRequest: Array.from({ length: N }, (_, i) => ({ method: 'POST', url: '/services/data/v59.0/sobjects/created', referenceId: `n${i}`, body: { i, round, title: `book ${i}` } })),
  });

/** An id as long as the ones the server assigns, so both variants store as much. */
const LITERAL_ID = 'k0Aa1Bb2Cc3Dd4';

/** 100 creates, each naming the one before: by a reference to its answer (a chain), or by a literal id (independent). */
function linkedCreates(round: number, chained: boolean): string {
  return JSON.stringify({
    allOrNone: true,
    compositeRequest: Array.from({ length: N }, (_, i) => ({
      method: 'POST',
      url: '/v1/linked',
      referenceId: `n${i}`,
      body: { i, round, title: `book ${i}`, ...(i > 0 ? { previous: chained ? `@{n${i - 1}.id}` : LITERAL_ID } : {}) },
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
  type Answer = { compositeResponse: Array<{ httpStatusCode: number; body: { id: string; previous?: string } }> };
  const composite: Send = async (round) => {
    const doc = (await post(ENDPOINT, compositeCreates(round), 'application/json')) as Answer;
    if (doc.compositeResponse.filter((r) => r.httpStatusCode === 201).length !== N) throw new Error('composite: not 100 creates');
  };
  const linked = (chained: boolean): Send => async (round) => {
    const results = ((await post(ENDPOINT, linkedCreates(round, chained), 'application/json')) as Answer).compositeResponse;
    if (results.length !== N || results.some((r) => r.httpStatusCode !== 201)) throw new Error('composite: not 100 creates');
    if (chained && results[N - 1]!.body.previous !== results[N - 2]!.body.id) throw new Error('composite: the chain did not resolve');
  };
  const requests: Send = async (round) => {
    const doc = (await post('/v1/batch', requestsCreates(round), 'application/json')) as Array<{ code: number }>;
    if (doc.filter((r) => r.code === 201).length !== N) throw new Error('requests: not 100 creates');
  };
  const ops: Send = async (round) => {
    const doc = (await post('/batch', opsCreates(round), 'application/json')) as { responses: Array<{ status: number }> };
    if (doc.responses.filter((r) => r.status === 201).length !== N) throw new Error('ops: not 100 creates');
  };
  return { composite, linked, requests, ops };
}

/** Median milliseconds of each variant over interleaved rounds (in a shuffled order, so none always runs warmer, or always meets the GC). */
async function measure(variants: Send[]): Promise<number[]> {
  const samples = await interleavedRounds(variants.map((v) => (round: number) => time(() => v(round))), ROUNDS);
  return samples.map(median);
}

interface Row {
  backend: string;
  workload: string;
  'composite µs/op': number;
  'baseline µs/op': number;
  ratio: number;
  target: string;
  met: boolean;
}

const perOp = (ms: number) => +((ms * 1000) / N).toFixed(1);

async function rowsFor(backend: string, s: BenchServer, agent: Agent): Promise<Row[]> {
  const send = senders(s, agent);
  const [composite, group, ops] = (await measure([send.composite, send.requests, send.ops])) as [number, number, number];
  const [chain, independent] = (await measure([send.linked(true), send.linked(false)])) as [number, number];
  return [
    {
      backend,
      workload: `${N} creates in one allOrNone request / ${N} POSTs in one transaction group (requests batch)`,
      'composite µs/op': perOp(composite),
      'baseline µs/op': perOp(group),
      ratio: +(composite / group).toFixed(2),
      target: '<= 1.3',
      met: composite / group <= 1.3,
    },
    {
      backend,
      workload: `${N} creates in one allOrNone request / ${N} standalone POSTs through ops (batch commit, for reference)`,
      'composite µs/op': perOp(composite),
      'baseline µs/op': perOp(ops),
      ratio: +(composite / ops).toFixed(2),
      target: '-',
      met: true,
    },
    {
      backend,
      workload: `a ${N}-step @{...} reference chain / ${N} independent creates`,
      'composite µs/op': perOp(chain),
      'baseline µs/op': perOp(independent),
      ratio: +(chain / independent).toFixed(2),
      target: '<= 1.2',
      met: chain / independent <= 1.2,
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
  const file = writeResults('composite', { rounds: ROUNDS, operations: N, rows });
  console.log(`results: ${file}`);
  const missed = rows.filter((r) => !r.met);
  if (missed.length > 0) console.log(`targets missed: ${missed.map((r) => `${r.backend} ${r.workload}`).join('; ')}`);
}

// `npx tsx bench/composite.bench.ts` runs it alone.
if (import.meta.url === `file://${process.argv[1]}`) await run();
