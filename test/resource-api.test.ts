import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachBackend, startTestServer, TOKENS, type TestServer } from './support/server.js';

describeEachBackend('resource API', () => {
  let s: TestServer;

  beforeAll(async () => {
    s = await startTestServer({
      maxObjects: 0,
      collections: [
        { name: 'time/projects' },
        {
          name: 'people',
          schema: {
            type: 'object',
            required: ['name'],
            properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 0 } },
          },
        },
      ],
    });
  });
  afterAll(() => s.close());

  async function create(collection: string, body: unknown, token?: string) {
    const r = await s.call('POST', `/v1/${collection}`, { json: body, token });
    expect(r.status).toBe(201);
    return r;
  }

  describe('health', () => {
    it('answers GET /healthz with 200 and no token, saying nothing about data', async () => {
      const r = await s.call('GET', '/healthz', { token: null });
      expect(r.status).toBe(200);
      expect(r.json).toEqual({ status: 'ok' });
    });
  });

  describe('create and read', () => {
    it('POST creates a record: 201, the record with a server-assigned id, ETag and Location', async () => {
      const r = await s.call('POST', '/v1/books', { json: { id: 'mine', title: 'Dune', pages: 412 } });
      expect(r.status).toBe(201);
      expect(r.json.title).toBe('Dune');
      expect(r.json.id).not.toBe('mine');
      expect(r.headers.get('etag')).toMatch(/^"[^"]+"$/);
      expect(r.headers.get('location')).toBe(`/v1/books/${r.json.id}`);
      expect(r.headers.get('content-type')).toMatch(/^application\/json/);
      const got = await s.call('GET', r.headers.get('location')!);
      expect(got.status).toBe(200);
      expect(got.json).toEqual({ id: r.json.id, title: 'Dune', pages: 412 });
      expect(got.headers.get('etag')).toBe(r.headers.get('etag'));
      expect(new Date(got.headers.get('last-modified')!).getTime()).not.toBeNaN();
    });

    it('GET answers 304 when If-None-Match matches and 200 when it does not', async () => {
      const c = await create('books', { title: 'Emma' });
      const etag = c.headers.get('etag')!;
      const hit = await s.call('GET', `/v1/books/${c.json.id}`, { headers: { 'if-none-match': `"zzz", ${etag}` } });
      expect(hit.status).toBe(304);
      expect(hit.text).toBe('');
      expect(hit.headers.get('etag')).toBe(etag);
      const miss = await s.call('GET', `/v1/books/${c.json.id}`, { headers: { 'if-none-match': '"other"' } });
      expect(miss.status).toBe(200);
      const star = await s.call('GET', `/v1/books/${c.json.id}`, { headers: { 'if-none-match': '*' } });
      expect(star.status).toBe(304);
    });

    it('GET with a stale If-Match answers 412', async () => {
      const c = await create('books', { title: 'Ulysses' });
      const r = await s.call('GET', `/v1/books/${c.json.id}`, { headers: { 'if-match': '"stale"' } });
      expect(r.status).toBe(412);
      expect(r.json.code).toBe('precondition_failed');
    });

    it('GET of an absent record answers 404 problem+json', async () => {
      const r = await s.call('GET', '/v1/books/nope');
      expect(r.status).toBe(404);
      expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(r.json).toMatchObject({ status: 404, code: 'not_found', title: expect.any(String), type: expect.any(String) });
      expect(typeof r.json.detail).toBe('string');
    });

    it('HEAD answers like GET without a body', async () => {
      const c = await create('books', { title: 'Heady' });
      const r = await s.call('HEAD', `/v1/books/${c.json.id}`);
      expect(r.status).toBe(200);
      expect(r.text).toBe('');
      expect(r.headers.get('etag')).toBe(c.headers.get('etag'));
    });
  });

  describe('list', () => {
    it('lists a collection never written to as an empty list', async () => {
      const r = await s.call('GET', '/v1/nothinghere');
      expect(r.status).toBe(200);
      expect(r.json).toEqual({ items: [], next: null });
    });

    it('lists items with _etag and _updated, pages with $top/$skip and a next link', async () => {
      for (let i = 0; i < 5; i++) await create('pages', { n: i });
      const first = await s.call('GET', '/v1/pages?$top=2');
      expect(first.status).toBe(200);
      expect(first.json.items.map((x: any) => x.n)).toEqual([0, 1]);
      expect(first.json.items[0]._etag).toMatch(/^"[^"]+"$/);
      expect(new Date(first.json.items[0]._updated).toISOString()).toBe(first.json.items[0]._updated);
      expect(first.json.next).toBe('/v1/pages?$top=2&$skip=2');
      const second = await s.call('GET', first.json.next);
      expect(second.json.items.map((x: any) => x.n)).toEqual([2, 3]);
      const last = await s.call('GET', second.json.next);
      expect(last.json.items.map((x: any) => x.n)).toEqual([4]);
      expect(last.json.next).toBeNull();
    });

    it('defaults $top to 50', async () => {
      const items = Array.from({ length: 55 }, (_, i) => ({ i }));
      for (const it of items) await create('many', it);
      const r = await s.call('GET', '/v1/many');
      expect(r.json.items).toHaveLength(50);
      expect(r.json.next).toBe('/v1/many?$top=50&$skip=50');
    });

    it('filters with the OData subset and orders with $orderby', async () => {
      await create('films', { title: 'A', year: 1999, meta: { rating: 8 }, color: true });
      await create('films', { title: 'B', year: 2005, meta: { rating: 6 }, color: false });
      await create('films', { title: 'C', year: 2010, meta: { rating: 9 }, color: true });
      await create('films', { title: "D'Or", year: null });
      const q = (f: string, o = 'title') =>
        s.call('GET', `/v1/films?$filter=${encodeURIComponent(f)}&$orderby=${encodeURIComponent(o)}`);
      expect((await q('year gt 2000')).json.items.map((x: any) => x.title)).toEqual(['B', 'C']);
      expect((await q('meta/rating ge 8 and color eq true')).json.items.map((x: any) => x.title)).toEqual(['A', 'C']);
      expect((await q("not (title eq 'A') or year eq 1999")).json.items.map((x: any) => x.title)).toEqual(['A', 'B', 'C', "D'Or"]);
      expect((await q('year eq null')).json.items.map((x: any) => x.title)).toEqual(["D'Or"]);
      expect((await q("title eq 'D''Or'")).json.items.map((x: any) => x.title)).toEqual(["D'Or"]);
      expect((await q('year ne 2005', 'year desc')).json.items.map((x: any) => x.title)).toEqual(['C', 'A', "D'Or"]);
    });

    it('refuses a malformed $filter with 400 bad_request naming the position', async () => {
      const r = await s.call('GET', `/v1/films?$filter=${encodeURIComponent('year gt')}`);
      expect(r.status).toBe(400);
      expect(r.json.code).toBe('bad_request');
      expect(r.json.position).toBe(7);
      expect(r.json.detail).toContain('7');
    });

    it.each([['$top=1001'], ['$top=-1'], ['$top=abc'], ['$skip=1.5'], ['$skip=-3']])('refuses %s with 400', async (q) => {
      const r = await s.call('GET', `/v1/films?${q}`);
      expect(r.status).toBe(400);
      expect(r.json.code).toBe('bad_request');
    });

    it('accepts $top=0 and $top=1000', async () => {
      expect((await s.call('GET', '/v1/films?$top=0')).json.items).toEqual([]);
      expect((await s.call('GET', '/v1/films?$top=1000')).status).toBe(200);
    });
  });

  describe('replace, patch, delete', () => {
    it('PUT replaces a record and changes its ETag', async () => {
      const c = await create('books', { title: 'Old', keep: 1 });
      const r = await s.call('PUT', `/v1/books/${c.json.id}`, { json: { title: 'New' } });
      expect(r.status).toBe(200);
      expect(r.json).toEqual({ id: c.json.id, title: 'New' });
      expect(r.headers.get('etag')).not.toBe(c.headers.get('etag'));
    });

    it('PUT creates an absent id chosen by the client (201) and then replaces it (200)', async () => {
      const r = await s.call('PUT', '/v1/books/chosen-1', { json: { title: 'Mine' } });
      expect(r.status).toBe(201);
      expect(r.headers.get('location')).toBe('/v1/books/chosen-1');
      expect((await s.call('PUT', '/v1/books/chosen-1', { json: { title: 'Again' } })).status).toBe(200);
    });

    it('PUT with If-Match on an absent id answers 412 and creates nothing', async () => {
      const r = await s.call('PUT', '/v1/books/absent-im', { json: { t: 1 }, headers: { 'if-match': '*' } });
      expect(r.status).toBe(412);
      expect((await s.call('GET', '/v1/books/absent-im')).status).toBe(404);
    });

    it('PUT with If-None-Match: * creates only if absent', async () => {
      expect((await s.call('PUT', '/v1/books/once', { json: { v: 1 }, headers: { 'if-none-match': '*' } })).status).toBe(201);
      const again = await s.call('PUT', '/v1/books/once', { json: { v: 2 }, headers: { 'if-none-match': '*' } });
      expect(again.status).toBe(412);
      expect((await s.call('GET', '/v1/books/once')).json.v).toBe(1);
    });

    it('a write with a matching If-Match succeeds and a stale one answers 412 and changes nothing', async () => {
      const c = await create('books', { title: 'v1' });
      const etag = c.headers.get('etag')!;
      const good = await s.call('PUT', `/v1/books/${c.json.id}`, { json: { title: 'v2' }, headers: { 'if-match': etag } });
      expect(good.status).toBe(200);
      const stale = await s.call('PUT', `/v1/books/${c.json.id}`, { json: { title: 'v3' }, headers: { 'if-match': etag } });
      expect(stale.status).toBe(412);
      expect(stale.json.code).toBe('precondition_failed');
      const list = await s.call('PATCH', `/v1/books/${c.json.id}`, {
        json: { title: 'v4' },
        headers: { 'if-match': `"nope", ${good.headers.get('etag')}` },
      });
      expect(list.status).toBe(200);
      expect((await s.call('GET', `/v1/books/${c.json.id}`)).json.title).toBe('v4');
    });

    it('PATCH applies a JSON Merge Patch (RFC 7386), also as application/merge-patch+json', async () => {
      const c = await create('books', { title: 'T', tags: ['a'], meta: { a: 1, b: 2 }, gone: true });
      const r = await s.call('PATCH', `/v1/books/${c.json.id}`, {
        body: JSON.stringify({ meta: { b: null, c: 3 }, gone: null, tags: ['z'] }),
        headers: { 'content-type': 'application/merge-patch+json' },
      });
      expect(r.status).toBe(200);
      expect(r.json).toEqual({ id: c.json.id, title: 'T', tags: ['z'], meta: { a: 1, c: 3 } });
      expect(r.headers.get('etag')).not.toBe(c.headers.get('etag'));
    });

    it('PATCH of an absent record answers 404', async () => {
      expect((await s.call('PATCH', '/v1/books/absent', { json: { a: 1 } })).status).toBe(404);
    });

    it('DELETE answers 204, then the record is gone (404)', async () => {
      const c = await create('books', { title: 'bye' });
      const d = await s.call('DELETE', `/v1/books/${c.json.id}`);
      expect(d.status).toBe(204);
      expect(d.text).toBe('');
      expect((await s.call('GET', `/v1/books/${c.json.id}`)).status).toBe(404);
      expect((await s.call('DELETE', `/v1/books/${c.json.id}`)).status).toBe(404);
    });

    it('DELETE with a stale If-Match answers 412 and keeps the record', async () => {
      const c = await create('books', { title: 'stay' });
      const d = await s.call('DELETE', `/v1/books/${c.json.id}`, { headers: { 'if-match': '"old"' } });
      expect(d.status).toBe(412);
      expect((await s.call('GET', `/v1/books/${c.json.id}`)).status).toBe(200);
    });

    it('answers 405 for a method a route does not take', async () => {
      const r = await s.call('PUT', '/v1/books', { json: {} });
      expect(r.status).toBe(405);
      expect(r.json.code).toBe('method_not_allowed');
      expect(r.headers.get('allow')).toContain('POST');
    });
  });

  describe('collections', () => {
    it('serves configured multi-segment collections', async () => {
      const c = await create('time/projects', { name: 'P' });
      expect(c.headers.get('location')).toBe(`/v1/time/projects/${c.json.id}`);
      expect((await s.call('GET', `/v1/time/projects/${c.json.id}`)).json.name).toBe('P');
      expect((await s.call('GET', '/v1/time/projects')).json.items).toHaveLength(1);
    });

    it('answers 404 for an unconfigured multi-segment collection', async () => {
      const r = await s.call('POST', '/v1/time/other', { json: { a: 1 } });
      expect(r.status).toBe(404);
      expect(r.json.code).toBe('not_found');
    });

    it('refuses a body that fails the collection JSON Schema with 422 and stores nothing', async () => {
      const r = await s.call('POST', '/v1/people', { json: { age: -1 } });
      expect(r.status).toBe(422);
      expect(r.json.code).toBe('validation_failed');
      expect(r.json.errors.length).toBeGreaterThan(0);
      expect((await s.call('GET', '/v1/people')).json.items).toEqual([]);
      expect((await s.call('POST', '/v1/people', { json: { name: 'Ann', age: 3 } })).status).toBe(201);
    });

    it('validates PATCH results against the schema too (422, record unchanged)', async () => {
      const c = await create('people', { name: 'Bo' });
      const r = await s.call('PATCH', `/v1/people/${c.json.id}`, { json: { name: null } });
      expect(r.status).toBe(422);
      expect((await s.call('GET', `/v1/people/${c.json.id}`)).json.name).toBe('Bo');
    });
  });

  describe('objects (seed 003 attribute lists)', () => {
    it('stores an ordered attribute list and reads it back in order', async () => {
      const body = {
        attributes: [
          { d: 'title', vt: 16, value: 'Nice book' },
          { d: 'title', q: 'alternative', vt: 16, value: 'Other' },
          { d: 'pages', vt: 3, value: '12' },
        ],
      };
      const r = await s.call('PUT', '/v1/objects/o1', { json: body });
      expect(r.status).toBe(201);
      expect((await s.call('GET', '/v1/objects/o1')).json).toEqual({ id: 'o1', ...body });
    });

    it.each([
      [{ attributes: [{ d: '', vt: 16, value: 'x' }] }],
      [{ attributes: [{ d: 'a', vt: 'x', value: 'x' }] }],
      [{ attributes: [{ d: 'a', vt: 1, value: 5 }] }],
      [{ attributes: 'no' }],
      [{ other: 1 }],
    ])('refuses a malformed object body with 422: %j', async (body) => {
      const r = await s.call('POST', '/v1/objects', { json: body });
      expect(r.status).toBe(422);
      expect(r.json.code).toBe('validation_failed');
    });
  });

  describe('bad input changes nothing', () => {
    it('malformed JSON: 400 invalid_json', async () => {
      const r = await s.call('PUT', '/v1/books/bad-json', { body: '{"a":', headers: { 'content-type': 'application/json' } });
      expect(r.status).toBe(400);
      expect(r.json.code).toBe('invalid_json');
      expect((await s.call('GET', '/v1/books/bad-json')).status).toBe(404);
    });

    it('a non-JSON content type on a write: 415', async () => {
      const r = await s.call('PUT', '/v1/books/bad-type', { body: 'title=x', headers: { 'content-type': 'text/plain' } });
      expect(r.status).toBe(415);
      expect(r.json.code).toBe('unsupported_media_type');
      expect((await s.call('GET', '/v1/books/bad-type')).status).toBe(404);
    });

    it('merge-patch+json is only for PATCH: 415 on PUT', async () => {
      const r = await s.call('PUT', '/v1/books/mp', { body: '{}', headers: { 'content-type': 'application/merge-patch+json' } });
      expect(r.status).toBe(415);
    });

    it('strings no backend can store (NUL, lone surrogates) and bodies nested too deep: 400, nothing stored', async () => {
      const nul = await s.call('PUT', '/v1/books/nul', { body: '{"t":"a\\u0000b"}', headers: { 'content-type': 'application/json' } });
      expect(nul.status).toBe(400);
      expect(nul.json.code).toBe('bad_request');
      const lone = await s.call('PUT', '/v1/books/nul', { body: '{"t":"\\ud800"}', headers: { 'content-type': 'application/json' } });
      expect(lone.status).toBe(400);
      const deep = await s.call('PUT', '/v1/books/nul', { body: `{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`, headers: { 'content-type': 'application/json' } });
      expect(deep.status).toBe(400);
      expect(deep.json.detail).toContain('deeper');
      expect((await s.call('GET', '/v1/books/nul')).status).toBe(404);
    });

    it('a JSON body that is not an object: 400', async () => {
      const r = await s.call('POST', '/v1/books', { json: [1, 2] });
      expect(r.status).toBe(400);
      expect(r.json.code).toBe('bad_request');
    });

    it('a body over the limit: 413 body_too_large', async () => {
      const small = await startTestServer({ maxBatchBytes: 1024 });
      try {
        const r = await small.call('PUT', '/v1/books/big', { json: { x: 'y'.repeat(2000) } });
        expect(r.status).toBe(413);
        expect(r.json.code).toBe('body_too_large');
        expect((await small.call('GET', '/v1/books/big')).status).toBe(404);
      } finally {
        await small.close();
      }
    });

    it('an unknown collection when collections are closed: 404', async () => {
      const closed = await startTestServer({ openCollections: false, collections: [{ name: 'known' }] });
      try {
        const r = await closed.call('POST', '/v1/unknown', { json: { a: 1 } });
        expect(r.status).toBe(404);
        expect(r.json.code).toBe('not_found');
        expect((await closed.call('POST', '/v1/known', { json: { a: 1 } })).status).toBe(201);
        expect((await closed.call('GET', '/v1/unknown')).status).toBe(404);
      } finally {
        await closed.close();
      }
    });

    it.each([['/v1/books/a%2Fb'], ['/v1/books/..'], ['/v1/books/%2e%2e'], ['/v1/books/a%5Cb'], ['/v1/books/a%00b']])(
      'a record id like %s: 400 invalid_path',
      async (path) => {
        const res = await rawRequest(s.url, 'PUT', path, '{"x":1}');
        expect(res.status).toBe(400);
        expect(JSON.parse(res.body).code).toBe('invalid_path');
      },
    );

    it('cross-tenant read, write and delete answer 404 and leave the record unchanged', async () => {
      const c = await create('secrets', { v: 'acme' });
      const path = `/v1/secrets/${c.json.id}`;
      const other = { token: TOKENS.globex };
      expect((await s.call('GET', path, other)).status).toBe(404);
      expect((await s.call('PATCH', path, { ...other, json: { v: 'pwned' } })).status).toBe(404);
      expect((await s.call('DELETE', path, other)).status).toBe(404);
      expect((await s.call('GET', '/v1/secrets', other)).json.items).toEqual([]);
      const after = await s.call('GET', path);
      expect(after.json.v).toBe('acme');
      expect(after.headers.get('etag')).toBe(c.headers.get('etag'));
    });

    it('the same id in two tenants names two records', async () => {
      await s.call('PUT', '/v1/shared/x1', { json: { owner: 'acme' } });
      const g = await s.call('PUT', '/v1/shared/x1', { json: { owner: 'globex' }, token: TOKENS.globex });
      expect(g.status).toBe(201);
      expect((await s.call('GET', '/v1/shared/x1')).json.owner).toBe('acme');
      expect((await s.call('GET', '/v1/shared/x1', { token: TOKENS.globex })).json.owner).toBe('globex');
    });

    it('a missing scope: 403 forbidden, nothing written', async () => {
      const r = await s.call('PUT', '/v1/books/ro', { json: { a: 1 }, token: TOKENS.acmeRead });
      expect(r.status).toBe(403);
      expect(r.json.code).toBe('forbidden');
      expect((await s.call('GET', '/v1/books/ro', { token: TOKENS.acmeRead })).status).toBe(404);
      expect((await s.call('PUT', '/v1/books/admin', { json: { a: 1 }, token: TOKENS.acmeAdmin })).status).toBe(201);
    });

    it('no token or an unknown one: 401 unauthorized', async () => {
      const none = await s.call('GET', '/v1/books', { token: null });
      expect(none.status).toBe(401);
      expect(none.json.code).toBe('unauthorized');
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      expect((await s.call('POST', '/v1/books', { token: 'nope', json: { a: 1 } })).status).toBe(401);
      expect((await s.call('GET', '/v1/books', { token: null, headers: { authorization: 'Basic abc' } })).status).toBe(401);
    });

    it('accepts ?token= as seed 002 does', async () => {
      const r = await s.call('GET', `/v1/books?token=${TOKENS.acme}`, { token: null });
      expect(r.status).toBe(200);
    });

    it('stores __proto__ and constructor keys as plain data without polluting anything', async () => {
      const body = '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"title":"p"}';
      const c = await s.call('POST', '/v1/books', { body, headers: { 'content-type': 'application/json' } });
      expect(c.status).toBe(201);
      const got = await s.call('GET', `/v1/books/${c.json.id}`);
      expect(got.text).toContain('"__proto__":{"polluted":true}');
      expect(got.json.constructor).toEqual({ prototype: { polluted: true } });
      const patched = await s.call('PATCH', `/v1/books/${c.json.id}`, {
        body: '{"__proto__":{"more":1}}',
        headers: { 'content-type': 'application/json' },
      });
      expect(patched.status).toBe(200);
      expect(patched.text).toContain('"__proto__":{"polluted":true,"more":1}');
      expect(({} as any).polluted).toBeUndefined();
      expect(({} as any).more).toBeUndefined();
      expect((Object.prototype as any).polluted).toBeUndefined();
    });
  });

  describe('requireIfMatch', () => {
    it('answers 428 precondition_required for PUT/PATCH/DELETE without If-Match, but lets PUT If-None-Match: * create', async () => {
      const strict = await startTestServer({ requireIfMatch: true });
      try {
        const c = await strict.call('PUT', '/v1/books/r1', { json: { a: 1 }, headers: { 'if-none-match': '*' } });
        expect(c.status).toBe(201);
        for (const method of ['PUT', 'PATCH', 'DELETE']) {
          const r = await strict.call(method, '/v1/books/r1', { json: { a: 2 } });
          expect(r.status).toBe(428);
          expect(r.json.code).toBe('precondition_required');
        }
        expect((await strict.call('GET', '/v1/books/r1')).json.a).toBe(1);
        const ok = await strict.call('PATCH', '/v1/books/r1', { json: { a: 3 }, headers: { 'if-match': c.headers.get('etag')! } });
        expect(ok.status).toBe(200);
        expect((await strict.call('POST', '/v1/books', { json: { a: 1 } })).status).toBe(201);
      } finally {
        await strict.close();
      }
    });
  });

  describe('object limit', () => {
    it('answers 403 object_limit_exceeded for a create over maxObjects, per tenant', async () => {
      const limited = await startTestServer({ maxObjects: 2 });
      try {
        expect((await limited.call('POST', '/v1/a', { json: {} })).status).toBe(201);
        expect((await limited.call('PUT', '/v1/b/x', { json: {} })).status).toBe(201);
        const over = await limited.call('POST', '/v1/a', { json: {} });
        expect(over.status).toBe(403);
        expect(over.json.code).toBe('object_limit_exceeded');
        expect((await limited.call('PUT', '/v1/b/y', { json: {} })).status).toBe(403);
        expect((await limited.call('PUT', '/v1/b/x', { json: { v: 2 } })).status).toBe(200);
        expect((await limited.call('GET', '/v1/a')).json.items).toHaveLength(1);
        expect((await limited.call('POST', '/v1/a', { json: {}, token: TOKENS.globex })).status).toBe(201);
        expect((await limited.call('DELETE', '/v1/b/x')).status).toBe(204);
        expect((await limited.call('POST', '/v1/a', { json: {} })).status).toBe(201);
      } finally {
        await limited.close();
      }
    });
  });

  describe('concurrency', () => {
    it('20 clients PUT the same record with the same If-Match: exactly one 200, the rest 412, the winner stays', async () => {
      const c = await create('race', { n: -1 });
      const etag = c.headers.get('etag')!;
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, n) =>
          s.call('PUT', `/v1/race/${c.json.id}`, { json: { n }, headers: { 'if-match': etag } }),
        ),
      );
      const winners = results.filter((r) => r.status === 200);
      expect(winners).toHaveLength(1);
      expect(results.filter((r) => r.status === 412)).toHaveLength(19);
      const final = await s.call('GET', `/v1/race/${c.json.id}`);
      expect(final.json.n).toBe(winners[0]!.json.n);
      expect(final.headers.get('etag')).toBe(winners[0]!.headers.get('etag'));
    });
  });
});

/** Sends a request target byte for byte (fetch would normalise `..` away). */
async function rawRequest(base: string, method: string, path: string, body: string): Promise<{ status: number; body: string }> {
  const { request } = await import('node:http');
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: { authorization: `Bearer ${TOKENS.acme}`, 'content-type': 'application/json' },
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: data }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
