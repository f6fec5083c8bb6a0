import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachBackend, startTestServer, TOKENS, type TestServer } from './support/server.js';

const ADF = 'application/vnd.oracle.adf.batch+json';

describeEachBackend('parts dialect', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  const parts = (list: unknown[], init: { path?: string; contentType?: string; token?: string } = {}) =>
    s.call('POST', init.path ?? '/batch/parts', {
      body: JSON.stringify({ parts: list }),
      headers: { 'content-type': init.contentType ?? 'application/json' },
      token: init.token,
    });

  async function ids(collection: string): Promise<string[]> {
    const r = await s.call('GET', `/v1/${collection}?$top=1000`);
    expect(r.status).toBe(200);
    return r.json.items.map((x: any) => x.id).sort();
  }

  describe('parts dialect (seed 001): success', () => {
    it('runs every part and echoes each with its result; effects are visible', async () => {
      await s.call('PUT', '/v1/pok/existing', { json: { title: 'old', n: 1 } });
      await s.call('PUT', '/v1/pok/gone', { json: { v: 1 } });
      const r = await parts([
        { id: 'p1', path: '/v1/pok', operation: 'create', payload: { title: 'created' } },
        { id: 'p2', path: '/v1/pok/existing', operation: 'update', payload: { title: 'new' } },
        { id: 'p3', path: '/v1/pok/chosen', operation: 'replace', payload: { a: 1 } },
        { id: 'p4', path: '/v1/pok/existing', operation: 'get' },
        { id: 'p5', path: '/v1/pok/gone', operation: 'delete' },
      ]);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^application\/json/);
      const out = r.json.parts;
      expect(out.map((p: any) => [p.id, p.path, p.operation])).toEqual([
        ['p1', '/v1/pok', 'create'],
        ['p2', '/v1/pok/existing', 'update'],
        ['p3', '/v1/pok/chosen', 'replace'],
        ['p4', '/v1/pok/existing', 'get'],
        ['p5', '/v1/pok/gone', 'delete'],
      ]);
      expect(out[0].payload).toMatchObject({ title: 'created' });
      expect(typeof out[0].payload.id).toBe('string');
      expect(out[1].payload).toEqual({ id: 'existing', title: 'new', n: 1 });
      expect(out[2].payload).toEqual({ id: 'chosen', a: 1 });
      expect(out[3].payload).toEqual({ id: 'existing', title: 'new', n: 1 });
      expect(out[4].payload).toBeNull();
      for (const p of out) expect(p).not.toHaveProperty('preconditionSucceeded');
      expect(await ids('pok')).toEqual([out[0].payload.id, 'chosen', 'existing'].sort());
      expect((await s.call('GET', '/v1/pok/gone')).status).toBe(404);
    });

    it('an empty parts list answers 200 with no parts', async () => {
      const r = await parts([]);
      expect(r.status).toBe(200);
      expect(r.json).toEqual({ parts: [] });
    });

    it('preconditions that hold: preconditionSucceeded true; a string ETag without quotes is accepted', async () => {
      const c = await s.call('PUT', '/v1/ppre/a', { json: { v: 1 } });
      const etag: string = c.headers.get('etag')!;
      const bare = etag.slice(1, -1);
      const r = await parts([
        { id: 'quoted', path: '/v1/ppre/a', operation: 'get', ifMatch: etag },
        { id: 'bare', path: '/v1/ppre/a', operation: 'update', payload: { v: 2 }, ifMatch: bare },
        { id: 'list', path: '/v1/ppre/a', operation: 'get', ifNoneMatch: ['"nope"', 'other'] },
        { id: 'plain', path: '/v1/ppre/a', operation: 'get' },
      ]);
      expect(r.status).toBe(200);
      expect(r.json.parts.map((p: any) => p.preconditionSucceeded)).toEqual([true, true, true, undefined]);
      expect(r.json.parts[2].payload).toEqual({ id: 'a', v: 2 });
      expect((await s.call('GET', '/v1/ppre/a')).json.v).toBe(2);
    });

    it('ifNoneMatch null is create-if-absent: replace on an absent id creates (201 inside, 200 batch)', async () => {
      const r = await parts([{ id: 'c', path: '/v1/pinm/x', operation: 'replace', payload: { v: 1 }, ifNoneMatch: null }]);
      expect(r.status).toBe(200);
      expect(r.json.parts[0]).toMatchObject({ id: 'c', preconditionSucceeded: true, payload: { id: 'x', v: 1 } });
      expect((await s.call('GET', '/v1/pinm/x')).json).toEqual({ id: 'x', v: 1 });

      const again = await parts([
        { id: 'other', path: '/v1/pinm/y', operation: 'replace', payload: { v: 9 } },
        { id: 'c', path: '/v1/pinm/x', operation: 'replace', payload: { v: 2 }, ifNoneMatch: null },
      ]);
      expect(again.status).toBe(412);
      expect(again.json.parts).toHaveLength(1);
      expect(again.json.parts[0]).toMatchObject({ id: 'c', path: '/v1/pinm/x', operation: 'replace', preconditionSucceeded: false });
      expect(again.json.parts[0].payload.code).toBe('precondition_failed');
      expect((await s.call('GET', '/v1/pinm/x')).json.v).toBe(1);
      expect((await s.call('GET', '/v1/pinm/y')).status).toBe(404);
    });

    it('a get whose ifNoneMatch matches answers 304: the batch still succeeds, that part reports preconditionSucceeded false', async () => {
      const c = await s.call('PUT', '/v1/p304/a', { json: { v: 1 } });
      const r = await parts([
        { id: 'g', path: '/v1/p304/a', operation: 'get', ifNoneMatch: c.headers.get('etag') },
        { id: 'w', path: '/v1/p304/b', operation: 'replace', payload: { v: 2 } },
      ]);
      expect(r.status).toBe(200);
      expect(r.json.parts[0]).toEqual({ id: 'g', path: '/v1/p304/a', operation: 'get', payload: null, preconditionSucceeded: false });
      expect((await s.call('GET', '/v1/p304/b')).status).toBe(200);
    });
  });

  describe('parts dialect: all-or-none failure', () => {
    it('the 3rd of 5 failing leaves no effect of any part; only the failing part is listed, with its status', async () => {
      await s.call('PUT', '/v1/pfail/keep', { json: { v: 'before' } });
      const r = await parts([
        { id: 'a', path: '/v1/pfail', operation: 'create', payload: { n: 1 } },
        { id: 'b', path: '/v1/pfail/keep', operation: 'update', payload: { v: 'during' } },
        { id: 'c', path: '/v1/pfail/missing', operation: 'get' },
        { id: 'd', path: '/v1/pfail/new', operation: 'replace', payload: {} },
        { id: 'e', path: '/v1/pfail/keep', operation: 'delete' },
      ]);
      expect(r.status).toBe(404);
      expect(r.json.parts).toHaveLength(1);
      const [p] = r.json.parts;
      expect(p).toMatchObject({ id: 'c', path: '/v1/pfail/missing', operation: 'get' });
      expect(p.payload.code).toBe('not_found');
      expect(p.payload.status).toBe(404);
      expect(p).not.toHaveProperty('preconditionSucceeded');
      expect(await ids('pfail')).toEqual(['keep']);
      expect((await s.call('GET', '/v1/pfail/keep')).json.v).toBe('before');
    });

    it('a stale ifMatch: 412, preconditionSucceeded false, nothing kept', async () => {
      await s.call('PUT', '/v1/pstale/a', { json: { v: 1 } });
      const r = await parts([
        { id: 'first', path: '/v1/pstale/b', operation: 'replace', payload: { v: 1 } },
        { id: 'stale', path: '/v1/pstale/a', operation: 'replace', payload: { v: 2 }, ifMatch: '"not-the-etag"' },
      ]);
      expect(r.status).toBe(412);
      expect(r.json.parts).toEqual([
        expect.objectContaining({ id: 'stale', path: '/v1/pstale/a', operation: 'replace', preconditionSucceeded: false }),
      ]);
      expect(r.json.parts[0].payload.code).toBe('precondition_failed');
      expect(await ids('pstale')).toEqual(['a']);
      expect((await s.call('GET', '/v1/pstale/a')).json.v).toBe(1);
    });

    it('ifMatch null (*) on a missing record: 412, preconditionSucceeded false', async () => {
      const r = await parts([
        { id: 'x', path: '/v1/pstar', operation: 'create', payload: { v: 1 } },
        { id: 'y', path: '/v1/pstar/missing', operation: 'update', payload: { v: 2 }, ifMatch: null },
      ]);
      expect(r.status).toBe(412);
      expect(r.json.parts).toHaveLength(1);
      expect(r.json.parts[0]).toMatchObject({ id: 'y', preconditionSucceeded: false });
      expect(await ids('pstar')).toEqual([]);
    });

    it('a part failing validation (422) reports its problem; a failure that is not a precondition keeps preconditionSucceeded true', async () => {
      const c = await s.call('PUT', '/v1/p422/a', { json: { v: 1 } });
      const r = await parts([
        { id: 'ok', path: '/v1/p422/b', operation: 'replace', payload: {} },
        { id: 'bad', path: '/v1/objects', operation: 'create', payload: { attributes: 'no' }, ifNoneMatch: ['"x"'] },
        { id: 'later', path: '/v1/p422/a', operation: 'delete', ifMatch: c.headers.get('etag') },
      ]);
      expect(r.status).toBe(422);
      expect(r.json.parts.map((p: any) => p.id)).toEqual(['bad']);
      expect(r.json.parts[0].payload.code).toBe('validation_failed');
      expect(r.json.parts[0].preconditionSucceeded).toBe(true);
      expect(await ids('p422')).toEqual(['a']);
    });
  });

  describe('parts dialect: refused before anything runs', () => {
    it('duplicate part ids: 400 duplicate_id, nothing runs', async () => {
      const r = await parts([
        { id: 'same', path: '/v1/pdup/1', operation: 'replace', payload: {} },
        { id: 'same', path: '/v1/pdup/2', operation: 'replace', payload: {} },
      ]);
      expect(r.status).toBe(400);
      expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(r.json.code).toBe('duplicate_id');
      expect(await ids('pdup')).toEqual([]);
    });

    it('an unknown operation: 400 bad_request, nothing runs', async () => {
      const r = await parts([
        { id: '1', path: '/v1/punk/1', operation: 'replace', payload: {} },
        { id: '2', path: '/v1/punk/2', operation: 'upsert', payload: {} },
      ]);
      expect(r.status).toBe(400);
      expect(r.json.code).toBe('bad_request');
      expect(r.json.detail).toMatch(/upsert/);
      expect(await ids('punk')).toEqual([]);
    });

    it('missing ids, malformed JSON, a wrong content type, too many parts', async () => {
      const noId = await parts([{ path: '/v1/pbad/1', operation: 'replace', payload: {} }]);
      expect(noId.status).toBe(400);
      expect(noId.json.code).toBe('bad_request');
      const broken = await s.call('POST', '/batch/parts', { body: '{"parts":[', headers: { 'content-type': 'application/json' } });
      expect(broken.status).toBe(400);
      expect(broken.json.code).toBe('invalid_json');
      const text = await s.call('POST', '/batch/parts', { body: '{"parts":[]}', headers: { 'content-type': 'text/plain' } });
      expect(text.status).toBe(415);
      const many = Array.from({ length: 101 }, (_, i) => ({ id: `p${i}`, path: `/v1/pbad/${i}`, operation: 'replace', payload: {} }));
      const big = await parts(many);
      expect(big.status).toBe(413);
      expect(big.json.code).toBe('batch_too_large');
      const emptyList = await parts([{ id: '1', path: '/v1/pbad/1', operation: 'replace', payload: {}, ifMatch: [] }]);
      expect(emptyList.status).toBe(400);
      expect(emptyList.json.code).toBe('bad_request');
      const nested = await parts([
        { id: '1', path: '/v1/pbad/1', operation: 'replace', payload: {} },
        { id: '2', path: '/batch/parts', operation: 'create', payload: { parts: [] } },
      ]);
      expect(nested.status).toBe(400);
      expect(nested.json.code).toBe('nested_batch');
      expect(await ids('pbad')).toEqual([]);
    });

    it('needs a token (401 problem+json)', async () => {
      const r = await s.call('POST', '/batch/parts', { body: '{"parts":[]}', headers: { 'content-type': 'application/json' }, token: null });
      expect(r.status).toBe(401);
      expect(r.json.code).toBe('unauthorized');
    });

    it('runs as the batch principal: another tenant sees nothing of it', async () => {
      await s.call('PUT', '/v1/pten/a', { json: { owner: 'acme' } });
      const r = await parts([{ id: 'g', path: '/v1/pten/a', operation: 'get' }], { token: TOKENS.globex });
      expect(r.status).toBe(404);
      expect(JSON.stringify(r.json)).not.toContain('acme');
    });
  });

  describe('parts dialect at POST /v1', () => {
    it('with the ADF batch media type it is a parts batch, answered in the same media type', async () => {
      const r = await parts(
        [
          { id: 'a', path: '/v1/padf/1', operation: 'replace', payload: { v: 1 } },
          { id: 'b', path: '/v1/padf/1', operation: 'get' },
        ],
        { path: '/v1', contentType: ADF },
      );
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe(ADF);
      expect(r.json.parts[1].payload).toEqual({ id: '1', v: 1 });
      expect(await ids('padf')).toEqual(['1']);
    });

    it('an ADF batch at /v1 that fails rolls back too', async () => {
      const r = await parts(
        [
          { id: 'a', path: '/v1/padf2/1', operation: 'replace', payload: { v: 1 } },
          { id: 'b', path: '/v1/padf2/none', operation: 'delete' },
        ],
        { path: '/v1', contentType: `${ADF}; charset=utf-8` },
      );
      expect(r.status).toBe(404);
      expect(r.json.parts[0].id).toBe('b');
      expect(await ids('padf2')).toEqual([]);
    });

    it('with application/json POST /v1 is not a parts batch', async () => {
      const r = await parts([{ id: 'a', path: '/v1/pjson/1', operation: 'replace', payload: {} }], { path: '/v1' });
      expect(r.status).not.toBe(200);
      expect(r.json?.parts).toBeUndefined();
      expect(await ids('pjson')).toEqual([]);
    });

    it('/batch/parts also takes the ADF media type', async () => {
      const r = await parts([{ id: 'a', path: '/v1/padf3/1', operation: 'replace', payload: {} }], { contentType: ADF });
      expect(r.status).toBe(200);
      expect(await ids('padf3')).toEqual(['1']);
    });
  });
});
