/**
 * The OData multipart batch against the OData JSON batch doing the same
 * work, side by side on real servers, interleaved rounds, medians:
 *
 *   100 creates in ONE change set (multipart/mixed, one transaction) vs the
 *   same 100 POSTs in ONE atomicityGroup of an OData JSON batch.
 *
 * Target: multipart / JSON <= 1.5 per operation (the multipart parse, the
 * per-part JSON.parse and the multipart answer are the overhead). On SQLite
 * (temp file, synchronous as the store default) always; on PostgreSQL
 * (OMNIBUS_BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test,
 * a throwaway schema) when it is reachable. Prints per-operation microseconds
 * and the ratio; writes .tmp/bench/odata-multipart.json.
 */
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import pg from 'pg';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { BENCH_TOKEN, benchServer, httpCall, interleavedRounds, median, time, writeResults, type BenchServer } from './support.js';

const PG_URL = process.env['OMNIBUS_BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = 100;
const ROUNDS = 21;
const TARGET = 1.5;

const CRLF = '\r\n';

/** 100 creates in one change set, as SAP Cloud SDK writes them (Content-ID per request). */
function multipartCreates(round: number): { body: string; contentType: string } {
  const lines = ['--batch_bench', 'Content-Type: multipart/mixed; boundary=changeset_bench', ''];
  for (let i = 0; i < N; i++) {
    lines.push(
      '--changeset_bench',
      'Content-Type: application/http',
      'Content-Transfer-Encoding: binary',
      `Content-ID: ${i + 1}`,
      '',
      'POST /v1/created HTTP/1.1',
      'Content-Type: application/json',
      'Accept: application/json',
      '',
      JSON.stringify({ i, round, title: `book ${i}` }),
    );
  }
  lines.push('--changeset_bench--', '--batch_bench--', '');
  return { body: lines.join(CRLF), contentType: 'multipart/mixed; boundary=batch_bench' };
}

function jsonCreates(round: number): string {
  return JSON.stringify({
    requests: Array.from({ length: N }, (_, i) => ({
      id: String(i + 1),
      method: 'POST',
      url: '/v1/created',
      atomicityGroup: 'g',
      headers: { 'content-type': 'application/json' },
      body: { i, round, title: `book ${i}` },
    })),
  });
}

async function post(agent: Agent, s: BenchServer, body: string, contentType: string): Promise<string> {
  const r = await httpCall(agent, s.port, 'POST', '/v1/$batch', body, { authorization: `Bearer ${BENCH_TOKEN}`, 'content-type': contentType });
  if (r.status !== 200) throw new Error(`/v1/$batch answered ${r.status}: ${r.text.slice(0, 300)}`);
  return r.text;
}

interface Row {
  backend: string;
  workload: string;
  'multipart µs/op': number;
  'json µs/op': number;
  'multipart / json': number;
  target: string;
  met: boolean;
}

async function measure(backend: string, s: BenchServer, agent: Agent): Promise<Row> {
  const variants: Array<(round: number) => Promise<number>> = [
    (round) => {
      const { body, contentType } = multipartCreates(round);
      return time(async () => {
        const text = await post(agent, s, body, contentType);
        if ((text.match(/HTTP\/1\.1 201 Created/g) ?? []).length !== N) throw new Error(`multipart: not ${N} creates: ${text.slice(0, 300)}`);
      });
    },
    (round) => {
      const body = jsonCreates(round);
      return time(async () => {
        const doc = JSON.parse(await post(agent, s, body, 'application/json')) as { responses: Array<{ status: number }> };
        if (doc.responses.filter((r) => r.status === 201).length !== N) throw new Error('json: not 100 creates');
      });
    },
  ];
  const samples = await interleavedRounds(variants, ROUNDS);
  const [multipart, json] = samples.map(median) as [number, number];
  const ratio = multipart / json;
  return {
    backend,
    workload: `${N} creates in one change set / one atomicity group`,
    'multipart µs/op': +((multipart * 1000) / N).toFixed(1),
    'json µs/op': +((json * 1000) / N).toFixed(1),
    'multipart / json': +ratio.toFixed(2),
    target: `<= ${TARGET}`,
    met: ratio <= TARGET,
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
      rows.push(await measure('sqlite', s, agent));
    } finally {
      await s.close();
    }
    if (await pgReachable()) {
      const schema = `omnibus_bench_${randomBytes(5).toString('hex')}`;
      const store = await PostgresStore.open({ url: PG_URL, schema });
      const p = await benchServer({}, store);
      try {
        rows.push(await measure('postgres', p, agent));
      } finally {
        await p.close();
        const admin = new pg.Client({ connectionString: PG_URL });
        await admin.connect();
        await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await admin.end();
      }
    } else {
      console.warn(`*** PostgreSQL unreachable at ${PG_URL}: the PostgreSQL comparison is SKIPPED ***`);
    }
  } finally {
    agent.destroy();
  }
  console.log(`\nodata-multipart: per-operation microseconds, median of ${ROUNDS} interleaved rounds`);
  console.table(rows);
  const file = writeResults('odata-multipart', { rounds: ROUNDS, n: N, rows });
  console.log(`\nwritten ${file}`);
}

// `npx tsx bench/odata-multipart.bench.ts` runs it alone.
if (import.meta.url === `file://${process.argv[1]}`) await run();
