import { describe, expect, it } from 'vitest';
import { createClient, OmnibusApiError, OmnibusNetworkError, OmnibusUsageError, type ClientOptions } from '../src/client/index.js';

/**
 * The client's retry rules against a scripted fetch: what it sends again,
 * when, and under which Idempotency-Key. test/client.test.ts runs the client
 * against a real server.
 */

interface Sent {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: any;
}

type Answer = { status: number; headers?: Record<string, string>; body?: unknown } | 'network-error' | 'hang';

function scripted(answer: (req: Sent, n: number) => Answer) {
  const sent: Sent[] = [];
  const fetchImpl: typeof fetch = async (input, init) => {
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
    const req: Sent = { url: String(input), method: init?.method ?? 'GET', headers, body: init?.body ? JSON.parse(String(init.body)) : undefined };
    sent.push(req);
    const a = answer(req, sent.length);
    if (a === 'network-error') throw new TypeError('fetch failed', { cause: { code: 'ECONNRESET', message: 'socket hang up' } });
    if (a === 'hang') {
      return new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal!.reason)));
    }
    return new Response(a.body === undefined ? null : JSON.stringify(a.body), {
      status: a.status,
      headers: { 'content-type': 'application/json', ...a.headers },
    });
  };
  return { sent, fetchImpl };
}

function client(fetchImpl: typeof fetch, extra: Partial<ClientOptions> = {}) {
  return createClient({
    baseUrl: 'http://omnibus.test',
    token: 't',
    fetch: fetchImpl,
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
    ...extra,
  });
}

const created = (n: number) => ({ status: 201, headers: { location: `/v1/books/b${n}`, etag: `"e${n}"` }, body: { id: `b${n}` } });
const limited = { status: 429, headers: { 'retry-after': '0', 'content-type': 'application/problem+json' }, body: { status: 429, code: 'rate_limited', title: 'Too Many Requests' } };

