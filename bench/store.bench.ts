/**
 * The store at real size and the batch commit, side by side in one run:
 *
 * - PostgreSQL with 1,000 and with 50,000 records (autovacuum off, never
 *   analysed): a 100-GET batch and a 100-create batch. Target: per-operation
 *   cost at 50,000 within 1.3x of the cost at 1,000.
 * - The same 100-GET `ops` batch on SQLite at 50,000 records. Target:
 *   PostgreSQL within 2.5x of SQLite.
 * - SQLite (synchronous=FULL): a non-atomic batch of 100 creates with the
 *   batch commit, the same without it (every operation committed alone, as
 *   before), an atomic group of the same creates, and 100 separate HTTP
 *   creates. Targets: batch commit >= 4x faster than without, within 1.5x of
 *   the atomic group; the atomic group >= 20x faster than separate creates.
 *
 * Reads OMNIBUS_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test);
 * PostgreSQL parts are skipped with a message when it is unreachable.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { Store } from '../src/store/types.js';
import { benchServer, median, time, writeResults, type BenchServer } from './support.js';

const URL = process.env['OMNIBUS_BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = 100;
const ROUNDS = 7;

/** Loads `count` records into `items` through the store, in one transaction. */
async function load(store: Store, count: number): Promise<void> {
  const now = new Date().toISOString();
  await store.transaction(async () => {
    for (let i = 0; i < count; i++) {
      const data = { i, title: `item ${i}`, tags: ['a', 'b'], pages: 100 + (i % 700) };
      await store.insertRecord(
        { tenant: 'bench', collection: 'items', id: `r${i}`, data, etag: `e${i}`, created: now, updated: now, createdBy: 'bench', updatedBy: 'bench' },
        0,
        { freshId: true },
      );
    }
  });
}

function getBatch(size: number, round: number): unknown {
  // Keys spread over the whole collection, different each round.
  return { requests: Array.from({ length: N }, (_, i) => ({ method: 'GET', path: `/v1/items/r${(i * 7919 + round * 104729) % size}` })) };
}

function createBatch(round: number): unknown {
  return { requests: Array.from({ length: N }, (_, i) => ({ method: 'POST', path: '/v1/created', body: { i, round, title: `t${i}` } })) };
}

async function batchMs(s: BenchServer, body: unknown): Promise<number> {
  return time(async () => {
    const r = await s.post('/batch', body);
    if (r.status !== 200 || r.text.includes('"status":4') || r.text.includes('"status":5')) throw new Error(`batch failed: ${r.text.slice(0, 300)}`);
  });
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

async function pgServer(size: number, schemas: string[], batchCommit = true): Promise<BenchServer> {
  const schema = `omnibus_bench_${randomBytes(5).toString('hex')}`;
  schemas.push(schema);
  const store = await PostgresStore.open({ url: URL, schema });
  const admin = new pg.Client({ connectionString: URL });
  await admin.connect();
  await admin.query(`ALTER TABLE "${schema}".records SET (autovacuum_enabled = off)`);
  await admin.end();
  await load(store, size);
  if (!batchCommit) Object.defineProperty(store, 'openBatchCommit', { value: undefined });
  return benchServer({}, store);
}

function sqliteStore(batchCommit: boolean): SqliteStore {
  const store = new SqliteStore({ path: join(mkdtempSync(join(tmpdir(), 'omnibus-bench-')), 'bench.db') });
  // "Before": every standalone operation of a batch commits on its own.
  if (!batchCommit) Object.defineProperty(store, 'openBatchCommit', { value: undefined });
  return store;
}

type Variants = Record<string, (round: number) => Promise<number>>;

async function measure(variants: Variants): Promise<Record<string, number>> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (const fn of Object.values(variants)) await fn(ROUNDS); // warm-up
  for (let r = 0; r < ROUNDS; r++) for (const [name, fn] of Object.entries(variants)) samples[name]!.push(await fn(r));
  return Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, +((median(xs) * 1000) / N).toFixed(2)]));
}

function verdict(label: string, value: number, ok: boolean, target: string): { label: string; value: number; ok: boolean } {
  console.log(`  ${ok ? 'MET ' : 'MISS'} ${label}: ${value} (target ${target})`);
  return { label, value, ok };
}

