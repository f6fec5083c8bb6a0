import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachBackend, startTestServer, type TestServer } from './support/server.js';

const SAME_RECORD = ["/v1/kp/42", "/v1/kp('42')", '/v1/kp(42)', "/v1/kp(id='42')", '/v1/kp(ID=42)'];
const REFUSED = ['/v1/kp(1,2)', "/v1/kp(a='1',b='2')", "/v1/kp(name='42')", '/v1/kp()', '/v1/kp(x)', '/v1/kp(f())', "/v1/kp('42')/more", "/v1/kp('')"];

describeEachBackend('key predicates', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  describe('on the resource routes', () => {
    it.each(SAME_RECORD)('%s names the record /v1/kp/42 for GET, PATCH and PUT', async (path) => {
      await s.call('PUT', '/v1/kp/42', { json: { n: 0 } });
      const read = await s.call('GET', path);
      expect(read.status).toBe(200);
      expect(read.json).toEqual({ id: '42', n: 0 });
      const patched = await s.call('PATCH', path, { json: { n: 1 }, headers: { 'if-match': read.headers.get('etag')! } });
      expect(patched.status).toBe(200);
      expect((await s.call('GET', '/v1/kp/42')).json.n).toBe(1);
      expect((await s.call('PUT', path, { json: { n: 2 } })).status).toBe(200);
      expect((await s.call('GET', '/v1/kp/42')).json.n).toBe(2);
    });

    it("reads '' inside quotes as one quote: PUT /v1/kp('O''Brien') creates the record O'Brien", async () => {
      const put = await s.call('PUT', "/v1/kp('O''Brien')", { json: { a: 1 } });
      expect(put.status).toBe(201);
      expect(put.json.id).toBe("O'Brien");
      expect(put.headers.get('location')).toBe("/v1/kp/O'Brien");
      expect((await s.call('GET', "/v1/kp/O'Brien")).json.a).toBe(1);
      expect((await s.call('DELETE', "/v1/kp('O''Brien')")).status).toBe(204);
      expect((await s.call('GET', "/v1/kp/O'Brien")).status).toBe(404);
    });

    it.each(REFUSED)('%s: 400 invalid_path, and a PUT there writes nothing', async (path) => {
      const before = (await s.call('GET', '/v1/kp?$top=1000')).json.items.length;
      const r = await s.call('PUT', path, { json: { bad: true } });
      expect(r.status).toBe(400);
      expect(r.json.code).toBe('invalid_path');
      expect((await s.call('GET', path)).json.code).toBe('invalid_path');
      expect((await s.call('GET', '/v1/kp?$top=1000')).json.items.length).toBe(before);
    });

    it('a percent-encoded parenthesis is data: /v1/kp/a%28b%29 is the record a(b)', async () => {
      const put = await s.call('PUT', '/v1/kp/a%28b%29', { json: { p: 1 } });
      expect(put.status).toBe(201);
      expect(put.json.id).toBe('a(b)');
      expect(put.headers.get('location')).toBe('/v1/kp/a%28b%29');
      expect((await s.call('GET', "/v1/kp('a(b)')")).json.p).toBe(1);
    });
  });

  describe('in the ops dialect', () => {
    it('every key-predicate form reaches the same record', async () => {
      await s.call('PUT', '/v1/kpops/42', { json: { v: 'x' } });
      const r = await s.call('POST', '/batch', { json: { requests: SAME_RECORD.map((p) => ({ method: 'GET', path: p.replace('/kp', '/kpops') })) } });
      expect(r.status).toBe(200);
      expect(r.json.responses.map((x: any) => [x.status, x.body.id, x.body.v])).toEqual(SAME_RECORD.map(() => [200, '42', 'x']));
    });

    it.each(REFUSED)('refuses the batch with %s in it: 400 invalid_path, nothing written', async (path) => {
      const r = await s.call('POST', '/batch', {
        json: { requests: [{ method: 'PUT', path: '/v1/kpops2/first', body: {} }, { method: 'PUT', path: path.replace('/kp', '/kpops2'), body: {} }] },
      });
      expect(r.status).toBe(400);
      expect(r.json.code).toBe('invalid_path');
      expect((await s.call('GET', '/v1/kpops2/first')).status).toBe(404);
    });
  });

  describe('in the requests dialect', () => {
    it('every key-predicate form reaches the same record, and a PUT through one writes it', async () => {
      await s.call('PUT', '/v1/kpreq/42', { json: { v: 'y' } });
      const list = SAME_RECORD.map((p, i) => ({ id: String(i), method: 'GET', path: p.replace('/kp', '/kpreq') }));
      list.push({ id: 'put', method: 'PUT', path: "/v1/kpreq(id='42')", body: '{"v":"z"}' } as (typeof list)[number]);
      const r = await s.call('POST', '/v1/batch', { json: list });
      expect(r.status).toBe(200);
      expect(r.json.map((x: any) => x.code)).toEqual([...SAME_RECORD.map(() => 200), 200]);
      expect(r.json.slice(0, -1).map((x: any) => JSON.parse(x.body).v)).toEqual(SAME_RECORD.map(() => 'y'));
      expect((await s.call('GET', '/v1/kpreq/42')).json.v).toBe('z');
    });

    it('refuses a batch with a composite key: 400 invalid_path, nothing written', async () => {
      const r = await s.call('POST', '/v1/batch', {
        json: [
          { id: '1', method: 'PUT', path: '/v1/kpreq2/first', body: '{}' },
          { id: '2', method: 'GET', path: "/v1/kpreq2(a='1',b='2')" },
        ],
      });
      expect(r.status).toBe(400);
      expect(r.json.code).toBe('invalid_path');
      expect((await s.call('GET', '/v1/kpreq2/first')).status).toBe(404);
    });
  });
});

describe('key predicates and nested batches', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it("a key predicate cannot smuggle a batch endpoint: /v1('batch') is refused as nested_batch", async () => {
    const r = await s.call('POST', '/batch', { json: { requests: [{ method: 'POST', path: "/v1('batch')", body: [] }] } });
    expect(r.status).toBe(400);
    expect(r.json.code).toBe('nested_batch');
  });
});
