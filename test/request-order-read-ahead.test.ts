/**
 * On PostgreSQL, a batch that runs in request order reads ahead, in one
 * query, the records of its run of single-record reads and writes (PUT,
 * PATCH, DELETE), so that an If-Match update costs its write and not a read
 * first. Each operation must still see every operation before it, and a
 * record that another client changed after the read-ahead must never be
 * written over on the strength of what was read ahead.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/server.js';
import type { RecordKey } from '../src/store/types.js';
import { enabledBackends, POSTGRES_BACKEND, type BackendHandle } from './support/backends.js';
import {
  countingSends,
  opsBatch,
  schemaClient,
  startPostgresServer,
  stopPostgresServer,
  type OpsOperation,
  type PostgresServer,
} from './support/postgres-server.js';

const postgres = (await enabledBackends()).includes(POSTGRES_BACKEND);

describe.runIf(postgres)('a request-order batch on PostgreSQL reads its records ahead', () => {
  let handle: BackendHandle;
  let server: RunningServer;
  let admin: pg.Client;
  /** The keys of each `getRecords` call the store received (the read-ahead's one query). */
  const readAheads: RecordKey[][] = [];

  const batch = (requests: OpsOperation[]) => opsBatch(server, requests);
  /** `n` records `r0…` with `{ n: 0 }`; their ETags by id. */
  const seed = async (collection: string, n: number): Promise<Map<string, string>> => {
    const ids = Array.from({ length: n }, (_, i) => `r${i}`);
    const answers = await batch(ids.map((id) => ({ method: 'PUT', path: `/v1/${collection}/${id}`, body: { n: 0 } })));
    expect(answers.map((a) => a.status)).toEqual(ids.map(() => 201));
    return new Map(ids.map((id, i) => [id, answers[i]!.headers['etag']!]));
  };
  const stored = async (collection: string): Promise<Map<string, unknown>> => {
    const r = await admin.query<{ id: string; data: unknown }>('SELECT id, data FROM records WHERE collection = $1', [collection]);
    return new Map(r.rows.map((row) => [row.id, row.data]));
  };

  let fixture: PostgresServer | undefined;
  beforeAll(async () => {
    fixture = await startPostgresServer({
      watch: (store) => {
        const getRecords = store.getRecords.bind(store);
        store.getRecords = (keys) => {
          readAheads.push(keys);
          return getRecords(keys);
        };
      },
    });
    ({ handle, server, admin } = fixture);
  });
  afterAll(() => stopPostgresServer(fixture));

  it('100 If-Match PUTs of different records: all written, with one read of them all instead of one per PUT', async () => {
    const etags = await seed('puts', 100);
    const ids = [...etags.keys()];
    readAheads.length = 0;
    const { result, sends } = await countingSends(admin, () =>
      batch(ids.map((id, i) => ({ method: 'PUT', path: `/v1/puts/${id}`, headers: { 'If-Match': etags.get(id)! }, body: { n: i + 1 } }))),
    );
    expect(result.map((a) => a.status)).toEqual(ids.map(() => 200));
    expect(result.map((a) => a.body.n)).toEqual(ids.map((_, i) => i + 1));
    const after = await stored('puts');
    expect(ids.map((id) => (after.get(id) as { n: number }).n)).toEqual(ids.map((_, i) => i + 1));
    expect(readAheads.map((keys) => keys.map((k) => k.id))).toEqual([ids]);
    // A read and then a write per PUT would be 200 sends; here the writes, the read-ahead and the commit.
    expect(sends).toBeLessThanOrEqual(105);
  });

  it('an operation on a record that one before it in the run wrote sees that write', async () => {
    const etags = await seed('seen', 4);
    readAheads.length = 0;
    const answers = await batch([
      { method: 'PUT', path: '/v1/seen/r0', headers: { 'If-Match': etags.get('r0')! }, body: { n: 1 } },
      { method: 'GET', path: '/v1/seen/r0' },
      { method: 'PATCH', path: '/v1/seen/r0', body: { m: 2 } },
      { method: 'DELETE', path: '/v1/seen/r1' },
      { method: 'GET', path: '/v1/seen/r1' },
      { method: 'PUT', path: '/v1/seen/r2', headers: { 'If-Match': '"stale"' }, body: { n: 'lost' } },
      { method: 'GET', path: '/v1/seen/r2' },
      { method: 'PUT', path: '/v1/seen/fresh', body: { n: 4 } },
      { method: 'GET', path: '/v1/seen/fresh' },
      { method: 'DELETE', path: '/v1/seen/r3', headers: { 'If-Match': etags.get('r3')! } },
    ]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 204, 404, 412, 200, 201, 200, 204]);
    expect(answers[1]!.body).toEqual({ id: 'r0', n: 1 });
    expect(answers[2]!.body).toEqual({ id: 'r0', n: 1, m: 2 });
    expect(answers[6]!.body).toEqual({ id: 'r2', n: 0 });
    expect(answers[8]!.body).toEqual({ id: 'fresh', n: 4 });
    expect(answers[1]!.headers['etag']).toBe(answers[0]!.headers['etag']);
    expect(readAheads.map((keys) => new Set(keys.map((k) => k.id)))).toEqual([new Set(['r0', 'r1', 'r2', 'fresh', 'r3'])]);
    const after = await stored('seen');
    expect(Object.fromEntries(after)).toEqual({ r0: { n: 1, m: 2 }, r2: { n: 0 }, fresh: { n: 4 } });
  });

  it('a create or a list ends the run: what follows reads the store and sees it', async () => {
    await seed('cut', 2);
    readAheads.length = 0;
    const answers = await batch([
      { method: 'PATCH', path: '/v1/cut/r0', body: { n: 1 } },
      { method: 'GET', path: '/v1/cut/r1' },
      { method: 'POST', path: '/v1/cut', body: { n: 'created' } },
      { method: 'GET', path: '/v1/cut' },
      { method: 'PATCH', path: '/v1/cut/r1', body: { n: 2 } },
      { method: 'GET', path: '/v1/cut/r1' },
    ]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 201, 200, 200, 200]);
    expect(answers[3]!.body.items.map((x: { n: unknown }) => x.n).sort()).toEqual([1, 0, 'created'].sort());
    expect(answers[5]!.body).toEqual({ id: 'r1', n: 2 });
    // Only the first run was read ahead: after it the batch's transaction is open.
    expect(readAheads.map((keys) => keys.map((k) => k.id))).toEqual([['r0', 'r1']]);
  });

  it('a record another client changes after the read-ahead is written only against what that client left', async () => {
    const etags = await seed('raced', 2);
    const other = await schemaClient(handle.location);
    try {
      await other.query('BEGIN');
      await other.query(`UPDATE records SET data = '{"n":"other"}'::jsonb, etag = 'other' WHERE collection = 'raced' AND id = 'r0'`);
      // The batch reads r0 ahead as committed (n 0, its first ETag) while the other client holds it.
      const answering = batch([
        { method: 'PUT', path: '/v1/raced/r0', headers: { 'If-Match': etags.get('r0')! }, body: { n: 'stale' } },
        { method: 'PUT', path: '/v1/raced/r1', headers: { 'If-Match': etags.get('r1')! }, body: { n: 1 } },
      ]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await other.query('COMMIT');
      const answers = await answering;
      expect(answers.map((a) => a.status)).toEqual([412, 200]);
      expect(answers[0]!.body.code).toBe('precondition_failed');
    } finally {
      await other.end();
    }
    const after = await stored('raced');
    expect(Object.fromEntries(after)).toEqual({ r0: { n: 'other' }, r1: { n: 1 } });
  });
});
