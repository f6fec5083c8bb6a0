import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendEnabled, POSTGRES_BACKEND } from './support/backends.js';
import { describeEachBackend, startTestServer, type TestServer } from './support/server.js';

/** Concurrent batches on overlapping ids: deadlocks are broken by the database and retried, never answered 5xx. */
describeEachBackend('contention', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  const parts = (list: unknown[]) => s.call('POST', '/batch/parts', { json: { parts: list } });

  it('two parts batches replacing [x, y] and [y, x] at the same time, 100 rounds: no 5xx, all or none', async () => {
    const statuses: number[] = [];
    for (let round = 0; round < 100; round++) {
      const x = `/v1/pair/x${round % 5}`;
      const y = `/v1/pair/y${round % 5}`;
      const [a, b] = await Promise.all([
        parts([
          { id: 'a1', path: x, operation: 'replace', payload: { by: 'A', round } },
          { id: 'a2', path: y, operation: 'replace', payload: { by: 'A', round } },
        ]),
        parts([
          { id: 'b1', path: y, operation: 'replace', payload: { by: 'B', round } },
          { id: 'b2', path: x, operation: 'replace', payload: { by: 'B', round } },
        ]),
      ]);
      statuses.push(a.status, b.status);
      const [rx, ry] = await Promise.all([s.call('GET', x), s.call('GET', y)]);
      // Whichever batch committed last wrote both records: never one of each.
      expect(rx.json.round).toBe(round);
      expect(ry.json.by).toBe(rx.json.by);
    }
    expect(statuses.filter((st) => st >= 500)).toEqual([]);
    // A conflict that retries cannot resolve answers 409; here every batch got through.
    expect(statuses.every((st) => st === 200 || st === 409)).toBe(true);
    expect(statuses.filter((st) => st === 200).length).toBeGreaterThan(190);
  }, 120_000);

  it('8 transaction groups creating two shared new ids in both orders: every member succeeds', async () => {
    const inner: number[] = [];
    for (let round = 0; round < 10; round++) {
      const p = `/v1/shared/r${round}`;
      const batches = Array.from({ length: 8 }, (_, i) => {
        const order = i % 2 === 0 ? ['a', 'b'] : ['b', 'a'];
        return s.call('POST', '/v1/batch', {
          json: order.map((k, j) => ({ id: String(j), method: 'PUT', path: `${p}${k}`, body: JSON.stringify({ by: i }), transaction: 'g' })),
        });
      });
      for (const r of await Promise.all(batches)) {
        expect(r.status).toBe(200);
        for (const op of r.json as Array<{ code: number }>) inner.push(op.code);
      }
      const [ra, rb] = await Promise.all([s.call('GET', `${p}a`), s.call('GET', `${p}b`)]);
      expect(ra.json.by).toBe(rb.json.by);
    }
    expect(inner.filter((c) => c >= 500 || c === 424 || c === 409)).toEqual([]);
    expect(inner.every((c) => c === 200 || c === 201)).toBe(true);
  }, 120_000);

  it('50 concurrent clients sending parts batches that create and replace 50 hot ids: no 5xx, counts exact', async () => {
    const hot = (i: number) => `/v1/hot/h${i % 50}`;
    const clients = Array.from({ length: 50 }, async (_, c) => {
      const statuses: number[] = [];
      for (let k = 0; k < 4; k++) {
        const r = await parts([
          { id: 'new', path: '/v1/hotlog', operation: 'create', payload: { c, k } },
          { id: 'one', path: hot(c * 7 + k), operation: 'replace', payload: { c, k } },
          { id: 'two', path: hot(c * 13 + k + 1), operation: 'replace', payload: { c, k } },
        ]);
        statuses.push(r.status);
      }
      return statuses;
    });
    const statuses = (await Promise.all(clients)).flat();
    expect(statuses.filter((st) => st >= 500)).toEqual([]);
    const ok = statuses.filter((st) => st === 200).length;
    expect(ok + statuses.filter((st) => st === 409).length).toBe(statuses.length);
    // Every committed batch created exactly one log record, and nothing else did.
    const log = await s.call('GET', '/v1/hotlog?$top=1000');
    expect(log.json.items).toHaveLength(ok);
    expect(ok).toBeGreaterThan(statuses.length * 0.9);
  }, 120_000);
});

