/**
 * On PostgreSQL, the independent PATCHes and DELETEs of a graph batch (OData
 * JSON `$batch` at concurrency 8) share one transaction and send their
 * statements together (src/store/postgres/shared-commit.ts). Each must still
 * behave as if it had committed alone: its own status, nothing left behind
 * when it fails, a lock held elsewhere delaying only itself, and no
 * connection left inside a transaction.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/server.js';
import { enabledBackends, POSTGRES_BACKEND, type BackendHandle } from './support/backends.js';
import { countingSends as countSends, schemaClient, startPostgresServer, stopPostgresServer, type PostgresServer } from './support/postgres-server.js';
import { TOKENS } from './support/server.js';

const postgres = (await enabledBackends()).includes(POSTGRES_BACKEND);

interface Answer {
  id: string;
  status: number;
  headers: Record<string, string>;
  body?: any;
}

describe.runIf(postgres)('independent writes of an OData JSON batch on PostgreSQL share one transaction', () => {
  let handle: BackendHandle;
  let server: RunningServer;
  let admin: pg.Client;

  const call = async (method: string, path: string, json?: unknown): Promise<{ status: number; json: any }> => {
    const res = await fetch(server.url + path, {
      method,
      headers: { authorization: `Bearer ${TOKENS.acme}`, 'content-type': 'application/json' },
      body: json === undefined ? undefined : JSON.stringify(json),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };
  const batch = async (requests: unknown[]): Promise<Answer[]> => {
    const r = await call('POST', '/v1/$batch', { requests });
    expect(r.status).toBe(200);
    return r.json.responses as Answer[];
  };
  const seed = async (collection: string, n: number): Promise<string[]> => {
    const ids = Array.from({ length: n }, (_, i) => `r${i}`);
    const r = await call('POST', '/batch', { requests: ids.map((id) => ({ method: 'PUT', path: `/v1/${collection}/${id}`, body: { n: 0 } })) });
    expect(r.json.responses.every((x: { status: number }) => x.status === 201)).toBe(true);
    return ids;
  };
  const values = async (collection: string): Promise<Map<string, unknown>> => {
    const r = await admin.query<{ id: string; data: { n: unknown } }>(`SELECT id, data FROM records WHERE collection = $1`, [collection]);
    return new Map(r.rows.map((row) => [row.id, row.data.n]));
  };
  /** Counts what the server sends to PostgreSQL while `fn` runs (the admin client excluded). */
  const countingSends = <T>(fn: () => Promise<T>) => countSends(admin, fn);

  let fixture: PostgresServer | undefined;
  beforeAll(async () => {
    fixture = await startPostgresServer();
    ({ handle, server, admin } = fixture);
  });
  afterAll(() => stopPostgresServer(fixture));

  it('100 PATCHes of different records: all written, in far fewer round trips than one per statement', async () => {
    const ids = await seed('many', 100);
    const { result, sends } = await countingSends(() =>
      batch(ids.map((id, i) => ({ id: String(i), method: 'PATCH', url: `many/${id}`, body: { n: i + 1 } }))),
    );
    expect(result.map((x) => x.status)).toEqual(ids.map(() => 200));
    expect(result.map((x) => x.body.n)).toEqual(ids.map((_, i) => i + 1));
    const stored = await values('many');
    expect(ids.map((id) => stored.get(id))).toEqual(ids.map((_, i) => i + 1));
    // One statement per PATCH would be 100 sends (and the read-ahead, BEGIN and COMMIT on top).
    expect(sends).toBeLessThan(40);
  });

  it('a stale If-Match, a missing record and a DELETE each answer for themselves; the rest are written', async () => {
    const ids = await seed('mixed', 20);
    const got = await call('GET', '/v1/mixed/r3');
    const etag = got.json._etag ?? undefined;
    const requests = ids.map((id, i) => {
      if (i === 1) return { id: String(i), method: 'PATCH', url: `mixed/${id}`, headers: { 'If-Match': '"stale"' }, body: { n: 'lost' } };
      if (i === 2) return { id: String(i), method: 'PATCH', url: 'mixed/absent', body: { n: 'lost' } };
      if (i === 3) return { id: String(i), method: 'DELETE', url: `mixed/${id}`, ...(etag ? { headers: { 'If-Match': etag } } : {}) };
      return { id: String(i), method: 'PATCH', url: `mixed/${id}`, body: { n: i } };
    });
    const answers = await batch(requests);
    expect(answers.map((x) => x.status)).toEqual(ids.map((_, i) => (i === 1 ? 412 : i === 2 ? 404 : i === 3 ? 204 : 200)));
    const stored = await values('mixed');
    expect(stored.get('r1')).toBe(0);
    expect(stored.has('absent')).toBe(false);
    expect(stored.has('r3')).toBe(false);
    for (let i = 4; i < 20; i++) expect(stored.get(`r${i}`)).toBe(i);
    expect((await call('GET', '/v1/mixed')).json.items).toHaveLength(19);
  });

  it('a record locked by another connection delays only its own PATCH, which still succeeds', async () => {
    const ids = await seed('locked', 30);
    const holder = await schemaClient(handle.location);
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM records WHERE collection = 'locked' AND id = 'r7' FOR UPDATE`);
      const release = new Promise<void>((resolve) => setTimeout(() => void holder.query('COMMIT').then(() => resolve()), 300));
      const answers = await batch(ids.map((id, i) => ({ id: String(i), method: 'PATCH', url: `locked/${id}`, body: { n: i + 100 } })));
      await release;
      expect(answers.map((x) => x.status)).toEqual(ids.map(() => 200));
      const stored = await values('locked');
      expect(ids.map((id) => stored.get(id))).toEqual(ids.map((_, i) => i + 100));
    } finally {
      await holder.end();
    }
  });

  it('a statement that fails for its own reason fails only its operation, and the transaction goes on', async () => {
    const ids = await seed('boom', 24);
    await admin.query(`
      CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.collection = 'boom' AND NEW.id IN ('r5', 'r17') THEN RAISE EXCEPTION 'refused by a test trigger'; END IF;
        RETURN NEW;
      END $$`);
    await admin.query(`CREATE TRIGGER refuse_boom BEFORE UPDATE ON records FOR EACH ROW EXECUTE FUNCTION refuse_boom()`);
    try {
      const answers = await batch(ids.map((id, i) => ({ id: String(i), method: 'PATCH', url: `boom/${id}`, body: { n: i + 1 } })));
      expect(answers.map((x) => x.status)).toEqual(ids.map((_, i) => (i === 5 || i === 17 ? 500 : 200)));
      const stored = await values('boom');
      expect(ids.map((id) => stored.get(id))).toEqual(ids.map((_, i) => (i === 5 || i === 17 ? 0 : i + 1)));
    } finally {
      await admin.query('DROP TRIGGER refuse_boom ON records; DROP FUNCTION refuse_boom()');
    }
  });

  it('8 clients patching the same 40 records at once: no 5xx, every answered PATCH is the value stored or was overwritten later', async () => {
    const ids = await seed('hot', 40);
    const rounds = await Promise.all(
      Array.from({ length: 8 }, (_, c) => batch(ids.map((id, i) => ({ id: String(i), method: 'PATCH', url: `hot/${id}`, body: { n: c } })))),
    );
    for (const answers of rounds) expect(answers.every((x) => x.status === 200)).toBe(true);
    const stored = await values('hot');
    for (const id of ids) expect([...Array(8).keys()]).toContain(stored.get(id));
  });

  it('leaves no connection inside a transaction once the batches are answered', async () => {
    const ids = await seed('idle', 50);
    await batch(ids.map((id, i) => ({ id: String(i), method: 'PATCH', url: `idle/${id}`, body: { n: i } })));
    // Any transaction of the server still holding a row of this schema's table would make this fail at once.
    await admin.query('BEGIN');
    try {
      await expect(admin.query('LOCK TABLE records IN ACCESS EXCLUSIVE MODE NOWAIT')).resolves.toBeDefined();
    } finally {
      await admin.query('ROLLBACK');
    }
  });
});
