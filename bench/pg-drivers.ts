/**
 * node-postgres (`pg`) vs porsager `postgres` on the store's real statements.
 *
 *   npx tsx bench/pg-drivers.ts [iterations=2000] [concurrency=8]
 *
 * Uses OMNIBUS_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test)
 * and a throwaway schema, dropped at the end. Each operation runs with the
 * same SQL and parameters on both drivers (pg: named prepared statements,
 * as PostgresStore does; postgres: tagged templates, which it prepares and
 * caches, and which measured ~15% faster than its `unsafe()`), both
 * with a pool of 10 connections, in two modes:
 *   - sequential: one call at a time (latency);
 *   - concurrent: `concurrency` callers in parallel (throughput).
 * Rounds alternate the driver order; the table shows the better round.
 * A third column runs the same operation through PostgresStore itself (pg
 * plus the store's own overhead: AsyncLocalStorage lookup, result mapping).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { RECORD_COLUMNS as COLUMNS, INSERT_SQL, REPLACE_SQL } from '../src/store/postgres/postgres-store.js';
import postgres from 'postgres';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import type { StoredRecord } from '../src/store/types.js';

const URL = process.env['OMNIBUS_BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const ITERATIONS = Number(process.argv[2] ?? 2000);
const CONCURRENCY = Number(process.argv[3] ?? 8);
const ROUNDS = 2;
const POOL = 10;
const schema = `omnibus_bench_${randomBytes(4).toString('hex')}`;

// The store's own statements, so the drivers are measured on exactly what it sends.
const GET_SQL = `SELECT ${COLUMNS} FROM records WHERE tenant = $1 AND collection = $2 AND id = $3`;

const DATA = {
  attributes: [
    { d: 'title', q: 'alternative', vt: 16, value: 'Nice book' },
    { d: 'author', vt: 16, value: 'Someone' },
    { d: 'pages', vt: 2, value: '312' },
  ],
  price: 12.5,
};
const NOW = '2024-01-01T00:00:00.000Z';

interface Driver {
  name: string;
  get(id: string): Promise<unknown>;
  /** As the store runs it outside a transaction: BEGIN; insert+count; COMMIT on one connection. */
  insert(id: string): Promise<unknown>;
  /** CAS: etag `from` -> `to`. */
  replace(id: string, from: string, to: string): Promise<unknown>;
  close(): Promise<void>;
}

function insertParams(tenant: string, id: string): unknown[] {
  return [tenant, 'items', id, JSON.stringify(DATA), 'e0', NOW, NOW, 'bench', 'bench', 0];
}
function replaceParams(tenant: string, id: string, from: string, to: string): unknown[] {
  return [JSON.stringify({ ...DATA, price: Math.random() }), to, NOW, 'bench', tenant, 'items', id, from];
}

function pgDriver(): Driver {
  const pool = new pg.Pool({ connectionString: URL, max: POOL, options: `-c search_path=${schema}` });
  pool.on('error', () => {});
  const tenant = 'pg';
  return {
    name: 'pg',
    get: (id) => pool.query({ name: 'get', text: GET_SQL, values: [tenant, 'items', id] }),
    async insert(id) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const r = await client.query({ name: 'insert', text: INSERT_SQL, values: insertParams(tenant, id) });
        await client.query('COMMIT');
        return r;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    replace: (id, from, to) => pool.query({ name: 'replace', text: REPLACE_SQL, values: replaceParams(tenant, id, from, to) }),
    close: () => pool.end(),
  };
}

function postgresDriver(): Driver {
  const sql = postgres(URL, { max: POOL, connection: { search_path: schema }, onnotice: () => {} });
  const tenant = 'postgres';
  // Tagged templates (prepared and cached by the driver), the same SQL text as above.
  return {
    name: 'postgres',
    get: (id) =>
      sql`SELECT tenant, collection, id, data, etag, created, updated, created_by, updated_by
          FROM records WHERE tenant = ${tenant} AND collection = ${'items'} AND id = ${id}`,
    insert: (id) =>
      sql.begin(
        (tx) => tx`
          WITH bump AS (
            INSERT INTO tenant_usage AS u (tenant, objects) VALUES (${tenant}, 1)
            ON CONFLICT (tenant) DO UPDATE SET objects = u.objects + 1
            WHERE ${0}::bigint <= 0 OR u.objects < ${0}::bigint
            RETURNING 1
          ), ins AS (
            INSERT INTO records (tenant, collection, id, data, etag, created, updated, created_by, updated_by)
            SELECT ${tenant}, ${'items'}, ${id}, ${JSON.stringify(DATA)}::jsonb, ${'e0'}, ${NOW}, ${NOW}, ${'bench'}, ${'bench'}
            WHERE EXISTS (SELECT 1 FROM bump)
            ON CONFLICT (tenant, collection, id) DO NOTHING
            RETURNING 1
          )
          SELECT EXISTS (SELECT 1 FROM bump) AS bumped,
                 EXISTS (SELECT 1 FROM ins) AS inserted,
                 EXISTS (SELECT 1 FROM records WHERE tenant = ${tenant} AND collection = ${'items'} AND id = ${id}) AS present`,
      ),
    replace: (id, from, to) =>
      sql`UPDATE records SET data = ${JSON.stringify({ ...DATA, price: Math.random() })}::jsonb, etag = ${to},
            updated = ${NOW}, updated_by = ${'bench'}
          WHERE tenant = ${tenant} AND collection = ${'items'} AND id = ${id} AND etag = ${from}`,
    close: () => sql.end({ timeout: 5 }),
  };
}

