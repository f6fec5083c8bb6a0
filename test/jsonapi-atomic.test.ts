import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachBackend, startTestServer, TOKENS, type CallResult, type TestServer } from './support/server.js';

/** JSON:API Atomic Operations at POST /operations, rule by rule, over real HTTP on every backend. */

const ATOMIC = 'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic"';
const FORMAT = 'JSON:API atomic operations';

type Doc = Record<string, unknown>;
interface SendInit {
  contentType?: string | null;
  token?: string | null;
  headers?: Record<string, string>;
}

function client(s: () => TestServer) {
  const send = (doc: unknown, init: SendInit = {}) => {
    const headers: Record<string, string> = { ...init.headers };
    const contentType = init.contentType === undefined ? ATOMIC : init.contentType;
    if (contentType !== null) headers['content-type'] = contentType;
    return s().call('POST', '/operations', { body: typeof doc === 'string' ? doc : JSON.stringify(doc), headers, token: init.token });
  };
  const ops = (list: unknown[], init?: SendInit) => send({ 'atomic:operations': list }, init);
  const count = async (collection: string, token?: string) => {
    const r = await s().call('GET', `/v1/${collection}?$top=1000`, { token });
    return r.status === 200 ? (r.json.items as unknown[]).length : 0;
  };
  const get = (collection: string, id: string, token?: string) => s().call('GET', `/v1/${collection}/${segment(id)}`, { token });
  /** 200 with the atomic media type and one result per operation. */
  const results = (r: CallResult): Doc[] => {
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get('content-type')).toBe(ATOMIC);
    expect(Object.keys(r.json)).toEqual(['atomic:results']);
    return r.json['atomic:results'];
  };
  /** A failure or refusal: its status, one JSON:API error naming the format, no results. */
  const failed = (r: CallResult, status: number, code: string, pointer?: string | null) => {
    expect(r.status, r.text).toBe(status);
    expect(r.headers.get('content-type')).toBe(ATOMIC);
    expect(Object.keys(r.json)).toEqual(['errors']);
    expect(r.json.errors).toHaveLength(1);
    const error = r.json.errors[0];
    expect(error).toMatchObject({ status: String(status), code });
    expect(typeof error.title).toBe('string');
    expect(error.detail).toContain(FORMAT);
    expect(error.detail).not.toMatch(/SPEC|seed|§/i);
    if (pointer === null) expect(error.source).toBeUndefined();
    else if (pointer !== undefined) expect(error.source).toEqual({ pointer });
    return error;
  };
  return { send, ops, count, get, results, failed };
}

/** One path segment, parentheses encoded too (they would be a key predicate). */
const segment = (id: string) => encodeURIComponent(id).replace(/\(/g, '%28').replace(/\)/g, '%29');

let n = 0;
/** A fresh collection name per test, so counts start at zero. */
const fresh = (prefix = 'ja') => `${prefix}${++n}${Math.random().toString(36).slice(2, 6)}`;