describe.skipIf(!(await backendEnabled(POSTGRES_BACKEND)))('PostgresStore.transaction under a real deadlock', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({}, POSTGRES_BACKEND);
  });
  afterAll(() => s.close());

  it('re-runs the transaction that PostgreSQL aborted, and both finish', async () => {
    const { store } = s.services;
    const now = new Date().toISOString();
    const rec = (id: string, v: string) => ({ tenant: 'dl', collection: 'locks', id, data: { v }, etag: v, created: now, updated: now, createdBy: 't', updatedBy: 't' });
    expect(await store.insertRecord(rec('x', 'x0'), 0)).toBe('inserted');
    expect(await store.insertRecord(rec('y', 'y0'), 0)).toBe('inserted');
    // Each transaction locks its first row, waits until the other has locked its own, then
    // asks for the other's row: a deadlock on the first run. A re-run starts from scratch.
    const runs = { a: 0, b: 0 };
    let aLocked!: () => void;
    let bLocked!: () => void;
    const aHas = new Promise<void>((r) => (aLocked = r));
    const bHas = new Promise<void>((r) => (bLocked = r));
    const swap = (me: 'a' | 'b', first: 'x' | 'y', second: 'x' | 'y', mine: () => void, theirs: Promise<void>) =>
      store.transaction(async () => {
        runs[me]++;
        await write(first, `${me}${runs[me]}`);
        mine();
        if (runs[me] === 1) await theirs;
        await write(second, `${me}${runs[me]}`);
        return me;
      });
    // Compare-and-set as the routes do it: a write that lost to a concurrent one reads again.
    const write = async (id: string, v: string): Promise<void> => {
      for (let attempt = 0; attempt < 10; attempt++) {
        const current = (await store.getRecord({ tenant: 'dl', collection: 'locks', id }))!;
        if (await store.replaceRecord(rec(id, v), current.etag)) return;
      }
      throw new Error('kept losing the compare-and-set');
    };
    const results = await Promise.all([swap('a', 'x', 'y', aLocked, bHas), swap('b', 'y', 'x', bLocked, aHas)]);
    expect(results).toEqual(['a', 'b']);
    // At least one of the two was chosen as a deadlock victim and ran again (a re-run that
    // takes its first row before the winner can deadlock once more, and is re-run again).
    expect(runs.a + runs.b).toBeGreaterThanOrEqual(3);
    expect(runs.a + runs.b).toBeLessThanOrEqual(2 + 5);
    const x = (await store.getRecord({ tenant: 'dl', collection: 'locks', id: 'x' }))!;
    const y = (await store.getRecord({ tenant: 'dl', collection: 'locks', id: 'y' }))!;
    // The re-run committed last, so it wrote both rows.
    expect(x.data['v']).toBe(y.data['v']);
  }, 30_000);
});

describeEachBackend('contention between batches of standalone operations', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it('ops batches writing [x, y, z] and [z, y, x] at the same time, 50 rounds: every operation succeeds', async () => {
    const statuses: number[] = [];
    for (let round = 0; round < 50; round++) {
      const ids = ['x', 'y', 'z'].map((k) => `/v1/crossed/${k}${round % 3}`);
      const batch = (order: string[], by: string) =>
        s.call('POST', '/batch', { json: { requests: order.map((path) => ({ method: 'PUT', path, body: { by, round } })) } });
      const [a, b] = await Promise.all([batch(ids, 'A'), batch([...ids].reverse(), 'B')]);
      for (const r of [a, b]) {
        expect(r.status).toBe(200);
        for (const op of r.json.responses as Array<{ status: number }>) statuses.push(op.status);
      }
      for (const path of ids) expect((await s.call('GET', path)).json.round).toBe(round);
    }
    expect(statuses.filter((st) => st >= 300)).toEqual([]);
  }, 120_000);
});
