import { afterAll, beforeAll, expect, it } from 'vitest';
import { createClient, OmnibusApiError, type ClientOptions, type DialectName, type RequestEvent } from '../src/client/index.js';
import { loadConfig } from '../src/config.js';
import { describeEachBackend, startTestServer, TOKENS, type TestServer } from './support/server.js';

/** omnibus/client against a real server on 127.0.0.1, in each dialect it speaks. */

const DIALECTS: DialectName[] = ['odata-json', 'requests', 'ops'];

function recorder() {
  const events: RequestEvent[] = [];
  return { events, onRequest: (e: RequestEvent) => events.push(e) };
}

describeEachBackend('omnibus/client', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });
  const connect = (extra: Partial<ClientOptions> = {}) => createClient({ baseUrl: server.url, token: TOKENS.acme, ...extra });
  const count = async (collection: string) => ((await server.call('GET', `/v1/${collection}?$top=1000`)).json as { items: unknown[] }).items.length;

  it('get, post, put, patch and delete resolve to {status, headers, body}; a failure rejects with the server\'s code', async () => {
    const c = connect();
    const created = await c.post<{ id: string; title: string }>('/v1/plain', { title: 'Dune' });
    expect(created.status).toBe(201);
    expect(created.headers['location']).toBe(`/v1/plain/${created.body.id}`);
    expect(created.body.title).toBe('Dune');
    const put = await c.put('/v1/plain/p1', { title: 'Hyperion' });
    expect(put.status).toBe(201);
    const patched = await c.patch<{ pages: number; title: string }>('/v1/plain/p1', { pages: 482 }, { ifMatch: put.headers['etag'] });
    expect(patched.body).toEqual({ id: 'p1', title: 'Hyperion', pages: 482 });
    expect((await c.get('/v1/plain/p1', { ifNoneMatch: patched.headers['etag'] })).status).toBe(304);
    expect((await c.delete('/v1/plain/p1')).status).toBe(204);

    const err = await c.get('/v1/plain/p1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OmnibusApiError);
    expect(err).toMatchObject({ status: 404, code: 'not_found', detail: 'No record p1 in plain.' });
    const stale = await c.patch('/v1/plain/' + created.body.id, { x: 1 }, { ifMatch: '"stale"' }).catch((e: unknown) => e);
    expect(stale).toMatchObject({ status: 412, code: 'precondition_failed' });
    // resolveErrors: the failure as an answer.
    expect(await c.get('/v1/plain/p1', { resolveErrors: true })).toMatchObject({ status: 404, body: { code: 'not_found' } });
    const unauthorized = await createClient({ baseUrl: server.url, token: 'nope' }).get('/v1/plain').catch((e: unknown) => e);
    expect(unauthorized).toMatchObject({ status: 401, code: 'unauthorized' });
  });

  for (const dialect of DIALECTS) {
    it(`${dialect}: 250 calls made in the same tick go out as 3 batches (split at 100), each caller getting its own answer`, async () => {
      const { events, onRequest } = recorder();
      const c = connect({ dialect, onRequest });
      const collection = `auto_${dialect.replace('-', '_')}`;
      const posts = Array.from({ length: 200 }, (_, i) => c.post<{ id: string; n: number }>(`/v1/${collection}`, { n: i }));
      const misses = Array.from({ length: 50 }, (_, i) => c.get(`/v1/${collection}/missing-${i}`, { resolveErrors: true }));
      const created = await Promise.all(posts);
      const missing = await Promise.all(misses);
      expect(created.map((r) => r.body.n)).toEqual(Array.from({ length: 200 }, (_, i) => i));
      expect(new Set(created.map((r) => r.body.id)).size).toBe(200);
      expect(created.every((r) => r.status === 201 && r.headers['location'] === `/v1/${collection}/${r.body.id}`)).toBe(true);
      expect(missing.every((r) => r.status === 404 && (r.body as { code?: string; error?: { code: string } }) !== null)).toBe(true);
      // The three batches go out at once, so they may finish in any order.
      const endpoint = { ops: '/batch', requests: '/v1/batch', 'odata-json': '/v1/$batch' }[dialect];
      expect(events.map((e) => [e.url.slice(server.url.length), e.operations, e.status]).sort((a, b) => Number(b[1]) - Number(a[1]))).toEqual([
        [endpoint, 100, 200],
        [endpoint, 100, 200],
        [endpoint, 50, 200],
      ]);
      expect(events.every((e) => e.idempotencyKey !== undefined)).toBe(true);
      expect(await count(collection)).toBe(200);
    });
  }

  it('calls within autoBatch.delayMs are batched together; a lone call is a plain request', async () => {
    const { events, onRequest } = recorder();
    const c = connect({ autoBatch: { delayMs: 40 }, onRequest });
    const first = c.put('/v1/delayed/a', { n: 1 });
    await new Promise((r) => setTimeout(r, 10));
    const second = c.put('/v1/delayed/b', { n: 2 });
    await Promise.all([first, second]);
    expect(events.map((e) => e.operations)).toEqual([2]);
    events.length = 0;
    await connect({ onRequest }).get('/v1/delayed/a');
    expect(events.map((e) => [e.method, e.url.slice(server.url.length)])).toEqual([['GET', '/v1/delayed/a']]);
  });

  it('an operation that makes the server refuse the whole auto-batch fails alone: the other callers get their answers', async () => {
    const c = connect();
    const results = await Promise.allSettled([c.put('/v1/refused/ok1', { n: 1 }), c.put('/v1/refused/back%5Cslash', { n: 2 }), c.put('/v1/refused/ok2', { n: 3 })]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'invalid_path', status: 400 });
    expect(await count('refused')).toBe(2);
  });

  for (const dialect of ['odata-json', 'requests'] as const) {
    it(`${dialect}: an explicit batch with a transaction group that fails keeps nothing of the group, and types each result`, async () => {
      const c = connect({ dialect });
      const r = await c.batch((b) => {
        const alone = b.put<{ id: string; n: number }>(`/v1/tx_${dialect.length}/alone`, { n: 1 });
        const group = b.transaction((t) => ({ kept: t.put(`/v1/tx_${dialect.length}/g1`, { n: 2 }), bad: t.delete(`/v1/tx_${dialect.length}/missing`) }));
        return { alone, group };
      });
      expect(r.alone.ok && r.alone.body.n).toBe(1);
      expect(r.group.bad).toMatchObject({ ok: false, status: 404, error: { code: 'not_found' } });
      expect(r.group.kept).toMatchObject({ ok: false, status: 424, error: { code: 'transaction_rolled_back' } });
      expect((await server.call('GET', `/v1/tx_${dialect.length}/g1`)).status).toBe(404);
      expect((await server.call('GET', `/v1/tx_${dialect.length}/alone`)).status).toBe(200);
    });
  }

  it('odata-json: $id references and dependsOn — create, update with its ETag, read back; a failed dependency answers 424', async () => {
    const c = connect();
    const r = await c.batch((b) => {
      const book = b.post<{ id: string }>('/v1/refs', { title: 'Dune' });
      const update = b.patch<{ pages: number }>(book.url(), { pages: 412 }, { ifMatch: book.etag });
      const read = b.get<{ id: string; title: string; pages: number }>(book.url(), { dependsOn: [update] });
      const missing = b.delete('/v1/refs/none');
      const after = b.put('/v1/refs/never', { x: 1 }, { dependsOn: [missing] });
      return { book, update, read, missing, after };
    });
    expect(r.book.status).toBe(201);
    expect(r.update.ok && r.update.body.pages).toBe(412);
    expect(r.read.ok && r.read.body).toEqual({ id: r.book.ok ? r.book.body.id : '', title: 'Dune', pages: 412 });
    expect(r.missing).toMatchObject({ status: 404, error: { code: 'not_found' } });
    expect(r.after).toMatchObject({ status: 424, error: { code: 'failed_dependency' } });
    expect((await server.call('GET', '/v1/refs/never')).status).toBe(404);
  });

  it('an explicit batch larger than maxOperations goes out as several requests, results in order', async () => {
    const { events, onRequest } = recorder();
    const c = connect({ dialect: 'requests', maxOperations: 40, onRequest });
    const results = await c.batch((b) => {
      for (let i = 0; i < 100; i++) b.put(`/v1/split/r${i}`, { i });
    });
    expect(results.map((r) => (r.body as { i: number }).i)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(events.map((e) => e.operations)).toEqual([40, 40, 20]);
  });

  it('learns a lower server limit from its 413 and splits there', async () => {
    const small = await startTestServer({ maxOps: 10 });
    try {
      const { events, onRequest } = recorder();
      const c = createClient({ baseUrl: small.url, token: TOKENS.acme, onRequest });
      const results = await Promise.all(Array.from({ length: 25 }, (_, i) => c.put(`/v1/limits/r${i}`, { i })));
      expect(results.every((r) => r.status === 201)).toBe(true);
      expect(c.maxOperations).toBe(10);
      expect(events.map((e) => [e.operations, e.status])).toEqual([
        [25, 413],
        [10, 200],
        [10, 200],
        [5, 200],
      ]);
    } finally {
      await small.close();
    }
  });

  it('the same Idempotency-Key again is answered from the server\'s record and writes nothing; with another body it is 422 idempotency_key_reused', async () => {
    const { events, onRequest } = recorder();
    const c = connect({ onRequest });
    const build = (b: import('../src/client/index.js').BatchBuilder) => {
      b.post('/v1/keyed', { n: 1 });
      b.post('/v1/keyed', { n: 2 });
    };
    const first = await c.batch(build, { idempotencyKey: 'client-test-key-1' });
    const again = await c.batch(build, { idempotencyKey: 'client-test-key-1' });
    expect(again).toEqual(first);
    expect(events.map((e) => e.replayed)).toEqual([false, true]);
    expect(await count('keyed')).toBe(2);
    const reused = await c.batch((b) => b.post('/v1/keyed', { n: 3 }), { idempotencyKey: 'client-test-key-1' }).catch((e: unknown) => e);
    expect(reused).toMatchObject({ status: 422, code: 'idempotency_key_reused' });
  });

  it('an answer lost on the way back is retried under the same key: the batch and the single write run once', async () => {
    let lose = 0;
    // The request reaches the server and runs; its answer is thrown away, as when a connection drops.
    const lossy: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (lose-- > 0) {
        await res.text();
        throw new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } });
      }
      return res;
    };
    const { events, onRequest } = recorder();
    const c = connect({ fetch: lossy, onRequest, retry: { baseDelayMs: 5 } });
    lose = 1;
    const results = await c.batch((b) => {
      for (let i = 0; i < 5; i++) b.post('/v1/lossy', { i });
    });
    expect(results.every((r) => r.status === 201)).toBe(true);
    lose = 1;
    const single = await c.post<{ id: string }>('/v1/lossy', { i: 'single' });
    expect(single.status).toBe(201);
    expect(await count('lossy')).toBe(6);
    expect(events.map((e) => [e.status, e.replayed])).toEqual([
      [0, false],
      [200, true],
      [0, false],
      [201, true],
    ]);
    expect(events[1]!.idempotencyKey).toBe(events[0]!.idempotencyKey);
    expect(events[3]!.idempotencyKey).toBe(events[2]!.idempotencyKey);
  });

  it('pages and items follow next through a whole list', async () => {
    const c = connect();
    await c.batch((b) => {
      for (let i = 0; i < 120; i++) b.post('/v1/paged', { i });
    });
    const pages = [];
    for await (const page of c.pages('/v1/paged?$top=50')) pages.push(page.items.length);
    expect(pages).toEqual([50, 50, 20]);
    const seen: number[] = [];
    for await (const item of c.items<{ i: number }>("/v1/paged?$top=40&$filter=i lt 100")) seen.push(item.i);
    // On PostgreSQL the operations of one OData batch may run at once, so creation order is not request order.
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('operations over the rate limit answer 429 inside the batch; the client sends only those again after their Retry-After', async () => {
    const limited = await startTestServer({ rateLimit: loadConfig({ OMNIBUS_RATE_LIMIT: '8/1s' }).rateLimit });
    try {
      const { events, onRequest } = recorder();
      const c = createClient({ baseUrl: limited.url, token: TOKENS.acme, onRequest });
      const results = await c.batch((b) => {
        for (let i = 0; i < 12; i++) b.put(`/v1/throttled/r${i}`, { i });
      });
      expect(results.map((r) => r.status)).toEqual(Array(12).fill(201));
      expect(events.map((e) => e.operations)).toEqual([12, 4]);
      expect(events[1]!.idempotencyKey).toBe(`${events[0]!.idempotencyKey}.1.0`);
    } finally {
      await limited.close();
    }
  });
});