function storeDriver(store: PostgresStore): Driver {
  const tenant = 'store';
  const record = (id: string, etag: string): StoredRecord => ({
    tenant,
    collection: 'items',
    id,
    data: DATA,
    etag,
    created: NOW,
    updated: NOW,
    createdBy: 'bench',
    updatedBy: 'bench',
  });
  return {
    name: 'PostgresStore',
    get: (id) => store.getRecord({ tenant, collection: 'items', id }),
    insert: (id) => store.insertRecord(record(id, 'e0'), 0),
    replace: (id, from, to) => store.replaceRecord({ ...record(id, to), data: { ...DATA, price: Math.random() } }, from),
    close: async () => {},
  };
}

interface Result {
  opsPerSec: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
}

/** Runs `op(i)` for i in [0, n) with `concurrency` workers; per-call latencies. */
async function measure(n: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<Result> {
  const latencies = new Float64Array(n);
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) {
        const t0 = performance.now();
        await op(i);
        latencies[i] = performance.now() - t0;
      }
    }),
  );
  const elapsed = performance.now() - start;
  const sorted = Array.from(latencies).sort((a, b) => a - b);
  return {
    opsPerSec: (n / elapsed) * 1000,
    meanMs: sorted.reduce((a, b) => a + b, 0) / n,
    p50Ms: sorted[Math.floor(n * 0.5)]!,
    p99Ms: sorted[Math.min(n - 1, Math.floor(n * 0.99))]!,
  };
}

type OpName = 'get' | 'insert' | 'replace';

/** One round of every operation for one driver; ids are unique per round and driver. */
async function round(driver: Driver, r: number, concurrency: number, results: Map<string, Result[]>): Promise<void> {
  const prefix = `${r}-${concurrency}`;
  const ids = (i: number): string => `${prefix}-${i}`;
  const run = async (op: OpName, fn: (i: number) => Promise<unknown>): Promise<void> => {
    const key = `${driver.name}|${op}|${concurrency}`;
    const res = await measure(ITERATIONS, concurrency, fn);
    results.set(key, [...(results.get(key) ?? []), res]);
  };
  await run('insert', (i) => driver.insert(ids(i)));
  await run('get', (i) => driver.get(ids(i)));
  await run('replace', (i) => driver.replace(ids(i), 'e0', 'e1'));
}

async function main(): Promise<void> {
  const store = await PostgresStore.open({ url: URL, schema, poolSize: POOL }); // creates schema and tables
  const drivers = [pgDriver(), postgresDriver(), storeDriver(store)];
  const results = new Map<string, Result[]>();
  try {
    // Warm-up: connections opened, statements prepared, JIT warm.
    for (const d of drivers) {
      for (const c of [1, CONCURRENCY]) {
        await measure(300, c, (i) => d.insert(`warm-${c}-${i}`));
        await measure(300, c, (i) => d.get(`warm-${c}-${i}`));
        await measure(300, c, (i) => d.replace(`warm-${c}-${i}`, 'e0', 'e1'));
      }
    }
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? drivers : [...drivers].reverse();
      for (const concurrency of [1, CONCURRENCY]) for (const d of order) await round(d, r, concurrency, results);
    }
  } finally {
    for (const d of drivers) await d.close();
    await store.close();
    const admin = new pg.Client({ connectionString: URL });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }

  const best = (key: string): Result => results.get(key)!.reduce((a, b) => (b.opsPerSec > a.opsPerSec ? b : a));
  const fmt = (x: number, digits = 3): string => x.toFixed(digits);
  console.log(`PostgreSQL ${URL.replace(/\/\/[^@]*@/, '//')}, ${ITERATIONS} iterations per operation, pool ${POOL}, best of ${ROUNDS} rounds`);
  console.log(`node ${process.version}, pg ${pgVersion()}, postgres ${postgresVersion()}\n`);
  console.log('| operation | mode | pg ops/s | postgres ops/s | postgres vs pg | PostgresStore ops/s | pg p50 / p99 ms | postgres p50 / p99 ms |');
  console.log('|---|---|---:|---:|---:|---:|---|---|');
  for (const concurrency of [1, CONCURRENCY]) {
    for (const op of ['get', 'insert', 'replace'] as OpName[]) {
      const a = best(`pg|${op}|${concurrency}`);
      const b = best(`postgres|${op}|${concurrency}`);
      const s = best(`PostgresStore|${op}|${concurrency}`);
      const diff = ((b.opsPerSec / a.opsPerSec - 1) * 100).toFixed(1);
      console.log(
        `| ${op} | ${concurrency === 1 ? 'sequential' : `${concurrency} concurrent`} | ${fmt(a.opsPerSec, 0)} | ${fmt(b.opsPerSec, 0)} | ${Number(diff) > 0 ? '+' : ''}${diff}% | ${fmt(s.opsPerSec, 0)} | ${fmt(a.p50Ms)} / ${fmt(a.p99Ms)} | ${fmt(b.p50Ms)} / ${fmt(b.p99Ms)} |`,
      );
    }
  }
}

function pgVersion(): string {
  return readVersion('pg');
}
function postgresVersion(): string {
  return readVersion('postgres');
}
function readVersion(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(`node_modules/${pkg}/package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

await main();