describeEachBackend('jsonapi-atomic', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());
  const { send, ops, count, get, results, failed } = client(() => s);

  describe('the example document', () => {
    it('adds, links by lid, updates and removes in one request; results are positional', async () => {
      const people = fresh('people');
      const articles = fresh('articles');
      expect((await s.call('PUT', `/v1/${articles}/13`, { json: { title: 'old' } })).status).toBe(201);
      const r = await ops([
        { op: 'add', data: { type: people, lid: 'p1', attributes: { name: 'dgeb' } } },
        { op: 'add', data: { type: articles, attributes: { title: 'x' }, relationships: { author: { data: { type: people, lid: 'p1' } } } } },
        { op: 'update', ref: { type: people, lid: 'p1' }, data: { type: people, lid: 'p1', attributes: { name: 'y' } } },
        { op: 'remove', ref: { type: articles, id: '13' } },
      ]);
      const [person, article, update, remove] = results(r);
      const pid = (person!['data'] as Doc)['id'] as string;
      const aid = (article!['data'] as Doc)['id'] as string;
      expect(person).toEqual({ data: { type: people, id: pid, lid: 'p1', attributes: { name: 'dgeb' }, links: { self: `/v1/${people}/${pid}` } } });
      expect(article).toEqual({
        data: { type: articles, id: aid, attributes: { title: 'x' }, relationships: { author: { data: { type: people, id: pid } } }, links: { self: `/v1/${articles}/${aid}` } },
      });
      expect([update, remove]).toEqual([{}, {}]);
      // The record is the resource: attributes plus relationships, the lid stored as the id it stands for.
      expect((await get(people, pid)).json).toEqual({ id: pid, name: 'y' });
      expect((await get(articles, aid)).json).toEqual({ id: aid, title: 'x', relationships: { author: { data: { type: people, id: pid } } } });
      expect((await get(articles, '13')).status).toBe(404);
    });

    it('answers 200 with a result per operation even when none returns data (never 204)', async () => {
      const c = fresh();
      await s.call('PUT', `/v1/${c}/a`, { json: { v: 1 } });
      await s.call('PUT', `/v1/${c}/b`, { json: { v: 1 } });
      const r = await ops([
        { op: 'update', ref: { type: c, id: 'a' }, data: { type: c, id: 'a', attributes: { v: 2 } } },
        { op: 'remove', ref: { type: c, id: 'b' } },
      ]);
      expect(results(r)).toEqual([{}, {}]);
      expect(await count(c)).toBe(1);
    });

    it('answers an empty list of operations with empty results', async () => {
      expect(results(await ops([]))).toEqual([]);
    });
  });

  describe('content type', () => {
    const one = (c: string) => ({ 'atomic:operations': [{ op: 'add', data: { type: c, attributes: { v: 1 } } }] });

    it('takes the atomic ext (quoted or bare, any case of the type, with a profile, spaces around ;)', async () => {
      const c = fresh();
      for (const contentType of [
        ATOMIC,
        'application/vnd.api+json; ext="https://jsonapi.org/ext/atomic"',
        'Application/Vnd.Api+JSON;EXT="https://jsonapi.org/ext/atomic"',
        'application/vnd.api+json;ext=https://jsonapi.org/ext/atomic',
        'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic";profile="https://example.com/p1 https://example.com/p2"',
        'application/vnd.api+json ; profile="https://example.com/p" ; ext="https://jsonapi.org/ext/atomic"',
      ]) {
        results(await send(one(c), { contentType }));
      }
      expect(await count(c)).toBe(6);
    });

    it('refuses with 415 every other type, parameter or extension, in the errors document, and writes nothing', async () => {
      const c = fresh();
      for (const contentType of [
        null,
        'application/json',
        'application/vnd.api+json',
        'application/vnd.api+json;charset=utf-8;ext="https://jsonapi.org/ext/atomic"',
        'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic";foo=bar',
        'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic https://example.com/ext/other"',
        'application/vnd.api+json;ext="https://example.com/ext/other"',
        'application/vnd.api+json;ext="https://jsonapi.org/ext/ATOMIC"',
        'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic";ext="https://jsonapi.org/ext/atomic"',
        'application/vnd.api+json;ext=""',
        'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic',
        'text/plain',
        'multipart/mixed; boundary=x',
      ]) {
        failed(await send(one(c), { contentType }), 415, 'unsupported_media_type');
      }
      expect(await count(c)).toBe(0);
    });

    it('answers a document that is not JSON with 400 invalid_json', async () => {
      failed(await send('{"atomic:operations": ['), 400, 'invalid_json');
    });

    it('without a token: 401 in the errors document with WWW-Authenticate: Bearer, nothing runs', async () => {
      const c = fresh();
      const r = await send(one(c), { token: null });
      failed(r, 401, 'unauthorized');
      expect(r.headers.get('www-authenticate')).toBe('Bearer');
      failed(await send(one(c), { token: 'not-a-token' }), 401, 'unauthorized');
      expect(await count(c)).toBe(0);
    });

    it('is a batch endpoint: no operation of any format may target /operations', async () => {
      for (const path of ['/operations', '/Operations', '/%6Fperations']) {
        const r = await s.call('POST', '/batch', { json: { requests: [{ method: 'POST', path, body: {} }] } });
        expect(r.status, r.text).toBe(400);
        expect(r.json.code).toBe('nested_batch');
      }
      const odata = await s.call('POST', '/v1/$batch', { json: { requests: [{ id: '1', method: 'POST', url: '/operations', body: {} }] } });
      expect([odata.status, odata.json.error.code]).toEqual([400, 'nested_batch']);
    });
  });

  describe('resources and records', () => {
    it('an add with data.id is a PUT that must create: the id is the client\'s, an existing one is 409 and nothing is kept', async () => {
      const c = fresh();
      const other = fresh();
      const [created] = results(await ops([{ op: 'add', data: { type: c, id: 'x1', attributes: { n: 1 } } }]));
      expect(created).toEqual({ data: { type: c, id: 'x1', attributes: { n: 1 }, links: { self: `/v1/${c}/x1` } } });
      const r = await ops([
        { op: 'add', data: { type: other, attributes: { n: 0 } } },
        { op: 'add', data: { type: c, id: 'x1', attributes: { n: 2 } } },
      ]);
      const error = failed(r, 409, 'conflict', '/atomic:operations/1');
      expect(error.title).toBe('Conflict');
      expect(error.detail).toContain('x1');
      expect((await get(c, 'x1')).json).toEqual({ id: 'x1', n: 1 });
      expect(await count(other)).toBe(0);
    });

    it('an add without id is a POST: the server assigns the id, and the result reads the record back', async () => {
      const c = fresh();
      const [created] = results(await ops([{ op: 'add', data: { type: c, attributes: { title: 't', nested: { a: [1, 2] } }, meta: { ignored: true } } }]));
      const data = created!['data'] as Doc;
      expect(typeof data['id']).toBe('string');
      expect(data).toEqual({ type: c, id: data['id'], attributes: { title: 't', nested: { a: [1, 2] } }, links: { self: `/v1/${c}/${data['id']}` } });
      expect((await get(c, data['id'] as string)).json).toEqual({ id: data['id'], title: 't', nested: { a: [1, 2] } });
    });

    it('an update is a merge patch of attributes and relationships: null removes a member', async () => {
      const c = fresh();
      await s.call('PUT', `/v1/${c}/u1`, { json: { a: 1, b: 2, relationships: { owner: { data: { type: 'people', id: 'p1' } }, tags: { data: [] } } } });
      const r = await ops([
        {
          op: 'update',
          ref: { type: c, id: 'u1' },
          data: { type: c, id: 'u1', attributes: { a: 10, b: null, c: { d: 1 } }, relationships: { owner: { data: { type: 'people', id: 'p2' } }, tags: null } },
        },
      ]);
      expect(results(r)).toEqual([{}]);
      expect((await get(c, 'u1')).json).toEqual({ id: 'u1', a: 10, c: { d: 1 }, relationships: { owner: { data: { type: 'people', id: 'p2' } } } });
    });

    it('names the target by ref, by href (key predicates too), or by the data\'s own type and id', async () => {
      const c = fresh();
      for (const id of ['a', 'b', 'c', 'd', 'e', 'f']) await s.call('PUT', `/v1/${c}/${id}`, { json: { v: 0 } });
      const r = await ops([
        { op: 'update', ref: { type: c, id: 'a' }, data: { type: c, id: 'a', attributes: { v: 1 } } },
        { op: 'update', href: `/v1/${c}/b`, data: { type: c, id: 'b', attributes: { v: 1 } } },
        { op: 'update', data: { type: c, id: 'c', attributes: { v: 1 } } },
        { op: 'update', ref: { type: c, id: 'd' }, data: { type: c, attributes: { v: 1 } } },
        { op: 'remove', href: `/v1/${c}('e')` },
        { op: 'remove', data: { type: c, id: 'f' } },
      ]);
      expect(results(r)).toEqual([{}, {}, {}, {}, {}, {}]);
      for (const id of ['a', 'b', 'c', 'd']) expect((await get(c, id)).json.v).toBe(1);
      expect(await count(c)).toBe(4);
    });

    it('an add may target its collection by href or by ref (as Orbit.js sends it)', async () => {
      const c = fresh();
      const r = await ops([
        { op: 'add', href: `/v1/${c}`, data: { type: c, attributes: { v: 1 } } },
        { op: 'add', ref: { type: c, id: 'o1' }, data: { type: c, id: 'o1', attributes: { v: 2 } } },
        { op: 'add', ref: { type: c }, data: { type: c, attributes: { v: 3 } } },
        { op: 'add', href: `/v1/${c}/h1`, data: { type: c, attributes: { v: 4 } } },
      ]);
      const ids = results(r).map((x) => (x['data'] as Doc)['id']);
      expect(ids.slice(1, 2)).toEqual(['o1']);
      expect(ids[3]).toBe('h1');
      expect(await count(c)).toBe(4);
    });

    it('ids are one segment of data: percent signs, parentheses and quotes name the record they spell', async () => {
      const c = fresh();
      const ids = ['%2e%2e', "x('1')", 'a b', 'ünï', '$top'];
      results(await ops(ids.map((id) => ({ op: 'add', data: { type: c, id, attributes: { id_was: id } } }))));
      for (const id of ids) expect((await get(c, id)).json).toEqual({ id, id_was: id });
      results(await ops(ids.map((id) => ({ op: 'remove', ref: { type: c, id } }))));
      expect(await count(c)).toBe(0);
    });
  });

  describe('refusals: nothing runs, the error points at the member', () => {
    /** The first operation adds to `c`, so a refusal that let anything run would show. */
    const refused = async (c: string, bad: unknown, status: number, code: string, pointer?: string | null, extra: Doc = {}) => {
      const r = await send({ 'atomic:operations': [{ op: 'add', data: { type: c, attributes: { v: 1 } } }, bad], ...extra });
      const error = failed(r, status, code, pointer);
      expect(await count(c)).toBe(0);
      return error;
    };

    it('top-level data or included, an unknown member, a missing operations array: 400 bad_request', async () => {
      const c = fresh();
      const add = { op: 'add', data: { type: c, attributes: {} } };
      await refused(c, add, 400, 'bad_request', '/data', { data: { type: c } });
      await refused(c, add, 400, 'bad_request', '/included', { included: [] });
      await refused(c, add, 400, 'bad_request', '/atomic:results', { 'atomic:results': [] });
      failed(await send({ operations: [] }), 400, 'bad_request');
      failed(await send({ 'atomic:operations': {} }), 400, 'bad_request', '/atomic:operations');
      failed(await send([]), 400, 'bad_request');
      results(await send({ 'atomic:operations': [], jsonapi: { version: '1.1', ext: ['https://jsonapi.org/ext/atomic'] }, meta: { m: 1 } }));
    });

    it('a malformed operation: 400 bad_request at its member', async () => {
      const c = fresh();
      await refused(c, 'add', 400, 'bad_request', '/atomic:operations/1');
      await refused(c, { op: 'create', data: { type: c } }, 400, 'bad_request', '/atomic:operations/1/op');
      await refused(c, { data: { type: c } }, 400, 'bad_request', '/atomic:operations/1/op');
      await refused(c, { op: 'add', data: { type: c }, headers: { 'X-Extra': '1' } }, 400, 'bad_request', '/atomic:operations/1/headers');
      await refused(c, { op: 'add' }, 400, 'bad_request', '/atomic:operations/1');
      await refused(c, { op: 'update', ref: { type: c, id: '1' } }, 400, 'bad_request', '/atomic:operations/1');
      await refused(c, { op: 'add', data: [{ type: c }] }, 400, 'bad_request', '/atomic:operations/1/data');
      await refused(c, { op: 'update', ref: { type: c, id: '1' }, data: null }, 400, 'bad_request', '/atomic:operations/1/data');
      await refused(c, { op: 'add', data: { attributes: {} } }, 400, 'bad_request', '/atomic:operations/1/data/type');
      await refused(c, { op: 'add', data: { type: c, id: 7 } }, 400, 'bad_request', '/atomic:operations/1/data/id');
      await refused(c, { op: 'add', data: { type: c, attributes: [] } }, 400, 'bad_request', '/atomic:operations/1/data/attributes');
      await refused(c, { op: 'add', data: { type: c, attributes: { id: 'x' } } }, 400, 'bad_request', '/atomic:operations/1/data/attributes/id');
      await refused(c, { op: 'add', data: { type: c, attributes: { relationships: {} } } }, 400, 'bad_request', '/atomic:operations/1/data/attributes/relationships');
      await refused(c, { op: 'add', data: { type: c, attributes: { a: 1 }, relationships: { a: { data: null } } } }, 400, 'bad_request', '/atomic:operations/1/data/relationships/a');
      await refused(c, { op: 'add', data: { type: c, relationships: { r: { data: { type: c } } } } }, 400, 'bad_request', '/atomic:operations/1/data/relationships/r/data');
      await refused(c, { op: 'add', data: { type: c, relationships: { r: {} } } }, 400, 'bad_request', '/atomic:operations/1/data/relationships/r');
      await refused(c, { op: 'add', data: { type: c, unknown: 1 } }, 400, 'bad_request', '/atomic:operations/1/data/unknown');
      await refused(c, { op: 'remove', ref: { type: c, id: '1' }, data: { type: c, id: '1', attributes: {} } }, 400, 'bad_request', '/atomic:operations/1/data/attributes');
      await refused(c, { op: 'remove', ref: { type: c } }, 400, 'bad_request', '/atomic:operations/1/ref');
      await refused(c, { op: 'remove' }, 400, 'bad_request', '/atomic:operations/1');
    });

    it('ref with href: 400; ref.relationship: 400 bad_request (relationship operations are not supported)', async () => {
      const c = fresh();
      await refused(c, { op: 'remove', ref: { type: c, id: '1' }, href: `/v1/${c}/1` }, 400, 'bad_request', '/atomic:operations/1/href');
      const error = await refused(c, { op: 'update', ref: { type: c, id: '1', relationship: 'author' }, data: null }, 400, 'bad_request', '/atomic:operations/1/ref/relationship');
      expect(error.detail).toMatch(/relationship/);
    });

    it('a target and data that disagree: 409 conflict', async () => {
      const c = fresh();
      await refused(c, { op: 'update', ref: { type: c, id: '1' }, data: { type: `${c}x`, id: '1', attributes: {} } }, 409, 'conflict', '/atomic:operations/1/data/type');
      await refused(c, { op: 'update', ref: { type: c, id: '1' }, data: { type: c, id: '2', attributes: {} } }, 409, 'conflict', '/atomic:operations/1/data/id');
      await refused(c, { op: 'update', href: `/v1/${c}/1`, data: { type: c, id: '2', attributes: {} } }, 409, 'conflict', '/atomic:operations/1/data/id');
      await refused(c, { op: 'add', href: `/v1/${c}x`, data: { type: c, attributes: {} } }, 409, 'conflict', '/atomic:operations/1/data/type');
      await refused(c, { op: 'add', ref: { type: c, id: 'a' }, data: { type: c, id: 'b' } }, 409, 'conflict', '/atomic:operations/1/data/id');
    });

    it('a type that is not letters, digits, - and _, or an id that is not one segment: 400 invalid_path', async () => {
      const c = fresh();
      for (const type of ['a/b', '../batch', 'a b', 'ä', '', 'x.y', '$batch']) {
        await refused(c, { op: 'add', data: { type, attributes: {} } }, 400, 'invalid_path', '/atomic:operations/1/data/type');
      }
      for (const id of ['../../batch', '..', '.', '', 'a/b', 'a\\b', 'a\u0000b', 'x'.repeat(257)]) {
        await refused(c, { op: 'add', data: { type: c, id, attributes: {} } }, 400, 'invalid_path', '/atomic:operations/1/data/id');
        await refused(c, { op: 'remove', ref: { type: c, id } }, 400, 'invalid_path', '/atomic:operations/1/ref/id');
      }
      for (const href of [`/v1/${c}/../batch`, `/v1/${c}/a/b`, `/${c}/1`, 'http://evil.example/v1/x/1', `//evil.example/v1/${c}/1`, `/v1/${c}/1?token=x`, `/v1/${c}/%2e%2e`, 'v1/x/1', '/operations']) {
        await refused(c, { op: 'remove', href }, 400, 'invalid_path', '/atomic:operations/1/href');
      }
    });

    it('a type or id that routes to a batch endpoint: 400 nested_batch, pointing at the operation', async () => {
      const c = fresh();
      await refused(c, { op: 'add', data: { type: 'batch', attributes: {} } }, 400, 'nested_batch', '/atomic:operations/1');
      await refused(c, { op: 'remove', ref: { type: c, id: '$batch' } }, 400, 'nested_batch', '/atomic:operations/1');
    });

    it('more operations than OMNIBUS_MAX_OPS: 413 batch_too_large', async () => {
      const c = fresh();
      const many = Array.from({ length: 101 }, () => ({ op: 'add', data: { type: c, attributes: {} } }));
      failed(await ops(many), 413, 'batch_too_large', null);
      expect(await count(c)).toBe(0);
    });
  });

  describe('lids', () => {
    it('a lid stands for its resource in later refs, data and linkage, to-one and to-many; stored as {type, id}', async () => {
      const people = fresh('p');
      const tags = fresh('t');
      const posts = fresh('posts');
      const r = await ops([
        { op: 'add', data: { type: people, lid: 'a', attributes: { name: 'A' } } },
        { op: 'add', data: { type: tags, lid: 't1', attributes: { n: 1 } } },
        { op: 'add', data: { type: tags, id: 'fixed', lid: 't2', attributes: { n: 2 } } },
        {
          op: 'add',
          data: {
            type: posts,
            lid: 'post',
            attributes: { title: 'hello' },
            relationships: {
              author: { data: { type: people, lid: 'a', meta: { role: 'writer' } }, links: { related: '/x' } },
              tags: { data: [{ type: tags, lid: 't1' }, { type: tags, lid: 't2' }, { type: tags, id: 'other' }] },
              editor: { data: null },
            },
          },
        },
        { op: 'update', ref: { type: posts, lid: 'post' }, data: { type: posts, lid: 'post', relationships: { reviewer: { data: { type: people, lid: 'a' } } } } },
        { op: 'update', data: { type: people, lid: 'a', attributes: { name: 'B' } } },
        { op: 'update', ref: { type: tags, lid: 't2' }, data: { type: tags, id: 'fixed', attributes: { n: 3 } } },
      ]);
      const out = results(r);
      const id = (i: number) => (out[i]!['data'] as Doc)['id'] as string;
      expect((out[0]!['data'] as Doc)['lid']).toBe('a');
      expect((out[2]!['data'] as Doc)).toMatchObject({ id: 'fixed', lid: 't2' });
      expect(out.slice(4)).toEqual([{}, {}, {}]);
      const post = (await get(posts, id(3))).json;
      expect(post).toEqual({
        id: id(3),
        title: 'hello',
        relationships: {
          author: { data: { type: people, id: id(0), meta: { role: 'writer' } }, links: { related: '/x' } },
          tags: { data: [{ type: tags, id: id(1) }, { type: tags, id: 'fixed' }, { type: tags, id: 'other' }] },
          editor: { data: null },
          reviewer: { data: { type: people, id: id(0) } },
        },
      });
      expect((await get(people, id(0))).json.name).toBe('B');
      expect((await get(tags, 'fixed')).json.n).toBe(3);
    });

    it('a lid is unique per type: twice in one type is 400 duplicate_id, the same lid in two types is two resources', async () => {
      const a = fresh();
      const b = fresh();
      const r = await ops([
        { op: 'add', data: { type: a, lid: 'x', attributes: {} } },
        { op: 'add', data: { type: a, lid: 'x', attributes: {} } },
      ]);
      failed(r, 400, 'duplicate_id', '/atomic:operations/1/data/lid');
      expect(await count(a)).toBe(0);
      const ok = results(
        await ops([
          { op: 'add', data: { type: a, lid: 'x', attributes: { t: 'a' } } },
          { op: 'add', data: { type: b, lid: 'x', attributes: { t: 'b' } } },
          { op: 'update', ref: { type: b, lid: 'x' }, data: { type: b, lid: 'x', attributes: { u: 1 } } },
        ]),
      );
      expect((await get(b, (ok[1]!['data'] as Doc)['id'] as string)).json).toMatchObject({ t: 'b', u: 1 });
      expect((await get(a, (ok[0]!['data'] as Doc)['id'] as string)).json.u).toBeUndefined();
    });

    it('a lid no earlier add of its type made: 400 invalid_dependency, nothing runs', async () => {
      const c = fresh();
      const other = fresh();
      const cases: Array<[unknown[], string]> = [
        [[{ op: 'remove', ref: { type: c, lid: 'nope' } }], '/atomic:operations/1/ref/lid'],
        [[{ op: 'update', ref: { type: c, lid: 'later' }, data: { type: c, lid: 'later', attributes: {} } }, { op: 'add', data: { type: c, lid: 'later' } }], '/atomic:operations/1/ref/lid'],
        [[{ op: 'add', data: { type: other, lid: 'o' } }, { op: 'remove', ref: { type: c, lid: 'o' } }], '/atomic:operations/2/ref/lid'],
        [[{ op: 'add', data: { type: c, lid: 'self', relationships: { me: { data: { type: c, lid: 'self' } } } } }], '/atomic:operations/1/data/relationships/me/data/lid'],
        [[{ op: 'add', data: { type: c, relationships: { many: { data: [{ type: c, id: '1' }, { type: c, lid: 'x' }] } } } }], '/atomic:operations/1/data/relationships/many/data/1/lid'],
        [[{ op: 'update', data: { type: c, lid: 'ghost', attributes: {} } }], '/atomic:operations/1/data/lid'],
      ];
      for (const [list, pointer] of cases) {
        failed(await ops([{ op: 'add', data: { type: c, attributes: {} } }, ...list]), 400, 'invalid_dependency', pointer);
      }
      expect(await count(c)).toBe(0);
      expect(await count(other)).toBe(0);
    });

    it('a target by lid and data by id (or the reverse) that cannot be shown to agree: 409 conflict', async () => {
      const c = fresh();
      const r = await ops([
        { op: 'add', data: { type: c, lid: 'n', attributes: {} } },
        { op: 'update', ref: { type: c, lid: 'n' }, data: { type: c, id: 'k', attributes: {} } },
      ]);
      failed(r, 409, 'conflict', '/atomic:operations/1/ref/lid');
      const known = await ops([
        { op: 'add', data: { type: c, id: 'k', lid: 'n', attributes: {} } },
        { op: 'update', ref: { type: c, lid: 'n' }, data: { type: c, id: 'k', attributes: { v: 1 } } },
      ]);
      expect(results(known)).toHaveLength(2);
      expect((await get(c, 'k')).json.v).toBe(1);
    });
  });

  describe('one transaction', () => {
    it('a failing operation keeps nothing: its status, one error pointing at it, no results', async () => {
      const c = fresh();
      const d = fresh();
      await s.call('PUT', `/v1/${c}/keep`, { json: { v: 0 } });
      const r = await ops([
        { op: 'add', data: { type: c, lid: 'n', attributes: { v: 1 } } },
        { op: 'add', data: { type: d, relationships: { to: { data: { type: c, lid: 'n' } } } } },
        { op: 'update', ref: { type: c, id: 'keep' }, data: { type: c, id: 'keep', attributes: { v: 9 } } },
        { op: 'remove', ref: { type: c, id: 'missing' } },
        { op: 'add', data: { type: d, attributes: {} } },
      ]);
      const error = failed(r, 404, 'not_found', '/atomic:operations/3');
      expect(error.title).toBe('Not Found');
      expect(error.detail).toMatch(/operation 3 \(remove/);
      expect(await count(c)).toBe(1);
      expect((await get(c, 'keep')).json.v).toBe(0);
      expect(await count(d)).toBe(0);
    });

    it('another tenant\'s id is 404, and that tenant\'s record is left alone', async () => {
      const c = fresh();
      await s.call('PUT', `/v1/${c}/g1`, { json: { owner: 'globex' }, token: TOKENS.globex });
      failed(await ops([{ op: 'update', ref: { type: c, id: 'g1' }, data: { type: c, id: 'g1', attributes: { owner: 'acme' } } }]), 404, 'not_found', '/atomic:operations/0');
      failed(await ops([{ op: 'remove', ref: { type: c, id: 'g1' } }]), 404, 'not_found', '/atomic:operations/0');
      expect((await get(c, 'g1', TOKENS.globex)).json).toEqual({ id: 'g1', owner: 'globex' });
      // The same id in acme is acme's own record: a new one, not globex's.
      results(await ops([{ op: 'add', data: { type: c, id: 'g1', attributes: { owner: 'acme' } } }]));
      expect((await get(c, 'g1', TOKENS.globex)).json.owner).toBe('globex');
    });

    it('runs as the batch principal: credential and routing headers of the request and meta change nothing', async () => {
      const c = fresh();
      const r = await ops(
        [{ op: 'add', data: { type: c, id: 'who', attributes: {} }, meta: { Authorization: `Bearer ${TOKENS.globex}`, token: TOKENS.globex } }],
        { headers: { 'x-api-key': TOKENS.globex, cookie: `token=${TOKENS.globex}`, 'x-forwarded-host': 'evil.example', 'x-http-method-override': 'DELETE' } },
      );
      expect((results(r)[0]!['data'] as Doc)['links']).toEqual({ self: `/v1/${c}/who` });
      expect((await get(c, 'who')).status).toBe(200);
      expect((await get(c, 'who', TOKENS.globex)).status).toBe(404);
    });

    it('a read-only token may send the document, and each write answers 403: nothing kept', async () => {
      const c = fresh();
      failed(await ops([{ op: 'add', data: { type: c, attributes: {} } }], { token: TOKENS.acmeRead }), 403, 'forbidden', '/atomic:operations/0');
      expect(await count(c)).toBe(0);
    });

    it('a lid whose value is ../../batch is refused (one segment); a created id is always one segment', async () => {
      const c = fresh();
      failed(await ops([{ op: 'add', data: { type: c, lid: '../../batch', attributes: {} } }]), 400, 'invalid_path', '/atomic:operations/0/data/lid');
      failed(await ops([{ op: 'remove', ref: { type: c, lid: '../../batch' } }]), 400, 'invalid_path', '/atomic:operations/0/ref/lid');
      expect(await count(c)).toBe(0);
    });
  });
});

