import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachBackend, startTestServer, TOKENS, type TestServer } from './support/server.js';

describeEachBackend('batches', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  const ops = (requests: unknown[], extra: Record<string, unknown> = {}, token?: string) =>
    s.call('POST', '/batch', { json: { requests, ...extra }, token });
  const reqs = (list: unknown[], init: { token?: string | null; query?: string; headers?: Record<string, string> } = {}) =>
    s.call('POST', `/v1/batch${init.query ?? ''}`, { json: list, token: init.token, headers: init.headers });

  async function count(collection: string, token: string = TOKENS.acme): Promise<number> {
    return (await s.call('GET', `/v1/${collection}?$top=1000`, { token })).json.items.length;
  }

  describe('refusing a malformed batch runs nothing', () => {
    it('refuses a batch of 101 operations with 413 batch_too_large and writes nothing', async () => {
      const requests = Array.from({ length: 101 }, (_, i) => ({ method: 'PUT', path: `/v1/big101/r${i}`, body: { i } }));
      const r = await ops(requests);
      expect(r.status).toBe(413);
      expect(r.json.code).toBe('batch_too_large');
      expect(await count('big101')).toBe(0);
      const r2 = await reqs(requests.map((q, i) => ({ ...q, id: String(i), body: '{}' })));
      expect(r2.status).toBe(413);
      expect(await count('big101')).toBe(0);
    });

    it('accepts exactly 100 operations', async () => {
      const requests = Array.from({ length: 100 }, (_, i) => ({ method: 'PUT', path: `/v1/big100/r${i}`, body: { i } }));
      const r = await ops(requests);
      expect(r.status).toBe(200);
      expect(r.json.responses).toHaveLength(100);
      expect(await count('big100')).toBe(100);
    });

    it.each([['/batch'], ['/v1/batch'], ['/batch/parts'], ['/api/object/batch'], ['/V1/Batch'], ['/v1/batch/'], ['/v1/%62atch'], ['/v1/$batch']])(
      'refuses a nested batch at %s with 400 nested_batch',
      async (path) => {
        const collection = `nest${Math.random().toString(36).slice(2, 8)}`;
        const r = await ops([
          { method: 'PUT', path: `/v1/${collection}/first`, body: {} },
          { method: 'POST', path, body: { requests: [] } },
        ]);
        expect(r.status).toBe(400);
        expect(r.json.code).toBe(path.endsWith('/') ? 'invalid_path' : 'nested_batch');
        expect(await count(collection)).toBe(0);
      },
    );

    it.each([
      ['//evil.example/x'],
      ['http://evil.example/v1/x'],
      ['/v1/../batch'],
      ['/v1/%2e%2e/batch'],
      ['/v1/./x'],
      ['\\\\evil'],
      ['/v1/x\\y'],
      ['/v1/x\r\nHost: evil'],
      ['/v1/x%0d%0ay'],
      ['v1/relative'],
      ['/v1//x'],
    ])('refuses the path %j with 400 invalid_path and writes nothing', async (path) => {
      const r = await ops([
        { method: 'PUT', path: '/v1/paths/first', body: {} },
        { method: 'GET', path },
      ]);
      expect(r.status).toBe(400);
      expect(r.json.code).toBe('invalid_path');
      expect(await count('paths')).toBe(0);
    });

    it('refuses a header value with CR/LF with 400 invalid_header (both dialects)', async () => {
      const r = await ops([
        { method: 'PUT', path: '/v1/hdr/a', body: {} },
        { method: 'GET', path: '/v1/hdr/a', headers: { 'X-Test': 'a\r\nInjected: 1' } },
      ]);
      expect(r.status).toBe(400);
      expect(r.json.code).toBe('invalid_header');
      const r2 = await reqs([{ id: '1', method: 'PUT', path: '/v1/hdr/b', headers: 'X-Bad\u0000: v', body: '{}' }]);
      expect(r2.status).toBe(400);
      expect(r2.json.code).toBe('invalid_header');
      const r3 = await ops([{ method: 'GET', path: '/v1/hdr/a', headers: { 'Bad Name': 'v' } }]);
      expect(r3.status).toBe(400);
      expect(await count('hdr')).toBe(0);
    });

    it('refuses duplicate operation ids with 400 duplicate_id', async () => {
      const r = await reqs([
        { id: 'a', method: 'PUT', path: '/v1/dup/1', body: '{}' },
        { id: 'a', method: 'PUT', path: '/v1/dup/2', body: '{}' },
      ]);
      expect(r.status).toBe(400);
      expect(r.json.code).toBe('duplicate_id');
      expect(await count('dup')).toBe(0);
    });

    it('refuses an unknown method, malformed JSON and a wrong shape', async () => {
      expect((await ops([{ method: 'PUT', path: '/v1/m/1', body: {} }, { method: 'BREW', path: '/v1/m' }])).json.code).toBe('bad_request');
      const bad = await s.call('POST', '/batch', { body: '{"requests":[', headers: { 'content-type': 'application/json' } });
      expect(bad.status).toBe(400);
      expect(bad.json.code).toBe('invalid_json');
      const shape = await s.call('POST', '/batch', { json: { requests: 'no' } });
      expect(shape.status).toBe(400);
      expect(shape.json.code).toBe('bad_request');
      const type = await s.call('POST', '/batch', { body: '{}', headers: { 'content-type': 'text/plain' } });
      expect(type.status).toBe(415);
      expect(await count('m')).toBe(0);
    });

    it('refuses a batch body over the byte limit with 413 body_too_large', async () => {
      const small = await startTestServer({ maxBatchBytes: 2048 });
      try {
        const r = await small.call('POST', '/batch', { json: { requests: [{ method: 'PUT', path: '/v1/x/1', body: { v: 'x'.repeat(4000) } }] } });
        expect(r.status).toBe(413);
        expect(r.json.code).toBe('body_too_large');
        expect((await small.call('GET', '/v1/x/1')).status).toBe(404);
      } finally {
        await small.close();
      }
    });

    it('needs a valid token for the batch itself (401)', async () => {
      expect((await s.call('POST', '/batch', { json: { requests: [] }, token: null })).status).toBe(401);
      expect((await s.call('POST', '/batch', { json: { requests: [] }, token: 'bogus' })).json.code).toBe('unauthorized');
      expect((await reqs([], { token: null, query: `?token=${TOKENS.acme}` })).status).toBe(200);
    });
  });

  describe('identity inside a batch', () => {
    it('ignores an Authorization header inside an operation: it runs as the batch principal', async () => {
      await s.call('PUT', '/v1/idn/mine', { json: { owner: 'acme' } });
      await s.call('PUT', '/v1/idn/theirs', { json: { owner: 'globex' }, token: TOKENS.globex });
      const r = await ops([
        { method: 'GET', path: '/v1/idn/mine', headers: { Authorization: `Bearer ${TOKENS.globex}`, Cookie: 'a=b', 'X-API-Key': TOKENS.globex } },
        { method: 'GET', path: '/v1/idn/theirs', headers: { Authorization: `Bearer ${TOKENS.globex}` } },
        { method: 'GET', path: `/v1/idn/theirs?token=${TOKENS.globex}` },
      ]);
      expect(r.status).toBe(200);
      expect(r.json.responses.map((x: any) => x.status)).toEqual([200, 404, 404]);
      expect(r.json.responses[0].body.owner).toBe('acme');
    });

    it('never widens scope: a read-only batch cannot write even with a writer token in an operation header', async () => {
      const r = await ops([{ method: 'PUT', path: '/v1/idn/ro', body: {}, headers: { Authorization: `Bearer ${TOKENS.acmeAdmin}` } }], {}, TOKENS.acmeRead);
      expect(r.json.responses[0].status).toBe(403);
      expect((await s.call('GET', '/v1/idn/ro')).status).toBe(404);
    });

    it('ignores X-HTTP-Method-Override and Host inside an operation', async () => {
      await s.call('PUT', '/v1/idn/keep', { json: { v: 1 } });
      const r = await ops([{ method: 'GET', path: '/v1/idn/keep', headers: { 'X-HTTP-Method-Override': 'DELETE', Host: 'evil.example' } }]);
      expect(r.json.responses[0].status).toBe(200);
      expect((await s.call('GET', '/v1/idn/keep')).status).toBe(200);
    });

    it('seed 002: a per-operation ?token= of another tenant sees only that tenant; an unknown one gets 401 alone', async () => {
      await s.call('PUT', '/v1/tok/a', { json: { owner: 'acme' } });
      await s.call('PUT', '/v1/tok/g', { json: { owner: 'globex' }, token: TOKENS.globex });
      const r = await reqs([
        { id: '1', method: 'GET', path: '/v1/tok/a' },
        { id: '2', method: 'GET', path: `/v1/tok/g?token=${TOKENS.globex}` },
        { id: '3', method: 'GET', path: `/v1/tok/a?token=${TOKENS.globex}` },
        { id: '4', method: 'GET', path: '/v1/tok/a?token=unknown' },
        { id: '5', method: 'PUT', path: `/v1/tok/ro?token=${TOKENS.acmeRead}`, body: '{}' },
      ]);
      expect(r.status).toBe(200);
      expect(r.json.map((x: any) => [x.id, x.code])).toEqual([
        ['1', 200],
        ['2', 200],
        ['3', 404],
        ['4', 401],
        ['5', 403],
      ]);
      expect(JSON.parse(r.json[1].body).owner).toBe('globex');
      expect((await s.call('GET', '/v1/tok/ro')).status).toBe(404);
    });

    it('the ops dialect removes ?token= from operation paths: it has no effect', async () => {
      await s.call('PUT', '/v1/tok2/g', { json: { owner: 'globex' }, token: TOKENS.globex });
      const r = await ops([{ method: 'GET', path: `/v1/tok2/g?token=${TOKENS.globex}` }]);
      expect(r.json.responses[0].status).toBe(404);
    });
  });

  describe('ops dialect (seed 000)', () => {
    it('answers one response per request in order, with status, headers and body; 200 whatever the statuses', async () => {
      const r = await ops([
        { method: 'PUT', path: '/v1/ops/42', body: { title: 'x' } },
        { method: 'GET', path: '/v1/ops?$top=5' },
        { method: 'GET', path: '/v1/ops/missing' },
        { method: 'DELETE', path: '/v1/ops/42' },
      ]);
      expect(r.status).toBe(200);
      const [put, list, missing, del] = r.json.responses;
      expect(put.status).toBe(201);
      expect(put.headers.etag).toMatch(/^"/);
      expect(put.body).toEqual({ id: '42', title: 'x' });
      expect(list.body.items.map((x: any) => x.id)).toEqual(['42']);
      expect(missing.status).toBe(404);
      expect(missing.body.code).toBe('not_found');
      expect(del.status).toBe(204);
    });

    it('answers HEAD inside a batch with GET\'s status and headers and no body', async () => {
      await s.call('PUT', '/v1/ops/head', { json: { v: 1 } });
      const r = await ops([{ method: 'HEAD', path: '/v1/ops/head' }]);
      expect(r.json.responses[0].status).toBe(200);
      expect(r.json.responses[0].headers.etag).toMatch(/^"/);
      expect(r.json.responses[0].body).toBeNull();
    });

    it('honours If-Match per operation', async () => {
      const c = await s.call('PUT', '/v1/ops/im', { json: { v: 1 } });
      const r = await ops([
        { method: 'PUT', path: '/v1/ops/im', headers: { 'If-Match': '"stale"' }, body: { v: 2 } },
        { method: 'PUT', path: '/v1/ops/im', headers: { 'If-Match': c.headers.get('etag') }, body: { v: 3 } },
      ]);
      expect(r.json.responses.map((x: any) => x.status)).toEqual([412, 200]);
      expect((await s.call('GET', '/v1/ops/im')).json.v).toBe(3);
    });

    it('sends a string body with a non-JSON content type verbatim (so a route can refuse it)', async () => {
      const r = await ops([{ method: 'PUT', path: '/v1/ops/txt', headers: { 'Content-Type': 'text/plain' }, body: 'hello' }]);
      expect(r.json.responses[0].status).toBe(415);
    });

    it('stop_on_error: the responses end at the first failure, and later operations did not run', async () => {
      const r = await ops(
        [
          { method: 'PUT', path: '/v1/soe/1', body: {} },
          { method: 'GET', path: '/v1/soe/nope' },
          { method: 'PUT', path: '/v1/soe/3', body: {} },
        ],
        { stop_on_error: true },
      );
      expect(r.status).toBe(200);
      expect(r.json.responses.map((x: any) => x.status)).toEqual([201, 404]);
      expect((await s.call('GET', '/v1/soe/1')).status).toBe(200);
      expect((await s.call('GET', '/v1/soe/3')).status).toBe(404);
    });

    it('without stop_on_error every operation runs', async () => {
      const r = await ops([
        { method: 'GET', path: '/v1/soe2/nope' },
        { method: 'PUT', path: '/v1/soe2/2', body: {} },
      ]);
      expect(r.json.responses.map((x: any) => x.status)).toEqual([404, 201]);
    });
  });

  describe('requests dialect (seed 002)', () => {
    it('answers {id, code, headers, body} with headers and body as strings', async () => {
      const r = await reqs([
        { id: '1', method: 'GET', headers: 'Content-Type: application/json', path: '/v1/rq?$filter=(duration eq 1000)' },
        { id: '2', method: 'PUT', headers: 'Content-Type : application/json \n Accept : application/json', path: '/v1/rq/p1', body: '{ "name" : "New name" }' },
        { id: '3', method: 'GET', path: '/v1/rq/p1' },
      ]);
      expect(r.status).toBe(200);
      expect(r.json[0]).toMatchObject({ id: '1', code: 200 });
      expect(JSON.parse(r.json[0].body)).toEqual({ items: [], next: null });
      expect(r.json[1].code).toBe(201);
      expect(r.json[1].headers).toMatch(/^etag: "/m);
      expect(typeof r.json[2].headers).toBe('string');
      expect(JSON.parse(r.json[2].body)).toEqual({ id: 'p1', name: 'New name' });
    });

    it('an operation without headers inherits the batch request headers, minus credentials', async () => {
      const c = await s.call('PUT', '/v1/inh/x', { json: { v: 1 } });
      const etag = c.headers.get('etag')!;
      const r = await reqs(
        [
          { id: '1', method: 'GET', path: '/v1/inh/x' },
          { id: '2', method: 'GET', path: '/v1/inh/x', headers: 'Accept: application/json' },
        ],
        { headers: { 'If-None-Match': etag } },
      );
      expect(r.json.map((x: any) => x.code)).toEqual([304, 200]);
    });

    it('an operation without transaction commits on its own', async () => {
      const r = await reqs([
        { id: '1', method: 'PUT', path: '/v1/own/1', body: '{}' },
        { id: '2', method: 'GET', path: '/v1/own/none' },
      ]);
      expect(r.json.map((x: any) => x.code)).toEqual([201, 404]);
      expect((await s.call('GET', '/v1/own/1')).status).toBe(200);
    });

    it('a transaction group of 4 whose third fails leaves nothing visible; the failure keeps its status, the rest 424', async () => {
      await s.call('PUT', '/v1/grp/existing', { json: { v: 'before' } });
      const r = await reqs([
        { id: 'a', method: 'PUT', path: '/v1/grp/1', body: '{"v":1}', transaction: 'T' },
        { id: 'b', method: 'PATCH', path: '/v1/grp/existing', body: '{"v":"during"}', transaction: 'T' },
        { id: 'solo', method: 'PUT', path: '/v1/grp/solo', body: '{}' },
        { id: 'c', method: 'PUT', path: '/v1/grp/3', body: '{"v":3}', headers: 'If-Match: "stale"', transaction: 'T' },
        { id: 'd', method: 'DELETE', path: '/v1/grp/existing', transaction: 'T' },
      ]);
      expect(r.status).toBe(200);
      const byId = Object.fromEntries(r.json.map((x: any) => [x.id, x]));
      expect(byId.c.code).toBe(412);
      for (const id of ['a', 'b', 'd']) {
        expect(byId[id].code).toBe(424);
        expect(JSON.parse(byId[id].body).code).toBe('transaction_rolled_back');
      }
      expect(byId.solo.code).toBe(201);
      expect(r.json.map((x: any) => x.id)).toEqual(['a', 'b', 'solo', 'c', 'd']);
      expect((await s.call('GET', '/v1/grp/1')).status).toBe(404);
      expect((await s.call('GET', '/v1/grp/existing')).json.v).toBe('before');
      expect((await s.call('GET', '/v1/grp/solo')).status).toBe(200);
    });

    it('a transaction group that succeeds commits every member', async () => {
      const r = await reqs([
        { id: 'a', method: 'PUT', path: '/v1/grp2/1', body: '{"v":1}', transaction: 'T' },
        { id: 'b', method: 'PATCH', path: '/v1/grp2/1', body: '{"w":2}', transaction: 'T' },
        { id: 'c', method: 'GET', path: '/v1/grp2/1', transaction: 'T' },
      ]);
      expect(r.json.map((x: any) => x.code)).toEqual([201, 200, 200]);
      expect(JSON.parse(r.json[2].body)).toEqual({ id: '1', v: 1, w: 2 });
      expect((await s.call('GET', '/v1/grp2/1')).json).toEqual({ id: '1', v: 1, w: 2 });
    });

    it('two groups are independent: one rolls back, the other commits', async () => {
      const r = await reqs([
        { id: 'a1', method: 'PUT', path: '/v1/grp3/a', body: '{}', transaction: 'A' },
        { id: 'b1', method: 'PUT', path: '/v1/grp3/b', body: '{}', transaction: 'B' },
        { id: 'a2', method: 'GET', path: '/v1/grp3/none', transaction: 'A' },
      ]);
      expect(r.json.map((x: any) => x.code)).toEqual([424, 201, 404]);
      expect((await s.call('GET', '/v1/grp3/a')).status).toBe(404);
      expect((await s.call('GET', '/v1/grp3/b')).status).toBe(200);
    });

    it('accepts a body without Content-Type as JSON', async () => {
      const r = await reqs([{ id: '1', method: 'PUT', path: '/v1/noct/1', headers: 'Accept: application/json', body: '{"a":1}' }]);
      expect(r.json[0].code).toBe(201);
    });
  });
});
