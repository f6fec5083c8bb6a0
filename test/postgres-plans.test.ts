import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  DELETE_ONLY_SQL,
  DELETE_SQL,
  GET_RECORD_SQL,
  GET_RECORDS_SQL,
  INSERT_ONLY_SQL,
  INSERT_SQL,
  LIST_RECORDS_SQL,
  REPLACE_SQL,
} from '../src/store/postgres/statements.js';
import { backendEnabled, PG_TEST_URL, POSTGRES_BACKEND, type BackendHandle } from './support/backends.js';

const ROWS = 50_000;
const enabled = await backendEnabled(POSTGRES_BACKEND);

/** The statements that name one record (or a set of records by key), with parameters for one existing key. */
function keyStatements(id: string): Array<{ name: string; sql: string; params: unknown[] }> {
  const now = new Date().toISOString();
  const row = ['plans', 'books', id, '{"t":1}', 'e1', now, now, 's', 's'];
  return [
    { name: 'key lookup', sql: GET_RECORD_SQL, params: ['plans', 'books', id] },
    { name: 'read-ahead of many keys', sql: GET_RECORDS_SQL, params: [['plans', 'plans'], ['books', 'books'], [id, 'absent']] },
    { name: 'create (outside a transaction)', sql: INSERT_SQL, params: [...row.slice(0, 2), 'fresh-id', ...row.slice(3), 0] },
    { name: 'create (inside a transaction)', sql: INSERT_ONLY_SQL, params: [...row.slice(0, 2), 'fresh-id-2', ...row.slice(3)] },
    { name: 'replace', sql: REPLACE_SQL, params: ['{"t":2}', 'e2', now, 's', 'plans', 'books', id, 'e1'] },
    { name: 'delete (outside a transaction)', sql: DELETE_SQL, params: ['plans', 'books', id, 'e1'] },
    { name: 'delete (inside a transaction)', sql: DELETE_ONLY_SQL, params: ['plans', 'books', id, 'e1'] },
  ];
}

/** EXPLAIN of `sql` as a prepared statement, with a generic or a custom plan (inside a transaction that is rolled back). */
async function explain(client: pg.Client, sql: string, params: unknown[], mode: 'force_generic_plan' | 'force_custom_plan'): Promise<string> {
  await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL plan_cache_mode = ${mode}`);
    const r = await client.query<{ 'QUERY PLAN': string }>({ text: `EXPLAIN ${sql}`, values: params });
    return r.rows.map((x) => x['QUERY PLAN']).join('\n');
  } finally {
    await client.query('ROLLBACK');
  }
}

/** Every scan of `records` in the plan goes through the primary key with all three key columns in its condition. */
function expectPrimaryKeyPlan(plan: string, name: string): void {
  expect(plan, `${name}:\n${plan}`).not.toMatch(/Seq Scan on records/);
  expect(plan, `${name}:\n${plan}`).not.toMatch(/records_by_collection|records_list/);
  const scans = plan.match(/Index (Only )?Scan using (\w+) on records/g) ?? [];
  if (/Insert on records/.test(plan)) {
    // An insert finds a taken id through its conflict arbiter, which must be the primary key.
    expect(plan, `${name}:\n${plan}`).toMatch(/Conflict Arbiter Indexes: records_pkey/);
  } else {
    expect(scans.length, `${name}: no index scan of records\n${plan}`).toBeGreaterThan(0);
  }
  for (const s of scans) expect(s, `${name}:\n${plan}`).toMatch(/records_pkey/);
  // The id is part of the index condition, not a filter applied to the whole collection.
  expect(plan, `${name}:\n${plan}`).not.toMatch(/Filter: \(id =/);
}

describe.skipIf(!enabled)('PostgreSQL plans with no table statistics (autovacuum off)', () => {
  let handle: BackendHandle;
  let client: pg.Client;
  let someId: string;

  beforeAll(async () => {
    handle = await POSTGRES_BACKEND.open();
    // A client of its own on the test schema, for EXPLAIN.
    client = new pg.Client({ connectionString: PG_TEST_URL });
    client.on('error', () => {});
    await client.connect();
    await client.query(`SET search_path = "${handle.location}"`);
    await client.query('ALTER TABLE records SET (autovacuum_enabled = off)');
  });
  afterAll(async () => {
    await client?.end().catch(() => {});
    await handle?.cleanup();
  });

  it('plans every key statement on the primary key while the table is still empty', async () => {
    for (const s of keyStatements('x')) {
      for (const mode of ['force_custom_plan', 'force_generic_plan'] as const) {
        expectPrimaryKeyPlan(await explain(client, s.sql, s.params, mode), `${s.name} (${mode})`);
      }
    }
  });

  it(`plans key lookup, create, replace and delete on the primary key at ${ROWS} records, never analysed`, async () => {
    const store = handle.store;
    const now = new Date().toISOString();
    await store.transaction(async () => {
      for (let i = 0; i < ROWS; i++) {
        await store.insertRecord(
          { tenant: 'plans', collection: 'books', id: `b${i}`, data: { i, title: `t${i}` }, etag: `e${i}`, created: now, updated: now, createdBy: 's', updatedBy: 's' },
          0,
          { freshId: true },
        );
      }
    });
    const stats = await client.query<{ n: string; analysed: Date | null }>(
      `SELECT (SELECT count(*) FROM records) AS n,
              (SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'records' AND schemaname = $1) AS analysed`,
      [handle.location],
    );
    expect(Number(stats.rows[0]!.n)).toBe(ROWS);
    expect(stats.rows[0]!.analysed).toBeNull();
    someId = `b${ROWS - 7}`;
    for (const s of keyStatements(someId)) {
      for (const mode of ['force_custom_plan', 'force_generic_plan'] as const) {
        expectPrimaryKeyPlan(await explain(client, s.sql, s.params, mode), `${s.name} (${mode})`);
      }
    }
  }, 120_000);

  it('lists a collection through its own index, in insertion order', async () => {
    const sql = `${LIST_RECORDS_SQL} ORDER BY seq LIMIT $3 OFFSET $4`;
    const plan = await explain(client, sql, ['plans', 'books', 51, 0], 'force_generic_plan');
    expect(plan).toMatch(/records_by_collection/);
    expect(plan).not.toMatch(/Seq Scan/);
    // The lookup answers from the index: a key read touches a handful of buffers, not the collection.
    const analysed = await client.query<{ 'QUERY PLAN': string }>({
      text: `EXPLAIN (ANALYZE, BUFFERS) ${GET_RECORD_SQL}`,
      values: ['plans', 'books', someId],
    });
    const text = analysed.rows.map((r) => r['QUERY PLAN']).join('\n');
    const hits = /Buffers: shared (?:hit=(\d+))?(?: read=(\d+))?/.exec(text);
    const buffers = Number(hits?.[1] ?? 0) + Number(hits?.[2] ?? 0);
    expect(buffers, text).toBeLessThan(20);
  });

  it('reads the 50,000-record collection through the store with the same results', async () => {
    const got = await handle.store.getRecords([
      { tenant: 'plans', collection: 'books', id: 'b1' },
      { tenant: 'plans', collection: 'books', id: 'missing' },
      { tenant: 'plans', collection: 'books', id: `b${ROWS - 1}` },
    ]);
    expect(got.map((r) => r.id).sort()).toEqual(['b1', `b${ROWS - 1}`]);
    expect(await handle.store.countRecords('plans')).toBe(ROWS);
  });
});
