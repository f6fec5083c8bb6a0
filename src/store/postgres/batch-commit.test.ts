import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isCI, PG_TEST_URL, pgAvailable } from '../../../test/support/backends.js';
import type { StoredRecord } from '../types.js';
import { PostgresStore } from './postgres-store.js';

const available = await pgAvailable();
if (!available && !isCI()) console.warn('\n*** PostgreSQL unreachable: batch-commit statement tests SKIPPED (they fail under CI=true) ***\n');

/** Every statement text the driver is asked to send while `sent` is being filled. */
const sent: string[] = [];
const send = pg.Client.prototype.query;

function record(id: string, tenant = 't'): StoredRecord {
  const now = new Date().toISOString();
  return { tenant, collection: 'c', id, data: { id }, etag: `e-${id}`, created: now, updated: now, createdBy: 'u', updatedBy: 'u' };
}

describe.runIf(available || isCI())('the PostgreSQL batch commit sends BEGIN with its first statement', () => {
  const schema = `omnibus_commit_${randomBytes(5).toString('hex')}`;
  const applicationName = `omnibus-test-${schema}`;
  let store: PostgresStore;

  beforeAll(async () => {
    store = await PostgresStore.open({ url: PG_TEST_URL, schema, applicationName });
    (pg.Client.prototype as { query: unknown }).query = function (this: pg.Client, config: unknown, ...rest: unknown[]) {
      sent.push(typeof config === 'string' ? config : String((config as { text?: unknown } | null)?.text));
      return (send as (...args: unknown[]) => unknown).call(this, config, ...rest);
    };
  });
  afterEach(() => {
    sent.length = 0;
  });
  afterAll(async () => {
    pg.Client.prototype.query = send;
    await store?.close();
    const admin = new pg.Client({ connectionString: PG_TEST_URL });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  });

  it('a batch whose operations send no statement sends no BEGIN and no COMMIT', async () => {
    const commit = store.openBatchCommit({ standaloneWrites: 2 })!;
    expect(await commit.run(true, async () => 'answered from memory', () => false)).toBe('answered from memory');
    expect(await commit.run(true, async () => 'precondition failed', () => true)).toBe('precondition failed');
    expect(commit.open).toBe(true);
    await commit.commit();
    expect(commit.open).toBe(false);
    expect(sent).toEqual([]);
  });

  it('BEGIN, the lock timeout and the first savepoint go out in one query with the first statement, and what follows commits', async () => {
    const commit = store.openBatchCommit({ standaloneWrites: 2 })!;
    expect(await commit.run(true, () => store.deleteRecord({ tenant: 't', collection: 'c', id: 'absent' }, 'x'), () => false)).toBe(false);
    expect(await commit.run(true, () => store.insertRecord(record('kept'), 1000), (r) => r !== 'inserted')).toBe('inserted');
    await commit.commit();
    expect(sent[0]).toMatch(/^BEGIN; SET LOCAL lock_timeout = \d+; SAVEPOINT omnibus_operation; DELETE FROM records\b/);
    expect(sent.filter((s) => /^BEGIN\b/.test(s))).toHaveLength(1);
    expect(sent[sent.length - 1]).toBe('COMMIT');
    expect((await store.getRecord({ tenant: 't', collection: 'c', id: 'kept' }))?.etag).toBe('e-kept');
  });

  it('an operation undone after its combined first statement leaves the transaction usable: the next one commits, it does not', async () => {
    const commit = store.openBatchCommit({ standaloneWrites: 2 })!;
    expect(await commit.run(true, () => store.insertRecord(record('undone', 'u'), 1000), () => true)).toBe('inserted');
    expect(await commit.run(true, () => store.insertRecord(record('after', 'u'), 1000), (r) => r !== 'inserted')).toBe('inserted');
    await commit.commit();
    expect(sent[0]).toMatch(/^BEGIN;.*SAVEPOINT omnibus_operation; /);
    expect(sent).toContain('ROLLBACK TO SAVEPOINT omnibus_operation');
    expect(await store.getRecord({ tenant: 'u', collection: 'c', id: 'undone' })).toBeUndefined();
    expect((await store.getRecord({ tenant: 'u', collection: 'c', id: 'after' }))?.etag).toBe('e-after');
    expect(await store.countRecords('u')).toBe(1);
  });

  it('batches that never sent a statement give their connections back outside any transaction, and the pool stays usable', async () => {
    for (let i = 0; i < 20; i++) {
      const commit = store.openBatchCommit({ standaloneWrites: 2 })!;
      await commit.run(true, async () => undefined, () => i % 2 === 0);
      await commit.run(true, async () => undefined, () => false);
      await (i % 3 === 0 ? commit.abort() : commit.commit());
    }
    expect(sent).toEqual([]);
    const admin = new pg.Client({ connectionString: PG_TEST_URL });
    await admin.connect();
    try {
      const r = await admin.query<{ state: string; n: number }>(
        'SELECT state, count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 GROUP BY state',
        [applicationName],
      );
      expect(r.rows.filter((row) => row.state !== 'idle')).toEqual([]);
      expect(r.rows.reduce((n, row) => n + row.n, 0)).toBeLessThanOrEqual(1); // one connection was enough for all of them
    } finally {
      await admin.end();
    }
  });
});
