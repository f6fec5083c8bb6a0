import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachBackend, startTestServer, TOKENS, type CallResult, type TestServer } from './support/server.js';

/** SPEC 5.5, sentence by sentence, over real HTTP on every backend. */
describeEachBackend('odata-json batch', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  let n = 0;
  /** A fresh collection name per test, so counts start at zero. */
  const fresh = (prefix = 'od') => `${prefix}${++n}${Math.random().toString(36).slice(2, 6)}`;

  const odata = (requests: unknown[], init: { headers?: Record<string, string>; token?: string | null; path?: string } = {}) =>
    s.call('POST', init.path ?? '/v1/$batch', { json: { requests }, headers: init.headers, token: init.token });

  async function count(collection: string): Promise<number> {
    return (await s.call('GET', `/v1/${collection}?$top=1000`)).json.items.length;
  }

  const statuses = (r: CallResult) => r.json.responses.map((x: any) => [x.id, x.status]);
  const byId = (r: CallResult, id: string) => r.json.responses.find((x: any) => x.id === id);

  /** A refusal: the status, `{"error":{"code","message"}}` naming the format, OData-Version, and nothing written. */
  async function expectRefused(r: CallResult, status: number, code: string, collection?: string) {
    expect(r.status).toBe(status);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(r.headers.get('odata-version')).toBe('4.01');
    expect(Object.keys(r.json)).toEqual(['error']);
    expect(Object.keys(r.json.error).sort()).toEqual(['code', 'message']);
    expect(r.json.error.code).toBe(code);
    expect(r.json.error.message).toContain('OData JSON batch');
    expect(r.json.error.message).not.toMatch(/SPEC|seed/i);
    if (collection) expect(await count(collection)).toBe(0);
  }

  describe('endpoint and content type', () => {
    it('POST /v1/$batch and /v1/%24batch both take the batch', async () => {
      const c = fresh();
      for (const path of ['/v1/$batch', '/v1/%24batch']) {
        const r = await odata([{ id: '1', method: 'PUT', url: `/v1/${c}/${path.length}`, body: { p: path } }], { path });
        expect(r.status).toBe(200);
        expect(r.json.responses[0].status).toBe(201);
      }
      expect(await count(c)).toBe(2);
    });

    it('refuses another content type with 415, in the OData error form, and runs nothing', async () => {
      const c = fresh();
      const body = JSON.stringify({ requests: [{ id: '1', method: 'PUT', url: `/v1/${c}/1`, body: {} }] });
      // multipart/mixed is the OData multipart batch's (test/odata-multipart.test.ts).
      for (const type of ['text/plain', 'application/xml', 'multipart/form-data; boundary=b']) {
        await expectRefused(await s.call('POST', '/v1/$batch', { body, headers: { 'content-type': type } }), 415, 'unsupported_media_type', c);
      }
      await expectRefused(await s.call('POST', '/v1/$batch', { body }), 415, 'unsupported_media_type', c);
    });

    it('takes application/json with parameters', async () => {
      const c = fresh();
      const body = JSON.stringify({ requests: [{ id: '1', method: 'PUT', url: `/v1/${c}/1`, body: {} }] });
      const r = await s.call('POST', '/v1/$batch', { body, headers: { 'content-type': 'application/json; charset=utf-8; odata.metadata=minimal' } });
      expect(r.status).toBe(200);
      expect(await count(c)).toBe(1);
    });

    it('refuses malformed JSON (400 invalid_json) and a wrong shape (400 bad_request)', async () => {
      await expectRefused(await s.call('POST', '/v1/$batch', { body: '{"requests":[', headers: { 'content-type': 'application/json' } }), 400, 'invalid_json');
      await expectRefused(await s.call('POST', '/v1/$batch', { json: { requests: 'no' } }), 400, 'bad_request');
      await expectRefused(await s.call('POST', '/v1/$batch', { json: [] }), 400, 'bad_request');
    });
  });

  describe('request members', () => {
    it.each([
      ['no id', { method: 'PUT', url: 'X/1', body: {} }],
      ['a numeric id', { id: 1, method: 'PUT', url: 'X/1', body: {} }],
      ['an empty id', { id: '', method: 'PUT', url: 'X/1', body: {} }],
      ['no method', { id: '1', url: 'X/1', body: {} }],
      ['no url', { id: '1', method: 'PUT', body: {} }],
      ['headers that are not an object', { id: '1', method: 'PUT', url: 'X/1', headers: ['a'], body: {} }],
      ['a header value that is not a string', { id: '1', method: 'PUT', url: 'X/1', headers: { 'x-n': 1 }, body: {} }],
      ['dependsOn that is not a list of strings', { id: '1', method: 'PUT', url: 'X/1', dependsOn: '0', body: {} }],
      ['an atomicityGroup that is not a string', { id: '1', method: 'PUT', url: 'X/1', atomicityGroup: 7, body: {} }],
    ])('refuses a request with %s: 400 bad_request, nothing runs', async (_what, bad) => {
      const c = fresh();
      const fixed = JSON.parse(JSON.stringify(bad).replace(/"X\//g, `"${c}/`));
      const r = await odata([{ id: 'first', method: 'PUT', url: `/v1/${c}/first`, body: {} }, fixed]);
      await expectRefused(r, 400, 'bad_request', c);
    });

    it('refuses an unknown method: 400 bad_request, nothing runs', async () => {
      const c = fresh();
      await expectRefused(await odata([{ id: '1', method: 'PUT', url: `/v1/${c}/1`, body: {} }, { id: '2', method: 'BREW', url: `/v1/${c}` }]), 400, 'bad_request', c);
    });

    it('takes methods in any case', async () => {
      const c = fresh();
      const r = await odata([{ id: '1', method: 'put', url: `/v1/${c}/1`, body: { a: 1 } }]);
      expect(statuses(r)).toEqual([['1', 201]]);
    });

    it('refuses ids that are equal ignoring case: 400 duplicate_id, nothing runs', async () => {
      const c = fresh();
      const r = await odata([
        { id: 'Abc', method: 'PUT', url: `/v1/${c}/1`, body: {} },
        { id: 'aBC', method: 'PUT', url: `/v1/${c}/2`, body: {} },
      ]);
      await expectRefused(r, 400, 'duplicate_id', c);
      await expectRefused(await odata([{ id: 'x', method: 'PUT', url: `/v1/${c}/1`, body: {} }, { id: 'x', method: 'PUT', url: `/v1/${c}/2`, body: {} }]), 400, 'duplicate_id', c);
    });

    it('refuses an atomicityGroup named like a request id: 400 duplicate_id', async () => {
      const c = fresh();
      const r = await odata([
        { id: 'g', method: 'PUT', url: `/v1/${c}/1`, body: {} },
        { id: '2', method: 'PUT', url: `/v1/${c}/2`, body: {}, atomicityGroup: 'G' },
      ]);
      await expectRefused(r, 400, 'duplicate_id', c);
    });

    it('sends headers, and a JSON body of any shape as application/json', async () => {
      const c = fresh();
      const r = await odata([
        { id: '1', method: 'PUT', url: `/v1/${c}/1`, headers: { 'Content-Type': 'application/json' }, body: { nested: { list: [1, 'two', null] } } },
        { id: '2', method: 'PUT', url: `/v1/${c}/2`, body: [1, 2] },
        { id: '3', method: 'GET', url: `/v1/${c}/1`, headers: { 'If-None-Match': '*' }, dependsOn: ['1'] },
      ]);
      expect(statuses(r)).toEqual([
        ['1', 201],
        ['2', 400],
        ['3', 304],
      ]);
      expect(byId(r, '2').body.error.message).toContain('JSON object');
      expect((await s.call('GET', `/v1/${c}/1`)).json.nested).toEqual({ list: [1, 'two', null] });
    });

    it('sends a string body with a non-JSON content-type as that text', async () => {
      const c = fresh();
      const r = await odata([
        { id: 'text', method: 'PUT', url: `/v1/${c}/1`, headers: { 'content-type': 'text/plain' }, body: '{"a":1}' },
        { id: 'json', method: 'PUT', url: `/v1/${c}/2`, headers: { 'content-type': 'application/json' }, body: '{"a":1}' },
      ]);
      expect(byId(r, 'text').status).toBe(415);
      expect(byId(r, 'text').body.error.message).toContain('not text/plain');
      // With a JSON content-type a string body is the JSON string itself, which is no record.
      expect(byId(r, 'json').status).toBe(400);
      expect(await count(c)).toBe(0);
    });

    it('takes a null body as no body', async () => {
      const c = fresh();
      await s.call('PUT', `/v1/${c}/1`, { json: {} });
      const r = await odata([{ id: '1', method: 'DELETE', url: `/v1/${c}/1`, body: null }]);
      expect(statuses(r)).toEqual([['1', 204]]);
    });
  });

  describe('url forms', () => {
    it('an absolute path, a path relative to /v1/, and an absolute URL of this server name the same routes', async () => {
      const c = fresh();
      const r = await odata([
        { id: 'abs', method: 'PUT', url: `/v1/${c}/a`, body: { f: 'abs' } },
        { id: 'rel', method: 'PUT', url: `${c}/b`, body: { f: 'rel' } },
        { id: 'url', method: 'PUT', url: `${s.url}/v1/${c}/c`, body: { f: 'url' } },
        { id: 'list', method: 'GET', url: `${c}?$top=5&$orderby=f`, dependsOn: ['abs', 'rel', 'url'] },
      ]);
      expect(statuses(r)).toEqual([
        ['abs', 201],
        ['rel', 201],
        ['url', 201],
        ['list', 200],
      ]);
      expect(byId(r, 'list').body.items.map((x: any) => x.id)).toEqual(['a', 'b', 'c']);
    });

    it('accepts an absolute URL with the scheme and host in another case', async () => {
      const c = fresh();
      const url = s.url.replace('http://', 'HTTP://');
      const r = await odata([{ id: '1', method: 'PUT', url: `${url}/v1/${c}/1`, body: {} }]);
      expect(statuses(r)).toEqual([['1', 201]]);
    });

    it.each([
      ['another host', 'http://evil.example/v1/X/1'],
      ['another name of this host', 'LOCALHOST'],
      ['another port', 'OTHERPORT'],
      ['another scheme', 'HTTPS'],
      ['credentials in the URL', 'USERINFO'],
      ['a scheme without a host', 'mailto:x@example.com'],
      ['a protocol-relative URL', '//evil.example/v1/X/1'],
      ['a traversal in an absolute URL', 'TRAVERSAL'],
      ['a dot segment in a relative path', './X/1'],
      ['a traversal in a relative path', '../batch'],
      ['a backslash', 'X\\1'],
      ['an empty url', ''],
      ['a fragment', 'X/1#frag'],
    ])('refuses %s: 400 invalid_path, nothing runs', async (_what, form) => {
      const c = fresh();
      const port = Number(new URL(s.url).port);
      const url = {
        OTHERPORT: `http://127.0.0.1:${port === 65535 ? 1 : port + 1}/v1/${c}/1`,
        HTTPS: `${s.url.replace('http:', 'https:')}/v1/${c}/1`,
        USERINFO: `${s.url.replace('http://', 'http://user:pw@')}/v1/${c}/1`,
        TRAVERSAL: `${s.url}/v1/${c}/../../batch`,
        LOCALHOST: `${s.url.replace('127.0.0.1', 'localhost')}/v1/${c}/1`,
      }[form] ?? form.replace('X', c);
      const r = await odata([{ id: 'first', method: 'PUT', url: `/v1/${c}/first`, body: {} }, { id: 'bad', method: 'PUT', url, body: {} }]);
      await expectRefused(r, 400, 'invalid_path', c);
    });

    it.each([['/v1/$batch'], ['/v1/%24batch'], ['$batch'], ['%24batch'], ['/batch'], ['/v1/batch'], [`SELF/v1/$batch`]])(
      'refuses a nested batch at %s: 400 nested_batch, nothing runs',
      async (url) => {
        const c = fresh();
        const r = await odata([
          { id: 'first', method: 'PUT', url: `/v1/${c}/first`, body: {} },
          { id: 'nest', method: 'POST', url: url.replace('SELF', s.url), headers: { 'content-type': 'application/json' }, body: { requests: [] } },
        ]);
        await expectRefused(r, 400, 'nested_batch', c);
      },
    );

    it('takes the key-predicate form in every url form', async () => {
      const c = fresh();
      await s.call('PUT', `/v1/${c}/42`, { json: { v: 1 } });
      const r = await odata([
        { id: 'a', method: 'GET', url: `/v1/${c}('42')` },
        { id: 'b', method: 'GET', url: `${c}(42)` },
        { id: 'c', method: 'GET', url: `${s.url}/v1/${c}(id='42')` },
        { id: 'd', method: 'PATCH', url: `${c}(ID=42)`, body: { v: 2 } },
      ]);
      expect(r.json.responses.map((x: any) => [x.status, x.body.id])).toEqual([
        [200, '42'],
        [200, '42'],
        [200, '42'],
        [200, '42'],
      ]);
      expect((await s.call('GET', `/v1/${c}/42`)).json.v).toBe(2);
      await expectRefused(await odata([{ id: 'w', method: 'PUT', url: `/v1/${c}/w`, body: {} }, { id: 'x', method: 'GET', url: `${c}(1,2)` }]), 400, 'invalid_path');
      expect((await s.call('GET', `/v1/${c}/w`)).status).toBe(404);
    });
  });

  describe('dependsOn', () => {
    it('runs a request only after what it depends on, and a group name stands for all its members', async () => {
      const c = fresh();
      const r = await odata([
        { id: 'g1', method: 'PUT', url: `/v1/${c}/a`, body: { n: 1 }, atomicityGroup: 'grp' },
        { id: 'g2', method: 'PUT', url: `/v1/${c}/b`, body: { n: 2 }, atomicityGroup: 'grp' },
        { id: 'list', method: 'GET', url: `/v1/${c}`, dependsOn: ['GRP'] },
        { id: 'patch', method: 'PATCH', url: `/v1/${c}/a`, body: { n: 10 }, dependsOn: ['list'] },
        { id: 'read', method: 'GET', url: `/v1/${c}/a`, dependsOn: ['Patch'] },
      ]);
      expect(statuses(r)).toEqual([
        ['g1', 201],
        ['g2', 201],
        ['list', 200],
        ['patch', 200],
        ['read', 200],
      ]);
      expect(byId(r, 'list').body.items.map((x: any) => x.n)).toEqual([1, 2]);
      expect(byId(r, 'read').body.n).toBe(10);
    });

    it.each([
      ['an unknown id', [{ id: '1', method: 'PUT', url: 'X/1', body: {} }, { id: '2', method: 'PUT', url: 'X/2', body: {}, dependsOn: ['nope'] }]],
      ['a later id', [{ id: '1', method: 'PUT', url: 'X/1', body: {}, dependsOn: ['2'] }, { id: '2', method: 'PUT', url: 'X/2', body: {} }]],
      ['itself', [{ id: '1', method: 'PUT', url: 'X/1', body: {}, dependsOn: ['1'] }]],
      ['a cycle', [{ id: '1', method: 'PUT', url: 'X/1', body: {}, dependsOn: ['2'] }, { id: '2', method: 'PUT', url: 'X/2', body: {}, dependsOn: ['1'] }]],
      [
        'a later group',
        [
          { id: '1', method: 'PUT', url: 'X/1', body: {}, dependsOn: ['g'] },
          { id: '2', method: 'PUT', url: 'X/2', body: {}, atomicityGroup: 'g' },
        ],
      ],
      [
        'its own group',
        [
          { id: '1', method: 'PUT', url: 'X/1', body: {}, atomicityGroup: 'g' },
          { id: '2', method: 'PUT', url: 'X/2', body: {}, atomicityGroup: 'g', dependsOn: ['g'] },
        ],
      ],
    ])('refuses a dependency on %s: 400 invalid_dependency, nothing runs', async (_what, requests) => {
      const c = fresh();
      const r = await odata(JSON.parse(JSON.stringify(requests).replace(/"X\//g, `"${c}/`)));
      await expectRefused(r, 400, 'invalid_dependency', c);
    });

    it('answers 424 failed_dependency for a request whose dependency failed, transitively, and runs the others', async () => {
      const c = fresh();
      const r = await odata([
        { id: 'miss', method: 'GET', url: `/v1/${c}/missing` },
        { id: 'dep', method: 'PUT', url: `/v1/${c}/dep`, body: {}, dependsOn: ['miss'] },
        { id: 'dep2', method: 'PUT', url: `/v1/${c}/dep2`, body: {}, dependsOn: ['dep'] },
        { id: 'free', method: 'PUT', url: `/v1/${c}/free`, body: {} },
        { id: 'both', method: 'PUT', url: `/v1/${c}/both`, body: {}, dependsOn: ['free', 'miss'] },
      ]);
      expect(r.status).toBe(200);
      expect(statuses(r)).toEqual([
        ['miss', 404],
        ['dep', 424],
        ['dep2', 424],
        ['free', 201],
        ['both', 424],
      ]);
      for (const id of ['dep', 'dep2', 'both']) {
        expect(byId(r, id).body.error.code).toBe('failed_dependency');
        expect(byId(r, id).headers['Content-Type']).toBe('application/json');
      }
      expect((await s.call('GET', `/v1/${c}?$top=100`)).json.items.map((x: any) => x.id)).toEqual(['free']);
    });
  });

  describe('atomicityGroup', () => {
    it('refuses members that do not stand next to each other: 400 invalid_dependency, nothing runs', async () => {
      const c = fresh();
      const r = await odata([
        { id: '1', method: 'PUT', url: `/v1/${c}/1`, body: {}, atomicityGroup: 'g' },
        { id: '2', method: 'PUT', url: `/v1/${c}/2`, body: {} },
        { id: '3', method: 'PUT', url: `/v1/${c}/3`, body: {}, atomicityGroup: 'g' },
      ]);
      await expectRefused(r, 400, 'invalid_dependency', c);
    });

    it('commits a group whole and echoes atomicityGroup on its members', async () => {
      const c = fresh();
      const r = await odata([
        { id: '1', method: 'PUT', url: `/v1/${c}/1`, body: {}, atomicityGroup: 'Tx' },
        { id: '2', method: 'PUT', url: `/v1/${c}/2`, body: {}, atomicityGroup: 'Tx' },
        { id: '3', method: 'PUT', url: `/v1/${c}/3`, body: {} },
      ]);
      expect(statuses(r)).toEqual([
        ['1', 201],
        ['2', 201],
        ['3', 201],
      ]);
      expect(r.json.responses.map((x: any) => x.atomicityGroup)).toEqual(['Tx', 'Tx', undefined]);
      expect('atomicityGroup' in r.json.responses[2]).toBe(false);
      expect(await count(c)).toBe(3);
    });

    it('rolls a failing group back: nothing of it stays, the failing member keeps its status, the others answer 424', async () => {
      const c = fresh();
      await s.call('PUT', `/v1/${c}/keep`, { json: { v: 'before' } });
      const r = await odata([
        { id: 'a', method: 'PUT', url: `/v1/${c}/new`, body: { v: 1 }, atomicityGroup: 'g' },
        { id: 'b', method: 'PATCH', url: `/v1/${c}/keep`, body: { v: 'changed' }, atomicityGroup: 'g' },
        { id: 'c', method: 'DELETE', url: `/v1/${c}/missing`, atomicityGroup: 'g' },
        { id: 'd', method: 'PUT', url: `/v1/${c}/never`, body: {}, atomicityGroup: 'g' },
        { id: 'after', method: 'GET', url: `/v1/${c}/keep`, dependsOn: ['g'] },
        { id: 'one', method: 'GET', url: `/v1/${c}/keep`, dependsOn: ['a'] },
        { id: 'alone', method: 'PUT', url: `/v1/${c}/alone`, body: {} },
      ]);
      expect(statuses(r)).toEqual([
        ['a', 424],
        ['b', 424],
        ['c', 404],
        ['d', 424],
        ['after', 424],
        ['one', 424],
        ['alone', 201],
      ]);
      expect(['a', 'b', 'd'].map((id) => byId(r, id).body.error.code)).toEqual(['transaction_rolled_back', 'transaction_rolled_back', 'transaction_rolled_back']);
      expect(byId(r, 'after').body.error.code).toBe('failed_dependency');
      expect(byId(r, 'one').body.error.code).toBe('failed_dependency');
      expect((await s.call('GET', `/v1/${c}/keep`)).json.v).toBe('before');
      expect((await s.call('GET', `/v1/${c}/new`)).status).toBe(404);
      expect((await s.call('GET', `/v1/${c}/never`)).status).toBe(404);
      expect((await s.call('GET', `/v1/${c}/alone`)).status).toBe(200);
    });

    it('lets a member refer to an earlier member of its group', async () => {
      const c = fresh();
      const r = await odata([
        { id: '1', method: 'POST', url: `/v1/${c}`, body: { v: 1 }, atomicityGroup: 'g' },
        { id: '2', method: 'PATCH', url: '$1', headers: { 'If-Match': '$1' }, body: { v: 2 }, atomicityGroup: 'g', dependsOn: ['1'] },
      ]);
      expect(statuses(r)).toEqual([
        ['1', 201],
        ['2', 200],
      ]);
      const id = byId(r, '1').body.id;
      expect((await s.call('GET', `/v1/${c}/${id}`)).json.v).toBe(2);
    });
  });

  describe('references', () => {
    it('$<id> stands for the Location of the entity a request created, and If-Match: $<id> for its ETag', async () => {
      const c = fresh();
      const r = await odata([
        { id: '1', method: 'POST', url: `/v1/${c}`, headers: { 'content-type': 'application/json' }, body: { title: 'x' } },
        { id: '2', method: 'PATCH', url: '$1', headers: { 'if-match': '$1' }, body: { pages: 2 }, dependsOn: ['1'] },
        { id: '3', method: 'GET', url: '$1', headers: { 'If-None-Match': '$2' }, dependsOn: ['2'] },
        { id: '4', method: 'DELETE', url: '$2', headers: { 'If-Match': '$2' }, dependsOn: ['3'] },
      ]);
      expect(statuses(r)).toEqual([
        ['1', 201],
        ['2', 200],
        ['3', 304],
        ['4', 204],
      ]);
      const created = byId(r, '1');
      expect(created.headers.Location).toBe(`/v1/${c}/${created.body.id}`);
      expect(byId(r, '2').body).toEqual({ id: created.body.id, title: 'x', pages: 2 });
      expect(byId(r, '3').headers.ETag).toBe(byId(r, '2').headers.ETag);
      expect('body' in byId(r, '3')).toBe(false);
      expect('body' in byId(r, '4')).toBe(false);
      expect((await s.call('GET', `/v1/${c}/${created.body.id}`)).status).toBe(404);
    });

    it('$<id> of a single-entity GET, PUT or PATCH stands for that entity; $<id>/<rest> and $<id>?query extend it', async () => {
      const c = fresh();
      await s.call('PUT', `/v1/${c}/k1`, { json: { v: 1 } });
      const r = await odata([
        { id: 'get', method: 'GET', url: `${c}('k1')` },
        { id: 'put', method: 'PUT', url: '$get', body: { v: 2 }, headers: { 'if-match': '$get' }, dependsOn: ['get'] },
        { id: 'again', method: 'GET', url: '$put', dependsOn: ['put'] },
        { id: 'deeper', method: 'GET', url: '$put/more', dependsOn: ['put'] },
        { id: 'query', method: 'GET', url: '$PUT?x=1', dependsOn: ['put'] },
      ]);
      expect(statuses(r)).toEqual([
        ['get', 200],
        ['put', 200],
        ['again', 200],
        ['deeper', 404],
        ['query', 200],
      ]);
      expect(byId(r, 'again').body).toEqual({ id: 'k1', v: 2 });
      expect(byId(r, 'query').body).toEqual({ id: 'k1', v: 2 });
    });

    it('a stale If-Match: $<id> fails with 412 like any other precondition', async () => {
      const c = fresh();
      await s.call('PUT', `/v1/${c}/k`, { json: { v: 1 } });
      const r = await odata([
        { id: 'read', method: 'GET', url: `/v1/${c}/k` },
        { id: 'w1', method: 'PATCH', url: `/v1/${c}/k`, headers: { 'If-Match': '$read' }, body: { v: 2 }, dependsOn: ['read'] },
        { id: 'w2', method: 'PATCH', url: `/v1/${c}/k`, headers: { 'If-Match': '$read' }, body: { v: 3 }, dependsOn: ['w1'] },
      ]);
      expect(statuses(r)).toEqual([
        ['read', 200],
        ['w1', 200],
        ['w2', 412],
      ]);
      expect((await s.call('GET', `/v1/${c}/k`)).json.v).toBe(2);
    });

    it('refuses a reference to a request it does not depend on: 400 invalid_dependency, nothing runs', async () => {
      const c = fresh();
      const refusals = [
        [{ id: '1', method: 'POST', url: `/v1/${c}`, body: {} }, { id: '2', method: 'PATCH', url: '$1', body: {} }],
        [{ id: '1', method: 'POST', url: `/v1/${c}`, body: {} }, { id: '2', method: 'PATCH', url: `/v1/${c}/x`, headers: { 'If-Match': '$1' }, body: {} }],
        [
          { id: '1', method: 'POST', url: `/v1/${c}`, body: {} },
          { id: '2', method: 'PUT', url: `/v1/${c}/two`, body: {} },
          { id: '3', method: 'PATCH', url: '$1', body: {}, dependsOn: ['2'] },
        ],
        [{ id: '1', method: 'POST', url: `/v1/${c}`, body: {} }, { id: '2', method: 'GET', url: '$7', dependsOn: ['1'] }],
        [{ id: '1', method: 'POST', url: `/v1/${c}`, body: {} }, { id: '2', method: 'GET', url: `/v1/${c}/x`, headers: { 'If-None-Match': '$nobody' }, dependsOn: ['1'] }],
      ];
      for (const requests of refusals) await expectRefused(await odata(requests), 400, 'invalid_dependency', c);
    });

    it('accepts a reference covered transitively by dependsOn', async () => {
      const c = fresh();
      const r = await odata([
        { id: '1', method: 'POST', url: `/v1/${c}`, body: { v: 1 } },
        { id: '2', method: 'GET', url: `/v1/${c}`, dependsOn: ['1'] },
        { id: '3', method: 'GET', url: '$1', dependsOn: ['2'] },
      ]);
      expect(statuses(r)).toEqual([
        ['1', 201],
        ['2', 200],
        ['3', 200],
      ]);
    });

    it('answers 424 failed_dependency for a reference to a request that produced no entity or no ETag', async () => {
      const c = fresh();
      await s.call('PUT', `/v1/${c}/gone`, { json: {} });
      const r = await odata([
        { id: 'list', method: 'GET', url: `/v1/${c}` },
        { id: 'viaList', method: 'GET', url: '$list', dependsOn: ['list'] },
        { id: 'etagOfList', method: 'PUT', url: `/v1/${c}/x`, headers: { 'If-Match': '$list' }, body: {}, dependsOn: ['list'] },
        { id: 'del', method: 'DELETE', url: `/v1/${c}/gone`, dependsOn: ['list'] },
        { id: 'viaDelete', method: 'GET', url: '$del', dependsOn: ['del'] },
      ]);
      expect(statuses(r)).toEqual([
        ['list', 200],
        ['viaList', 424],
        ['etagOfList', 424],
        ['del', 204],
        ['viaDelete', 424],
      ]);
      for (const id of ['viaList', 'etagOfList', 'viaDelete']) expect(byId(r, id).body.error.code).toBe('failed_dependency');
      expect((await s.call('GET', `/v1/${c}/x`)).status).toBe(404);
    });

    it('checks what follows a reference before anything runs', async () => {
      const c = fresh();
      const r = await odata([
        { id: '1', method: 'POST', url: `/v1/${c}`, body: {} },
        { id: '2', method: 'GET', url: '$1/../../batch', dependsOn: ['1'] },
      ]);
      await expectRefused(r, 400, 'invalid_path', c);
    });
  });

  describe('independent requests on the same records', () => {
    it('independent PATCHes of one record all apply: none is lost', async () => {
      const c = fresh();
      await s.call('PUT', `/v1/${c}/one`, { json: {} });
      const r = await odata(Array.from({ length: 8 }, (_, i) => ({ id: `p${i}`, method: 'PATCH', url: `/v1/${c}/one`, body: { [`f${i}`]: i } })));
      expect(r.json.responses.every((x: any) => x.status === 200)).toBe(true);
      const fields = (await s.call('GET', `/v1/${c}/one`)).json;
      expect(Object.keys(fields).sort()).toEqual(['f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'id']);
    });

    it('independent writes with the same If-Match: exactly one wins, the others answer 412', async () => {
      const c = fresh();
      const etag = (await s.call('PUT', `/v1/${c}/one`, { json: { v: 0 } })).headers.get('etag')!;
      const r = await odata(Array.from({ length: 6 }, (_, i) => ({ id: `p${i}`, method: 'PATCH', url: `/v1/${c}/one`, headers: { 'If-Match': etag }, body: { v: i + 1 } })));
      const codes = r.json.responses.map((x: any) => x.status).sort();
      expect(codes).toEqual([200, 412, 412, 412, 412, 412]);
      const winner = r.json.responses.find((x: any) => x.status === 200);
      expect((await s.call('GET', `/v1/${c}/one`)).json.v).toBe(winner.body.v);
    });

    it('a request that depends on a write sees it, beside independent reads of the same record', async () => {
      const c = fresh();
      await s.call('PUT', `/v1/${c}/one`, { json: { v: 'old' } });
      const r = await odata([
        { id: 'w', method: 'PATCH', url: `/v1/${c}/one`, body: { v: 'new' } },
        { id: 'r1', method: 'GET', url: `/v1/${c}/one` },
        { id: 'after', method: 'GET', url: `/v1/${c}/one`, dependsOn: ['w'] },
        { id: 'del', method: 'DELETE', url: `/v1/${c}/one`, dependsOn: ['after'] },
        { id: 'gone', method: 'GET', url: `/v1/${c}/one`, dependsOn: ['del'] },
      ]);
      expect(statuses(r)).toEqual([
        ['w', 200],
        ['r1', 200],
        ['after', 200],
        ['del', 204],
        ['gone', 404],
      ]);
      expect(['old', 'new']).toContain(byId(r, 'r1').body.v);
      expect(byId(r, 'after').body.v).toBe('new');
    });
  });

  describe('continue-on-error', () => {
    const failing = (c: string) => [
      { id: '1', method: 'PUT', url: `/v1/${c}/1`, body: {} },
      { id: '2', method: 'GET', url: `/v1/${c}/missing`, dependsOn: ['1'] },
      { id: '3', method: 'PUT', url: `/v1/${c}/3`, body: {}, dependsOn: ['2'] },
      { id: '4', method: 'PUT', url: `/v1/${c}/4`, body: {}, dependsOn: ['1'] },
      { id: '5', method: 'PUT', url: `/v1/${c}/5`, body: {}, dependsOn: ['4'] },
    ];

    it('continues after errors by default and applies no preference', async () => {
      const c = fresh();
      const r = await odata(failing(c));
      expect(statuses(r)).toEqual([
        ['1', 201],
        ['2', 404],
        ['3', 424],
        ['4', 201],
        ['5', 201],
      ]);
      expect(r.headers.get('preference-applied')).toBeNull();
    });

    it.each([['odata.continue-on-error=false'], ['continue-on-error=false'], ['respond-async, odata.continue-on-error=false']])(
      'Prefer: %s starts nothing new after the first failure, leaves out what never ran, and says so',
      async (prefer) => {
        const c = fresh();
        const r = await odata(failing(c), { headers: { prefer } });
        expect(r.status).toBe(200);
        expect(r.json.responses.map((x: any) => x.id).slice(0, 2)).toEqual(['1', '2']);
        expect(r.json.responses.map((x: any) => x.id)).not.toContain('3');
        expect(byId(r, '2').status).toBe(404);
        expect(r.headers.get('preference-applied')).toBe(prefer.replace('respond-async, ', ''));
        const written = (await s.call('GET', `/v1/${c}?$top=100`)).json.items.map((x: any) => x.id);
        expect(written).not.toContain('3');
        // Those that ran are answered, in request order, and their effects stay.
        expect(written).toEqual(r.json.responses.filter((x: any) => x.status === 201).map((x: any) => x.id));
      },
    );

    it('honours odata.continue-on-error (true) and says so; ignores an unreadable value', async () => {
      const c = fresh();
      const yes = await odata(failing(c), { headers: { prefer: 'odata.continue-on-error' } });
      expect(yes.json.responses).toHaveLength(5);
      expect(yes.headers.get('preference-applied')).toBe('odata.continue-on-error');
      const t = await odata(failing(fresh()), { headers: { prefer: 'odata.continue-on-error=true' } });
      expect(t.json.responses).toHaveLength(5);
      expect(t.headers.get('preference-applied')).toBe('odata.continue-on-error=true');
      const junk = await odata(failing(fresh()), { headers: { prefer: 'odata.continue-on-error=maybe' } });
      expect(junk.json.responses).toHaveLength(5);
      expect(junk.headers.get('preference-applied')).toBeNull();
    });
  });

  describe('the response', () => {
    it('answers 200 with OData-Version 4.01, one response per request in request order, header names in canonical case', async () => {
      const c = fresh();
      await s.call('PUT', `/v1/${c}/r`, { json: { v: 1 } });
      const requests = [
        { id: 'post', method: 'POST', url: `/v1/${c}`, body: { v: 2 } },
        ...Array.from({ length: 12 }, (_, i) => ({ id: `get${i}`, method: 'GET', url: `/v1/${c}/r` })),
        { id: 'missing', method: 'GET', url: `/v1/${c}/none` },
        { id: 'del', method: 'DELETE', url: `/v1/${c}/r`, dependsOn: ['get11'] },
      ];
      const r = await odata(requests);
      expect(r.status).toBe(200);
      expect(r.headers.get('odata-version')).toBe('4.01');
      expect(r.headers.get('content-type')).toMatch(/^application\/json/);
      expect(r.json.responses.map((x: any) => x.id)).toEqual(requests.map((q) => q.id));
      const post = byId(r, 'post');
      expect(Object.keys(post).sort()).toEqual(['body', 'headers', 'id', 'status']);
      expect(Object.keys(post.headers).sort()).toEqual(['Content-Type', 'ETag', 'Last-Modified', 'Location']);
      expect(post.headers['Content-Type']).toBe('application/json');
      expect(post.headers.ETag).toMatch(/^"[^"]+"$/);
      expect(post.body).toEqual({ id: post.body.id, v: 2 });
      for (const x of r.json.responses) for (const name of Object.keys(x.headers)) expect(name).not.toMatch(/^[a-z]/);
      expect(byId(r, 'get0').body).toEqual({ id: 'r', v: 1 });
    });

    it('gives errors the OData form, with the error code, message and details', async () => {
      const c = fresh();
      const strict = await startTestServer({ openCollections: false, collections: [{ name: 'typed', schema: { type: 'object', required: ['name'] } }] });
      try {
        const r = await strict.call('POST', '/v1/$batch', {
          json: {
            requests: [
              { id: 'missing', method: 'GET', url: '/v1/typed/none' },
              { id: 'schema', method: 'PUT', url: '/v1/typed/t1', body: { other: 1 } },
              { id: 'filter', method: 'GET', url: '/v1/typed?$filter=name eq' },
              { id: 'route', method: 'GET', url: `/v1/${c}` },
            ],
          },
        });
        expect(r.status).toBe(200);
        const [missing, schema, filter, route] = r.json.responses;
        expect(missing.status).toBe(404);
        expect(missing.headers['Content-Type']).toBe('application/json');
        expect(missing.body).toEqual({ error: { code: 'not_found', message: expect.any(String), details: [] } });
        expect(schema.status).toBe(422);
        expect(schema.body.error.code).toBe('validation_failed');
        expect(schema.body.error.details).toEqual([{ code: 'validation_failed', message: expect.stringContaining('name') }]);
        expect(filter.status).toBe(400);
        expect(filter.body.error.code).toBe('bad_request');
        expect(filter.body.error.innererror.position).toEqual(expect.any(Number));
        expect(route.status).toBe(404);
      } finally {
        await strict.close();
      }
    });

    it('answers a non-JSON body as a string with its own Content-Type', async () => {
      const made = await s.call('POST', '/v1/objects', { json: { attributes: [{ d: 'title', vt: 16, value: 'Nice & <b>' }] } });
      const r = await odata([{ id: 'xml', method: 'GET', url: `/api/object/${made.json.id}` }]);
      const xml = r.json.responses[0];
      expect(xml.status).toBe(200);
      expect(xml.headers['Content-Type']).toMatch(/^application\/xml/);
      expect(typeof xml.body).toBe('string');
      expect(xml.body).toContain('Nice &amp; &lt;b&gt;');
    });

    it('answers HEAD without a body', async () => {
      const c = fresh();
      await s.call('PUT', `/v1/${c}/h`, { json: { v: 1 } });
      const r = await odata([{ id: 'h', method: 'HEAD', url: `/v1/${c}/h` }]);
      expect(r.json.responses[0].status).toBe(200);
      expect(r.json.responses[0].headers.ETag).toMatch(/^"/);
      expect('body' in r.json.responses[0]).toBe(false);
    });
  });

  describe('refused batches', () => {
    it('401 without a valid token, nothing runs', async () => {
      const c = fresh();
      const requests = [{ id: '1', method: 'PUT', url: `/v1/${c}/1`, body: {} }];
      const r = await odata(requests, { token: null });
      await expectRefused(r, 401, 'unauthorized', c);
      expect(r.headers.get('www-authenticate')).toBe('Bearer');
      await expectRefused(await odata(requests, { token: 'bogus' }), 401, 'unauthorized', c);
    });

    it('413 for more than OMNIBUS_MAX_OPS requests or more bytes than the limit, nothing runs', async () => {
      const c = fresh();
      const requests = Array.from({ length: 101 }, (_, i) => ({ id: String(i), method: 'PUT', url: `/v1/${c}/${i}`, body: {} }));
      await expectRefused(await odata(requests), 413, 'batch_too_large', c);
      expect((await odata(requests.slice(0, 100))).status).toBe(200);
      expect(await count(c)).toBe(100);
      const small = await startTestServer({ maxBatchBytes: 1024 });
      try {
        const r = await small.call('POST', '/v1/$batch', { json: { requests: [{ id: '1', method: 'PUT', url: '/v1/big/1', body: { x: 'y'.repeat(2000) } }] } });
        expect(r.status).toBe(413);
        expect(r.json.error.code).toBe('body_too_large');
        expect((await small.call('GET', '/v1/big/1')).status).toBe(404);
      } finally {
        await small.close();
      }
    });

    it('refuses a header with CR/LF in its value: 400 invalid_header, nothing runs', async () => {
      const c = fresh();
      const r = await odata([
        { id: '1', method: 'PUT', url: `/v1/${c}/1`, body: {} },
        { id: '2', method: 'GET', url: `/v1/${c}/1`, headers: { 'x-a': 'b\r\nInjected: 1' } },
      ]);
      await expectRefused(r, 400, 'invalid_header', c);
    });

    it('runs every request as the batch principal: credentials inside a request are ignored', async () => {
      const c = fresh();
      await s.call('PUT', `/v1/${c}/theirs`, { json: {}, token: TOKENS.globex });
      const r = await odata([{ id: '1', method: 'GET', url: `/v1/${c}/theirs`, headers: { Authorization: `Bearer ${TOKENS.globex}` } }]);
      expect(r.json.responses[0].status).toBe(404);
      const ro = await odata([{ id: '1', method: 'PUT', url: `/v1/${c}/ro`, body: {} }], { token: TOKENS.acmeRead });
      expect(ro.json.responses[0].status).toBe(403);
      expect(ro.json.responses[0].body.error.code).toBe('forbidden');
    });
  });
});

describe('odata-json: what other batch formats see of /v1/$batch', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it.each([['/v1/$batch'], ['/v1/%24batch'], ['/V1/$BATCH']])('an ops batch may not target %s (400 nested_batch)', async (path) => {
    const r = await s.call('POST', '/batch', { json: { requests: [{ method: 'PUT', path: '/v1/nest/1', body: {} }, { method: 'POST', path, body: { requests: [] } }] } });
    expect(r.status).toBe(400);
    expect(r.json.code).toBe('nested_batch');
    expect((await s.call('GET', '/v1/nest/1')).status).toBe(404);
  });
});