describeEachBackend('jsonapi-atomic with limits and requireIfMatch', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ requireIfMatch: true, maxOps: 3 });
  });
  afterAll(() => s.close());
  const { ops, count, get, results, failed } = client(() => s);

  it('has no preconditions, so under requireIfMatch an update or a remove fails with 428 and nothing is kept', async () => {
    const c = fresh();
    await s.call('PUT', `/v1/${c}/r1`, { json: { v: 0 }, headers: { 'if-none-match': '*' } });
    for (const op of [
      { op: 'update', ref: { type: c, id: 'r1' }, data: { type: c, id: 'r1', attributes: { v: 1 } } },
      { op: 'remove', ref: { type: c, id: 'r1' } },
    ]) {
      const r = await ops([{ op: 'add', data: { type: c, attributes: {} } }, op]);
      failed(r, 428, 'precondition_required', '/atomic:operations/1');
    }
    expect(await count(c)).toBe(1);
    expect((await get(c, 'r1')).json.v).toBe(0);
  });

  it('an add, POST or PUT with If-None-Match: *, still creates under requireIfMatch', async () => {
    const c = fresh();
    expect(results(await ops([{ op: 'add', data: { type: c, attributes: {} } }, { op: 'add', data: { type: c, id: 'p', attributes: {} } }]))).toHaveLength(2);
    expect(await count(c)).toBe(2);
  });

  it('OMNIBUS_MAX_OPS bounds the operations: 4 of 3 is 413 batch_too_large and nothing runs', async () => {
    const c = fresh();
    const r = await ops(Array.from({ length: 4 }, () => ({ op: 'add', data: { type: c, attributes: {} } })));
    const error = failed(r, 413, 'batch_too_large', null);
    expect(error.detail).toMatch(/at most 3/);
    expect(await count(c)).toBe(0);
  });
});