export default async function run(): Promise<Record<string, unknown>> {
  const results: Record<string, unknown> = {};
  const checks: Array<{ label: string; value: number; ok: boolean }> = [];
  const ratio = (a: number, b: number) => +(a / b).toFixed(2);

  // --- SQLite: the batch commit ---
  const withCommit = await benchServer({}, sqliteStore(true));
  const without = await benchServer({}, sqliteStore(false));
  try {
    const group = (round: number) =>
      Array.from({ length: N }, (_, i) => ({ id: String(i), method: 'POST', path: '/v1/atomic', body: JSON.stringify({ i, round }), transaction: 'all' }));
    const perOp = await measure({
      'SQLite: 100 creates, batch commit': (r) => batchMs(withCommit, createBatch(r)),
      'SQLite: 100 creates, each committed alone (before)': (r) => batchMs(without, createBatch(r)),
      'SQLite: 100 creates, atomic group': (r) =>
        time(async () => {
          const res = await withCommit.post('/v1/batch', group(r));
          if (res.status !== 200 || !res.text.includes('"code":201')) throw new Error('atomic group failed');
        }),
      'SQLite: 100 separate HTTP creates': () =>
        time(async () => {
          for (let i = 0; i < N; i++) if ((await withCommit.request('POST', '/v1/separate', { i })).status !== 201) throw new Error('create failed');
        }),
    });
    console.log('\nSQLite (synchronous=FULL): per-operation microseconds');
    console.table(perOp);
    const commit = perOp['SQLite: 100 creates, batch commit']!;
    const before = perOp['SQLite: 100 creates, each committed alone (before)']!;
    const atomic = perOp['SQLite: 100 creates, atomic group']!;
    const separate = perOp['SQLite: 100 separate HTTP creates']!;
    checks.push(verdict('non-atomic 100 creates: before / batch commit', ratio(before, commit), before / commit >= 4, '>= 4'));
    checks.push(verdict('non-atomic 100 creates with batch commit / atomic group', ratio(commit, atomic), commit / atomic <= 1.5, '<= 1.5'));
    checks.push(verdict('100 separate HTTP creates / atomic group', ratio(separate, atomic), separate / atomic >= 20, '>= 20'));
    results['sqlite'] = perOp;
  } finally {
    await withCommit.close();
    await without.close();
  }

  // --- PostgreSQL at size, and against SQLite ---
  if (!(await pgReachable())) {
    console.warn(`*** PostgreSQL unreachable at ${URL}: the PostgreSQL part of store.bench SKIPPED ***`);
  } else {
    const schemas: string[] = [];
    const sqliteBig = sqliteStore(true);
    await load(sqliteBig, 50_000);
    const servers = {
      small: await pgServer(1_000, schemas),
      big: await pgServer(50_000, schemas),
      alone: await pgServer(1_000, schemas, false),
      sqlite: await benchServer({}, sqliteBig),
    };
    try {
      const perOp = await measure({
        'PostgreSQL 1,000 records: 100-GET batch': (r) => batchMs(servers.small, getBatch(1_000, r)),
        'PostgreSQL 50,000 records: 100-GET batch': (r) => batchMs(servers.big, getBatch(50_000, r)),
        'SQLite 50,000 records: 100-GET batch': (r) => batchMs(servers.sqlite, getBatch(50_000, r)),
        'PostgreSQL 1,000 records: 100-create batch': (r) => batchMs(servers.small, createBatch(r)),
        'PostgreSQL 50,000 records: 100-create batch': (r) => batchMs(servers.big, createBatch(r)),
        'PostgreSQL 1,000 records: 100-create batch, each committed alone': (r) => batchMs(servers.alone, createBatch(r)),
      });
      console.log('\nPostgreSQL at size (autovacuum off, no ANALYZE): per-operation microseconds');
      console.table(perOp);
      const g1 = perOp['PostgreSQL 1,000 records: 100-GET batch']!;
      const g50 = perOp['PostgreSQL 50,000 records: 100-GET batch']!;
      const c1 = perOp['PostgreSQL 1,000 records: 100-create batch']!;
      const c50 = perOp['PostgreSQL 50,000 records: 100-create batch']!;
      const sq = perOp['SQLite 50,000 records: 100-GET batch']!;
      checks.push(verdict('PostgreSQL GET batch: 50,000 / 1,000 records', ratio(g50, g1), g50 / g1 <= 1.3, '<= 1.3'));
      checks.push(verdict('PostgreSQL create batch: 50,000 / 1,000 records', ratio(c50, c1), c50 / c1 <= 1.3, '<= 1.3'));
      checks.push(verdict('100-GET ops batch at 50,000 records: PostgreSQL / SQLite', ratio(g50, sq), g50 / sq <= 2.5, '<= 2.5'));
      const alone = perOp['PostgreSQL 1,000 records: 100-create batch, each committed alone']!;
      console.log(`  PostgreSQL batch commit: creates committed alone / in one batch transaction = ${ratio(alone, c1)}x (the measurement behind choosing it)`);
      results['postgres'] = perOp;
    } finally {
      await servers.small.close();
      await servers.alone.close();
      await servers.big.close();
      await servers.sqlite.close();
      const admin = new pg.Client({ connectionString: URL });
      await admin.connect();
      for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    }
  }
  const file = writeResults('store', { perOperationMicroseconds: results, checks });
  console.log(`written ${file}`);
  return { results, checks };
}
