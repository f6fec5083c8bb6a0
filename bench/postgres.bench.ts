/**
 * The batch engine on PostgreSQL, side by side in one run: a 100-GET batch
 * against 100 separate HTTP requests, and an atomic group of 100 creates
 * against 100 separately committed creates over HTTP. Target: the atomic
 * group at least 10x faster. Uses OMNIBUS_BENCH_DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432/test) in a throwaway schema.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { benchServer, median, time, writeResults, type BenchServer } from './support.js';

const URL = process.env['OMNIBUS_BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = 100;
const ROUNDS = 7;

async function variantsFor(s: BenchServer) {
  const gets = Array.from({ length: N }, (_, i) => ({ method: 'GET', path: `/v1/items/r${i}` }));
  let round = 0;
  return {
    'GET: one batch of 100 over HTTP': () =>
      time(async () => {
        const r = await s.post('/batch', { requests: gets });
        if (r.status !== 200) throw new Error(`batch ${r.status}`);
      }),
    'GET: 100 sequential keep-alive requests': () =>
      time(async () => {
        for (const g of gets) await s.request('GET', g.path);
      }),
    'GET: 100 requests at concurrency 10': () =>
      time(async () => {
        let next = 0;
        await Promise.all(
          Array.from({ length: 10 }, async () => {
            while (next < gets.length) await s.request('GET', gets[next++]!.path);
          }),
        );
      }),
    'create: atomic group of 100 in one batch': () => {
      round++;
      const group = Array.from({ length: N }, (_, i) => ({ id: String(i), method: 'POST', path: '/v1/atomic', body: JSON.stringify({ i, round }), transaction: 'all' }));
      return time(async () => {
        const r = await s.post('/v1/batch', group);
        if (r.status !== 200 || r.text.includes('"code":4') || r.text.includes('"code":5')) throw new Error('atomic batch failed');
      });
    },
    'create: 100 separately committed over HTTP': () =>
      time(async () => {
        for (let i = 0; i < N; i++) {
          const r = await s.request('POST', '/v1/separate', { i });
          if (r.status !== 201) throw new Error(`create ${r.status}`);
        }
      }),
  };
}

export default async function run(): Promise<Record<string, unknown> | undefined> {
  const probe = new pg.Client({ connectionString: URL });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.end();
  } catch {
    console.warn(`*** PostgreSQL unreachable at ${URL}: postgres bench SKIPPED ***`);
    return undefined;
  }
  const schema = `omnibus_bench_${randomBytes(5).toString('hex')}`;
  const store = await PostgresStore.open({ url: URL, schema });
  const s = await benchServer({}, store);
  try {
    for (let i = 0; i < N; i++) await s.request('PUT', `/v1/items/r${i}`, { i, title: `item ${i}` });
    const v = await variantsFor(s);
    const samples: Record<string, number[]> = Object.fromEntries(Object.keys(v).map((k) => [k, []]));
    for (const fn of Object.values(v)) await fn();
    for (let r = 0; r < ROUNDS; r++) for (const [name, fn] of Object.entries(v)) samples[name]!.push(await fn());
    const perOp = Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, +((median(xs) * 1000) / N).toFixed(2)]));
    const ratios = {
      'GET: sequential / batch': +(perOp['GET: 100 sequential keep-alive requests']! / perOp['GET: one batch of 100 over HTTP']!).toFixed(2),
      'GET: concurrency 10 / batch': +(perOp['GET: 100 requests at concurrency 10']! / perOp['GET: one batch of 100 over HTTP']!).toFixed(2),
      'create: separate / atomic group': +(perOp['create: 100 separately committed over HTTP']! / perOp['create: atomic group of 100 in one batch']!).toFixed(2),
    };
    console.log(`\nPostgreSQL: per-operation microseconds (median of ${ROUNDS} rounds)`);
    console.table(perOp);
    const target = ratios['create: separate / atomic group'];
    console.log(`  ${target >= 10 ? 'MET ' : 'MISS'} atomic group of 100 creates vs 100 separate: ${target}x (target >= 10)`);
    console.log(`  GET batch vs sequential: ${ratios['GET: sequential / batch']}x, vs concurrency 10: ${ratios['GET: concurrency 10 / batch']}x`);
    const file = writeResults('postgres', { perOperationMicroseconds: perOp, ratios });
    console.log(`written ${file}`);
    return { perOp, ratios };
  } finally {
    await s.close();
    const admin = new pg.Client({ connectionString: URL });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
}
