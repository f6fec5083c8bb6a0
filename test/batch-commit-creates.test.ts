/**
 * On PostgreSQL, the creates of a batch's standalone operations are kept
 * back and go out with the next statement or the COMMIT, each inside its
 * operation's savepoint, instead of a round trip each. Each operation must
 * still stand alone: one that fails after them never takes them with it, and
 * a kept-back create that the database refuses never leaves its operation
 * answered 201.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enabledBackends, POSTGRES_BACKEND } from './support/backends.js';
import {
  countingSends,
  opsBatch,
  sendOpsBatch,
  startPostgresServer,
  stopPostgresServer,
  type OpsOperation,
  type PostgresServer,
} from './support/postgres-server.js';

const postgres = (await enabledBackends()).includes(POSTGRES_BACKEND);

describe.runIf(postgres)('creates in a batch on PostgreSQL', () => {
  let fixture: PostgresServer | undefined;
  let admin: pg.Client;

  const send = (requests: OpsOperation[]) => sendOpsBatch(fixture!.server, requests);
  const batch = (requests: OpsOperation[]) => opsBatch(fixture!.server, requests);
  const stored = async (collection: string): Promise<unknown[]> =>
    (await admin.query<{ data: unknown }>('SELECT data FROM records WHERE collection = $1 ORDER BY seq', [collection])).rows.map((r) => r.data);

  beforeAll(async () => {
    // One batch transaction however slow the machine: the round trips counted are the batch's own, not its commits'.
    fixture = await startPostgresServer({ store: { batchCommitMs: 60_000 } });
    admin = fixture.admin;
  });
  afterAll(() => stopPostgresServer(fixture));

  it('100 creates: all written, in order, in a handful of round trips instead of one per create', async () => {
    const { result, sends } = await countingSends(admin, () =>
      batch(Array.from({ length: 100 }, (_, i) => ({ method: 'POST', path: '/v1/many', body: { n: i } }))),
    );
    expect(result.map((a) => a.status)).toEqual(result.map(() => 201));
    expect(await stored('many')).toEqual(Array.from({ length: 100 }, (_, i) => ({ n: i })));
    // Every create answered is readable under its Location.
    const located = await batch(result.map((a) => ({ method: 'GET', path: a.headers['location']! })));
    expect(located.map((a) => a.body.n)).toEqual(result.map((_, i) => i));
    // One round trip per create would be 100; here the token's lookup, then the kept-back INSERTs riding with
    // the statements that end the transaction (the counter's lock timeout, its update, the COMMIT).
    expect(sends).toBeLessThanOrEqual(4);
  });

  it('an operation that fails after kept-back creates rolls back only itself', async () => {
    const seeded = await batch([{ method: 'PUT', path: '/v1/mixed/x', body: { n: 'x' } }]);
    const answers = await batch([
      { method: 'POST', path: '/v1/mixed', body: { n: 1 } },
      // Reads x (its statement carries the create before it), then fails its precondition.
      { method: 'PATCH', path: '/v1/mixed/x', headers: { 'If-Match': '"stale"' }, body: { n: 'lost' } },
      { method: 'POST', path: '/v1/mixed', body: { n: 2 } },
      // A write between creates: the create before it goes out ahead of its savepoint.
      { method: 'PUT', path: '/v1/mixed/x', headers: { 'If-Match': seeded[0]!.headers['etag']! }, body: { n: 'written' } },
      // Reads, finds nothing, and is rolled back to its savepoint: the creates before it stay.
      { method: 'PATCH', path: '/v1/mixed/absent', body: { n: 'lost' } },
      { method: 'POST', path: '/v1/mixed', body: { n: 3 } },
    ]);
    expect(answers.map((a) => a.status)).toEqual([201, 412, 201, 200, 404, 201]);
    expect(await stored('mixed')).toEqual([{ n: 'written' }, { n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it('a kept-back create the database refuses fails the batch: no operation is answered 201 for a record that is not there', async () => {
    await admin.query(`ALTER TABLE records ADD CONSTRAINT test_no_boom CHECK (collection <> 'refused' OR data->>'n' IS DISTINCT FROM 'boom')`);
    try {
      const r = await send([
        { method: 'POST', path: '/v1/refused', body: { n: 1 } },
        { method: 'POST', path: '/v1/refused', body: { n: 'boom' } },
        { method: 'GET', path: '/v1/refused/none' },
        { method: 'POST', path: '/v1/refused', body: { n: 3 } },
      ]);
      expect(r.status, r.text.slice(0, 300)).toBe(500);
      // Nothing ran after the refused row went out (with the GET's statement), and it is not there.
      const after = await stored('refused');
      expect(after).not.toContainEqual({ n: 3 });
      expect(after).not.toContainEqual({ n: 'boom' });
    } finally {
      await admin.query('ALTER TABLE records DROP CONSTRAINT test_no_boom');
    }
  });
});