describe('client retries', () => {
  it('a batch whose answer was lost is sent again with the same body and Idempotency-Key', async () => {
    const { sent, fetchImpl } = scripted((req, n) => (n === 1 ? 'network-error' : { status: 200, body: { responses: req.body.requests.map((_: unknown, i: number) => created(i)) } }));
    const c = client(fetchImpl, { dialect: 'ops' });
    const [a, b] = await c.batch((b) => [b.post('/v1/books', { t: 1 }), b.post('/v1/books', { t: 2 })]);
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(sent).toHaveLength(2);
    expect(sent[1]!.body).toEqual(sent[0]!.body);
    expect(sent[0]!.headers['idempotency-key']).toMatch(/^"[0-9a-f-]{36}"$/);
    expect(sent[1]!.headers['idempotency-key']).toBe(sent[0]!.headers['idempotency-key']);
  });

  it('retries a 5xx with backoff, then gives the answer; no answer at all is OmnibusNetworkError after the retries', async () => {
    const five = scripted((_req, n) => (n < 3 ? { status: 503, body: { code: 'internal' } } : { status: 200, body: { responses: [created(1)] } }));
    const r = await client(five.fetchImpl, { dialect: 'ops' }).batch((b) => b.get('/v1/books/b1'));
    expect(r.status).toBe(201);
    expect(new Set(five.sent.map((s) => s.headers['idempotency-key'])).size).toBe(1);

    const down = scripted(() => 'network-error');
    const err = await client(down.fetchImpl, { retry: { retries: 2, baseDelayMs: 1 } }).get('/v1/books/1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OmnibusNetworkError);
    expect((err as OmnibusNetworkError).code).toBe('network_error');
    expect((err as OmnibusNetworkError).attempts).toBe(3);
    expect((err as Error).message).toContain('ECONNRESET');
    expect(down.sent).toHaveLength(3);
  });

  it('a request that gets no answer within timeoutMs is retried, then fails with code timeout', async () => {
    const { sent, fetchImpl } = scripted(() => 'hang');
    const err = await client(fetchImpl, { timeoutMs: 30, retry: { retries: 1, baseDelayMs: 1 } }).post('/v1/books', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OmnibusNetworkError);
    expect((err as OmnibusNetworkError).code).toBe('timeout');
    expect(sent).toHaveLength(2);
    expect(sent[1]!.headers['idempotency-key']).toBe(sent[0]!.headers['idempotency-key']);
  });

  it('waits while the server says the key is in progress (409), then takes the replayed answer', async () => {
    const { sent, fetchImpl } = scripted((req, n): Answer =>
      n === 1
        ? { status: 409, headers: { 'retry-after': '0' }, body: { status: 409, code: 'idempotency_in_progress' } }
        : { status: 200, headers: { 'idempotent-replayed': 'true' }, body: { responses: req.body.requests.map((_: unknown, i: number) => created(i)) } },
    );
    const events: boolean[] = [];
    const c = client(fetchImpl, { dialect: 'ops', onRequest: (e) => events.push(e.replayed) });
    const r = await c.batch((b) => b.post('/v1/books', {}), { idempotencyKey: 'k-1' });
    expect(r.ok).toBe(true);
    expect(sent.map((s) => s.headers['idempotency-key'])).toEqual(['"k-1"', '"k-1"']);
    expect(events).toEqual([false, true]);
  });

  it('422 idempotency_key_reused is not retried: the batch rejects with that code', async () => {
    const { sent, fetchImpl } = scripted(() => ({ status: 422, headers: { 'content-type': 'application/problem+json' }, body: { status: 422, code: 'idempotency_key_reused', detail: 'used' } }));
    const err = await client(fetchImpl, { dialect: 'ops' }).batch((b) => b.get('/v1/x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OmnibusApiError);
    expect((err as OmnibusApiError).code).toBe('idempotency_key_reused');
    expect((err as OmnibusApiError).status).toBe(422);
    expect(sent).toHaveLength(1);
  });

  it('re-sends only the operations answered 429, after their Retry-After, under a derived key', async () => {
    const { sent, fetchImpl } = scripted((req, n) => ({
      status: 200,
      body: { responses: req.body.requests.map((_: unknown, i: number) => (n === 1 && (i === 1 || i === 3) ? limited : created(i))) },
    }));
    const c = client(fetchImpl, { dialect: 'ops' });
    const results = await c.batch((b) => {
      for (let i = 0; i < 5; i++) b.put(`/v1/books/${i}`, { i });
    }, { idempotencyKey: 'base' });
    expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
    expect(sent).toHaveLength(2);
    expect(sent[1]!.body.requests.map((r: { path: string }) => r.path)).toEqual(['/v1/books/1', '/v1/books/3']);
    expect(sent[0]!.headers['idempotency-key']).toBe('"base"');
    expect(sent[1]!.headers['idempotency-key']).toBe('"base.1.0"');
  });

  it('gives up on 429s after rateLimitRetries rounds: the result stays 429 rate_limited', async () => {
    const { sent, fetchImpl } = scripted((req) => ({ status: 200, body: { responses: req.body.requests.map(() => limited) } }));
    const [r] = await client(fetchImpl, { dialect: 'ops', retry: { rateLimitRetries: 2, baseDelayMs: 1 } }).batch((b) => [b.get('/v1/books/1')]);
    expect(r.ok).toBe(false);
    expect(r.status).toBe(429);
    expect(r.error?.code).toBe('rate_limited');
    expect(sent).toHaveLength(3);
  });

  it('a Retry-After longer than maxRetryAfterMs is not waited for', async () => {
    const { sent, fetchImpl } = scripted((req) => ({ status: 200, body: { responses: req.body.requests.map(() => ({ ...limited, headers: { 'retry-after': '3600' } })) } }));
    const [r] = await client(fetchImpl, { dialect: 'ops' }).batch((b) => [b.get('/v1/books/1')]);
    expect(r.status).toBe(429);
    expect(r.error?.retryAfterMs).toBe(3_600_000);
    expect(sent).toHaveLength(1);
  });

  it('a 429 inside a transaction group sends the whole group again', async () => {
    const { sent, fetchImpl } = scripted((req, n) => ({
      status: 200,
      body: req.body.map((op: { id: string; transaction?: string }, i: number) => {
        if (n === 1 && op.transaction) return i === 1 ? { id: op.id, code: 429, headers: 'retry-after: 0\ncontent-type: application/problem+json', body: '{"code":"rate_limited"}' } : { id: op.id, code: 424, headers: 'content-type: application/problem+json', body: '{"code":"transaction_rolled_back"}' };
        return { id: op.id, code: 201, headers: 'content-type: application/json', body: '{"ok":true}' };
      }),
    }));
    const results = await client(fetchImpl, { dialect: 'requests' }).batch((b) => {
      b.post('/v1/a', {});
      b.transaction((t) => {
        t.post('/v1/b', {});
        t.post('/v1/c', {});
      });
    });
    expect(results.map((r) => r.status)).toEqual([201, 201, 201]);
    expect(sent[1]!.body.map((op: { path: string; transaction?: string }) => [op.path, op.transaction])).toEqual([
      ['/v1/b', 'g1'],
      ['/v1/c', 'g1'],
    ]);
  });

  it('odata-json: a dependent that failed only because its dependency was throttled goes again with it; a reference to an earlier success is resolved', async () => {
    // First round: 1 created, 2 (depends on 1) throttled, 3 (depends on 2) 424.
    const { sent, fetchImpl } = scripted((req, n) => ({
      status: 200,
      body: {
        responses: req.body.requests.map((op: { id: string }) => {
          if (n === 1 && op.id === '2') return { id: op.id, status: 429, headers: { 'Retry-After': '0' }, body: { error: { code: 'rate_limited', message: 'slow down' } } };
          if (n === 1 && op.id === '3') return { id: op.id, status: 424, headers: {}, body: { error: { code: 'failed_dependency', message: 'x' } } };
          return { id: op.id, status: op.id === '1' ? 201 : 200, headers: { Location: '/v1/books/k1', ETag: '"e1"' }, body: {} };
        }),
      },
    }));
    const c = client(fetchImpl);
    const r = await c.batch((b) => {
      const one = b.post('/v1/books', { t: 1 });
      const two = b.patch(one.url(), { p: 2 }, { ifMatch: one.etag });
      const three = b.get(one.url('?$select=p'), { dependsOn: [two] });
      return { one, two, three };
    });
    expect([r.one.status, r.two.status, r.three.status]).toEqual([201, 200, 200]);
    expect(sent[0]!.body.requests[1]).toMatchObject({ id: '2', url: '$1', headers: { 'if-match': '$1' }, dependsOn: ['1'] });
    // Round two: 2 and 3 only; 1 succeeded, so its Location and ETag stand in for the references.
    expect(sent[1]!.body.requests).toEqual([
      { id: '2', method: 'PATCH', url: '/v1/books/k1', headers: { 'if-match': '"e1"' }, body: { p: 2 } },
      { id: '3', method: 'GET', url: '/v1/books/k1?$select=p', dependsOn: ['2'] },
    ]);
  });

  it('a plain request answered 429 is sent again after its Retry-After', async () => {
    const { sent, fetchImpl } = scripted((_req, n) => (n === 1 ? limited : { status: 200, body: { id: '1' } }));
    const r = await client(fetchImpl).get('/v1/books/1');
    expect(r).toMatchObject({ status: 200, body: { id: '1' } });
    expect(sent).toHaveLength(2);
  });

  it('a batch refused as a whole rejects with the server\'s code; a split batch names its requests <key>.0.<n>', async () => {
    const { sent, fetchImpl } = scripted((req, n) =>
      n === 1 ? { status: 200, body: { responses: req.body.requests.map((_: unknown, i: number) => created(i)) } } : { status: 400, body: { status: 400, code: 'invalid_path', detail: 'bad' } },
    );
    const err = await client(fetchImpl, { dialect: 'ops', maxOperations: 2 })
      .batch((b) => {
        for (let i = 0; i < 5; i++) b.get(`/v1/books/${i}`);
      }, { idempotencyKey: 'big' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OmnibusApiError);
    expect((err as OmnibusApiError).code).toBe('invalid_path');
    // Sent one after another; the third request never went out.
    expect(sent.map((s) => [s.headers['idempotency-key'], s.body.requests.length])).toEqual([
      ['"big"', 2],
      ['"big.0.1"', 2],
    ]);
  });

  it('an AbortSignal ends a call, also while it waits to retry', async () => {
    const { sent, fetchImpl } = scripted(() => 'network-error');
    const c = client(fetchImpl, { retry: { retries: 10, baseDelayMs: 10_000, maxDelayMs: 10_000 } });
    const controller = new AbortController();
    const started = Date.now();
    const pending = c.get('/v1/books/1', { signal: controller.signal }).catch((e: unknown) => e);
    setTimeout(() => controller.abort(new Error('user gave up')), 30);
    expect(await pending).toMatchObject({ message: 'user gave up' });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(sent).toHaveLength(1);
    await expect(c.post('/v1/books', {}, { signal: AbortSignal.abort(new Error('before')) })).rejects.toThrow('before');
    expect(sent).toHaveLength(1);
  });

  it('refuses before sending what the dialect cannot express', async () => {
    const { sent, fetchImpl } = scripted(() => ({ status: 200, body: {} }));
    const ops = client(fetchImpl, { dialect: 'ops' });
    await expect(ops.batch((b) => b.transaction((t) => t.get('/v1/a')))).rejects.toThrow(OmnibusUsageError);
    const requests = client(fetchImpl, { dialect: 'requests' });
    await expect(requests.batch((b) => b.get(b.get('/v1/a').url()))).rejects.toThrow(/needs the odata-json dialect/);
    const odata = client(fetchImpl, { maxOperations: 2 });
    await expect(odata.batch((b) => b.transaction((t) => [t.get('/v1/a'), t.get('/v1/b'), t.get('/v1/c')]))).rejects.toThrow(/do not fit in one batch of at most 2/);
    await expect(odata.get('v1/no-slash')).rejects.toThrow(OmnibusUsageError);
    await expect(odata.batch((b) => b.get('/v1/a'), { idempotencyKey: 'has space' })).rejects.toThrow(/Idempotency-Key/);
    expect(sent).toHaveLength(0);
  });
});
