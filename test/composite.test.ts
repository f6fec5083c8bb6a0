import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachBackend, startTestServer, TOKENS, type CallResult, type TestServer } from './support/server.js';

/** Salesforce Composite, sentence by sentence, over real HTTP on every backend. */
describeEachBackend('composite', () => {
  let s: TestServer;
  let limited: TestServer;
  beforeAll(async () => {
    [s, limited] = await Promise.all([startTestServer(), startTestServer({ maxOps: 3, compositeMaxQueries: 2 })]);
  });
  afterAll(() => Promise.all([s.close(), limited.close()]));

  let n = 0;
  /** A fresh collection name per test, so counts start at zero. */
  const fresh = (prefix = 'sf') => `${prefix}${++n}${Math.random().toString(36).slice(2, 6)}`;
  const ENDPOINT = '/services/data/v59.0/composite';

  interface Init {
    allOrNone?: boolean;
    token?: string | null;
    path?: string;
    headers?: Record<string, string>;
    server?: TestServer;
  }
  const composite = (compositeRequest: unknown[], init: Init = {}) =>
    (init.server ?? s).call('POST', init.path ?? ENDPOINT, {
      json: init.allOrNone === undefined ? { compositeRequest } : { allOrNone: init.allOrNone, compositeRequest },
      token: init.token,
      headers: init.headers,
    });

  async function count(collection: string, token: string = TOKENS.acme): Promise<number> {
    return (await s.call('GET', `/v1/${collection}?$top=1000`, { token })).json.items.length;
  }

  const statuses = (r: CallResult) => r.json.compositeResponse.map((x: any) => [x.referenceId, x.httpStatusCode]);
  const byRef = (r: CallResult, id: string) => r.json.compositeResponse.find((x: any) => x.referenceId === id);
  const halted = (x: any) => {
    expect(x.httpStatusCode).toBe(400);
    expect(x.body).toEqual([{ errorCode: 'PROCESSING_HALTED', message: expect.any(String) }]);
  };

  /** A refusal: the status, one `{errorCode, message}` naming the format, nothing written. */
  async function expectRefused(r: CallResult, status: number, errorCode: string, collection?: string) {
    expect(r.status, r.text).toBe(status);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(Array.isArray(r.json)).toBe(true);
    expect(r.json).toHaveLength(1);
    expect(Object.keys(r.json[0]).sort()).toEqual(['errorCode', 'message']);
    expect(r.json[0].errorCode).toBe(errorCode);
    expect(r.json[0].message).toContain('Composite request');
    expect(r.json[0].message).not.toMatch(/SPEC|§|seed/i);
    if (collection) expect(await count(collection)).toBe(0);
  }

  describe('endpoint and content type', () => {
    it('answers POST /services/data/v{NN.N}/composite for any version', async () => {
      const c = fresh();
      for (const version of ['v59.0', 'v42.0', 'v9.1', 'v120.5']) {
        const r = await composite([{ method: 'PUT', url: `/v1/${c}/${version}`, referenceId: 'put', body: { version } }], { path: `/services/data/${version}/composite` });
        expect(r.status).toBe(200);
        expect(statuses(r)).toEqual([['put', 201]]);
      }
      expect(await count(c)).toBe(4);
    });

    it('is not there without a version of that form, nor with a trailing slash (the resource API answers)', async () => {
      const c = fresh();
      for (const [path, status] of [['/services/data/59.0/composite', 404], ['/services/data/latest/composite', 404], ['/services/data/v59.0/composite/', 400]] as const) {
        const r = await composite([{ method: 'PUT', url: `/v1/${c}/1`, referenceId: 'put', body: {} }], { path });
        expect(r.status, path).toBe(status);
        expect(r.headers.get('content-type')).toMatch(/problem\+json/);
      }
      expect(await count(c)).toBe(0);
    });

    it('refuses another Content-Type with 415, in the error form, and runs nothing', async () => {
      const c = fresh();
      const body = JSON.stringify({ compositeRequest: [{ method: 'PUT', url: `/v1/${c}/1`, referenceId: 'a', body: {} }] });
      for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded']) {
        await expectRefused(await s.call('POST', ENDPOINT, { body, headers: { 'content-type': type } }), 415, 'UNSUPPORTED_MEDIA_TYPE', c);
      }
      await expectRefused(await s.call('POST', ENDPOINT, { body }), 415, 'UNSUPPORTED_MEDIA_TYPE', c);
      const ok = await s.call('POST', ENDPOINT, { body, headers: { 'content-type': 'application/json; charset=UTF-8' } });
      expect(statuses(ok)).toEqual([['a', 201]]);
    });

    it('refuses malformed JSON (400 INVALID_JSON) and a wrong shape (400 BAD_REQUEST)', async () => {
      await expectRefused(await s.call('POST', ENDPOINT, { body: '{"compositeRequest":[', headers: { 'content-type': 'application/json' } }), 400, 'INVALID_JSON');
      await expectRefused(await s.call('POST', ENDPOINT, { json: { compositeRequest: 'no' } }), 400, 'BAD_REQUEST');
      await expectRefused(await s.call('POST', ENDPOINT, { json: [] }), 400, 'BAD_REQUEST');
      await expectRefused(await s.call('POST', ENDPOINT, { json: { allOrNone: 'yes', compositeRequest: [] } }), 400, 'BAD_REQUEST');
    });

    it('refuses a request without a valid token: 401 INVALID_SESSION_ID, nothing runs', async () => {
      const c = fresh();
      const req = [{ method: 'PUT', url: `/v1/${c}/1`, referenceId: 'a', body: {} }];
      await expectRefused(await composite(req, { token: null }), 401, 'INVALID_SESSION_ID', c);
      const bad = await composite(req, { token: 'not-a-token' });
      await expectRefused(bad, 401, 'INVALID_SESSION_ID', c);
      expect(bad.headers.get('www-authenticate')).toBe('Bearer');
    });
  });

  describe('subrequests', () => {
    it.each([
      ['no referenceId', { method: 'PUT', url: 'X/1', body: {} }],
      ['an empty referenceId', { method: 'PUT', url: 'X/1', referenceId: '', body: {} }],
      ['a referenceId with a dash', { method: 'PUT', url: 'X/1', referenceId: 'a-b', body: {} }],
      ['a referenceId beginning with _', { method: 'PUT', url: 'X/1', referenceId: '_a', body: {} }],
      ['a lower-case method', { method: 'put', url: 'X/1', referenceId: 'b', body: {} }],
      ['no method', { url: 'X/1', referenceId: 'b', body: {} }],
      ['no url', { method: 'PUT', referenceId: 'b', body: {} }],
      ['httpHeaders with a number', { method: 'PUT', url: 'X/1', referenceId: 'b', httpHeaders: { 'X-N': 1 }, body: {} }],
      ['an unknown method', { method: 'BREW', url: 'X/1', referenceId: 'b' }],
    ])('refuses a subrequest with %s: 400 BAD_REQUEST, nothing runs', async (_what, bad) => {
      const c = fresh();
      const fixed = JSON.parse(JSON.stringify(bad).replace(/"X\//g, `"/v1/${c}/`));
      await expectRefused(await composite([{ method: 'PUT', url: `/v1/${c}/first`, referenceId: 'first', body: {} }, fixed]), 400, 'BAD_REQUEST', c);
    });

    it('refuses a repeated referenceId (400 DUPLICATE_ID); referenceIds are case-sensitive', async () => {
      const c = fresh();
      const put = (referenceId: string, id: string) => ({ method: 'PUT', url: `/v1/${c}/${id}`, referenceId, body: {} });
      await expectRefused(await composite([put('acct', '1'), put('acct', '2')]), 400, 'DUPLICATE_ID', c);
      expect(statuses(await composite([put('acct', '1'), put('Acct', '2'), put('ACCT_2', '3')]))).toEqual([
        ['acct', 201],
        ['Acct', 201],
        ['ACCT_2', 201],
      ]);
    });

    it('sends a body of any JSON as application/json; no body, or null, is none', async () => {
      const c = fresh();
      const r = await composite([
        { method: 'PUT', url: `/v1/${c}/1`, referenceId: 'obj', body: { nested: { list: [1, 'two', null, { deep: true }] } } },
        { method: 'PUT', url: `/v1/${c}/2`, referenceId: 'arr', body: [1, 2] },
        { method: 'GET', url: `/v1/${c}/1`, referenceId: 'get', body: null },
        { method: 'DELETE', url: `/v1/${c}/1`, referenceId: 'del' },
      ]);
      expect(statuses(r)).toEqual([
        ['obj', 201],
        ['arr', 400],
        ['get', 200],
        ['del', 204],
      ]);
      expect(byRef(r, 'get').body.nested).toEqual({ list: [1, 'two', null, { deep: true }] });
      expect(byRef(r, 'del').body).toBeNull();
    });

    it('refuses Accept, Authorization and Content-Type in httpHeaders (400 INVALID_HEADER); sends the others', async () => {
      const c = fresh();
      for (const name of ['Accept', 'Authorization', 'Content-Type', 'content-type']) {
        await expectRefused(await composite([{ method: 'PUT', url: `/v1/${c}/1`, referenceId: 'a', httpHeaders: { [name]: 'application/json' }, body: {} }]), 400, 'INVALID_HEADER', c);
      }
      await expectRefused(await composite([{ method: 'PUT', url: `/v1/${c}/1`, referenceId: 'a', httpHeaders: { 'X-Evil': 'a\r\nInjected: 1' }, body: {} }]), 400, 'INVALID_HEADER', c);
      const r = await composite([
        { method: 'PUT', url: `/v1/${c}/1`, referenceId: 'put', body: { v: 1 } },
        { method: 'PATCH', url: `/v1/${c}/1`, referenceId: 'stale', httpHeaders: { 'If-Match': '"not-it"' }, body: { v: 2 } },
        { method: 'GET', url: `/v1/${c}/1`, referenceId: 'cached', httpHeaders: { 'If-None-Match': '*' } },
      ]);
      expect(statuses(r)).toEqual([
        ['put', 201],
        ['stale', 412],
        ['cached', 304],
      ]);
      expect(byRef(r, 'stale').body).toEqual([{ errorCode: 'PRECONDITION_FAILED', message: expect.any(String) }]);
    });

    it('accepts collateSubrequests and still runs subrequests one at a time, in order', async () => {
      const c = fresh();
      const r = await s.call('POST', ENDPOINT, {
        json: {
          collateSubrequests: true,
          compositeRequest: [
            { method: 'PUT', url: `/v1/${c}/1`, referenceId: 'a', body: { n: 1 } },
            { method: 'PATCH', url: `/v1/${c}/1`, referenceId: 'b', body: { n: 2 } },
            { method: 'GET', url: `/v1/${c}/1`, referenceId: 'c' },
          ],
        },
      });
      expect(statuses(r)).toEqual([
        ['a', 201],
        ['b', 200],
        ['c', 200],
      ]);
      expect(byRef(r, 'c').body.n).toBe(2);
    });
  });

  describe('urls', () => {
    it('takes an Omnibus path, and /services/data/v{NN.N}/sobjects/{collection}[/{id}] as /v1/{collection}[/{id}], query kept', async () => {
      const c = fresh();
      const r = await composite([
        { method: 'POST', url: `/services/data/v59.0/sobjects/${c}`, referenceId: 'create', body: { Name: 'P' } },
        { method: 'PUT', url: `/services/data/v42.0/sobjects/${c}/k1`, referenceId: 'put', body: { Name: 'Q' } },
        { method: 'GET', url: `/services/data/v59.0/sobjects/${c}?$filter=Name eq 'Q'`, referenceId: 'list' },
        { method: 'GET', url: `/v1/${c}('k1')`, referenceId: 'predicate' },
      ]);
      expect(statuses(r)).toEqual([
        ['create', 201],
        ['put', 201],
        ['list', 200],
        ['predicate', 200],
      ]);
      expect(byRef(r, 'create').httpHeaders.Location).toBe(`/v1/${c}/${byRef(r, 'create').body.id}`);
      expect(byRef(r, 'list').body.items.map((x: any) => x.id)).toEqual(['k1']);
    });

    it.each([
      ['a SOQL query', '/services/data/v59.0/query?q=SELECT+Id+FROM+Account'],
      ['an external-id upsert', '/services/data/v59.0/sobjects/X/extId__c/123'],
      ['a describe of all objects', '/services/data/v59.0/sobjects'],
      ['a url without a version', '/services/data/sobjects/X'],
      ['limits', '/services/data/v59.0/limits'],
    ])('refuses %s: 400 INVALID_PATH, nothing runs', async (_what, url) => {
      const c = fresh();
      await expectRefused(await composite([{ method: 'PUT', url: `/v1/${c}/1`, referenceId: 'a', body: {} }, { method: 'GET', url: url.replace('X', c), referenceId: 'b' }]), 400, 'INVALID_PATH', c);
    });

    it.each([
      ['a dot segment', '/v1/X/../x'],
      ['another host', 'http://evil.example/v1/X/1'],
      ['a relative path', 'v1/X/1'],
      ['an encoded slash', '/v1/X/a%2Fb'],
    ])('refuses %s: 400 INVALID_PATH, nothing runs', async (_what, url) => {
      const c = fresh();
      await expectRefused(await composite([{ method: 'PUT', url: `/v1/${c}/1`, referenceId: 'a', body: {} }, { method: 'GET', url: url.replace('X', c), referenceId: 'b' }]), 400, 'INVALID_PATH', c);
    });

    it.each([
      ['this endpoint', '/services/data/v59.0/composite'],
      ['the endpoint of another version', '/services/data/v42.0/composite'],
      ['Composite batch', '/services/data/v59.0/composite/batch'],
      ['Composite tree', '/services/data/v59.0/composite/tree/Account'],
      ['the ops batch', '/batch'],
      ['the OData batch', '/v1/$batch'],
    ])('refuses %s as a url: 400 NESTED_BATCH, nothing runs', async (_what, url) => {
      const c = fresh();
      await expectRefused(await composite([{ method: 'PUT', url: `/v1/${c}/1`, referenceId: 'a', body: {} }, { method: 'POST', url, referenceId: 'b', body: { compositeRequest: [] } }]), 400, 'NESTED_BATCH', c);
    });

    it('another dialect cannot reach this endpoint either, in any version: 400 nested_batch', async () => {
      const r = await s.call('POST', '/batch', { json: { requests: [{ method: 'POST', path: '/services/data/v61.0/composite', body: { compositeRequest: [] } }] } });
      expect(r.status).toBe(400);
      expect(r.json.code).toBe('nested_batch');
    });
  });

  describe('references', () => {
    it('@{acct.id} in the url and @{acct.Name} in body strings at any depth take values of the earlier response', async () => {
      const c = fresh();
      const r = await composite([
        { method: 'POST', url: `/services/data/v59.0/sobjects/${c}`, referenceId: 'acct', body: { Name: 'P', n: 7, ok: true } },
        {
          method: 'PATCH',
          url: `/v1/${c}/@{acct.id}`,
          referenceId: 'upd',
          body: { Label: 'of @{acct.Name}', copy: '@{acct.n}', flag: '@{acct.ok}', deep: [{ id: '@{acct.id}' }, ['@{acct.Name}-@{acct.n}']], '@{acct.Name}': 'key stays' },
        },
      ]);
      expect(statuses(r)).toEqual([
        ['acct', 201],
        ['upd', 200],
      ]);
      const id = byRef(r, 'acct').body.id;
      const stored = (await s.call('GET', `/v1/${c}/${id}`)).json;
      expect(stored).toMatchObject({ Name: 'P', Label: 'of P', copy: 7, flag: true, deep: [{ id }, ['P-7']], '@{acct.Name}': 'key stays' });
    });

    it('[n] steps into arrays: @{list.items[0].id}; a query value takes a reference too', async () => {
      const c = fresh();
      await s.call('PUT', `/v1/${c}/first`, { json: { Name: "O'Brien" } });
      const r = await composite([
        { method: 'GET', url: `/v1/${c}`, referenceId: 'list' },
        { method: 'GET', url: `/v1/${c}/@{list.items[0].id}`, referenceId: 'one' },
        { method: 'GET', url: `/v1/${c}?$filter=Name eq '@{one.Name}'`, referenceId: 'quoted' },
        { method: 'GET', url: `/v1/${c}?$top=@{list.items[0]._etag}`, referenceId: 'value' },
      ]);
      expect(statuses(r).slice(0, 3)).toEqual([
        ['list', 200],
        ['one', 200],
        ['quoted', 200],
      ]);
      expect(byRef(r, 'one').body.id).toBe('first');
      expect(byRef(r, 'quoted').body.items.map((x: any) => x.id)).toEqual(['first']);
      // The value is data in its query value: a $top of an ETag is a bad $top, nothing more.
      expect(byRef(r, 'value').httpStatusCode).toBe(400);
    });

    it('headers are not scanned: an @{...} in httpHeaders is sent as written', async () => {
      const c = fresh();
      const r = await composite([
        { method: 'PUT', url: `/v1/${c}/1`, referenceId: 'put', body: {} },
        { method: 'PATCH', url: `/v1/${c}/1`, referenceId: 'upd', httpHeaders: { 'If-Match': '@{put.id}' }, body: { x: 1 } },
      ]);
      expect(statuses(r)).toEqual([
        ['put', 201],
        ['upd', 412],
      ]);
    });

    it.each([
      ['a referenceId no subrequest has', '/v1/X/@{nobody.id}'],
      ['the subrequest itself', '/v1/X/@{b.id}'],
      ['a later subrequest', '/v1/X/@{c.id}'],
    ])('refuses a reference to %s: 400 INVALID_DEPENDENCY, nothing runs', async (_what, url) => {
      const c = fresh();
      const r = await composite([
        { method: 'PUT', url: `/v1/${c}/1`, referenceId: 'a', body: {} },
        { method: 'PUT', url: url.replace('X', c), referenceId: 'b', body: {} },
        { method: 'PUT', url: `/v1/${c}/3`, referenceId: 'c', body: {} },
      ]);
      await expectRefused(r, 400, 'INVALID_DEPENDENCY', c);
      await expectRefused(await composite([{ method: 'PUT', url: `/v1/${c}/1`, referenceId: 'a', body: { x: ['@{c.id}'] } }, { method: 'PUT', url: `/v1/${c}/3`, referenceId: 'c', body: {} }]), 400, 'INVALID_DEPENDENCY', c);
    });

    it.each(['@{a.id', '@{a}', '@{a..id}', '@{a.id[x]}', 'x @{ a.id }'])('refuses the malformed %s (400 BAD_REQUEST), in a url or a body', async (text) => {
      const c = fresh();
      const first = { method: 'PUT', url: `/v1/${c}/1`, referenceId: 'a', body: {} };
      await expectRefused(await composite([first, { method: 'PUT', url: `/v1/${c}/${text}`, referenceId: 'b', body: {} }]), 400, 'BAD_REQUEST', c);
      await expectRefused(await composite([first, { method: 'PUT', url: `/v1/${c}/2`, referenceId: 'b', body: { deep: { t: text } } }]), 400, 'BAD_REQUEST', c);
    });

    it.each([
      ['the collection', '/v1/@{a.id}/1'],
      ['a lone collection', '/v1/@{a.id}'],
      ['/v1 itself', '/@{a.id}/X/1'],
      ['a query parameter name', '/v1/X/1?@{a.id}=1'],
      ['$filter outside quotes', '/v1/X?$filter=id eq @{a.id}'],
      ['the sobjects collection', '/services/data/v59.0/sobjects/@{a.id}/1'],
    ])('refuses a reference in %s: 400 INVALID_PATH, nothing runs', async (_what, url) => {
      const c = fresh();
      await expectRefused(await composite([{ method: 'PUT', url: `/v1/${c}/1`, referenceId: 'a', body: {} }, { method: 'GET', url: url.replace('X', c), referenceId: 'b' }]), 400, 'INVALID_PATH', c);
    });

    it('with no string, number or boolean there at run time, the subrequest fails unrun with 400 PROCESSING_HALTED; the others run', async () => {
      const c = fresh();
      const r = await composite([
        { method: 'PUT', url: `/v1/${c}/1`, referenceId: 'a', body: { obj: { x: 1 }, nothing: null, list: [1] } },
        { method: 'PUT', url: `/v1/${c}/@{a.missing}`, referenceId: 'missing', body: {} },
        { method: 'PUT', url: `/v1/${c}/2`, referenceId: 'object', body: { v: '@{a.obj}' } },
        { method: 'PUT', url: `/v1/${c}/3`, referenceId: 'isNull', body: { v: '@{a.nothing}' } },
        { method: 'PUT', url: `/v1/${c}/4`, referenceId: 'range', body: { v: '@{a.list[5]}' } },
        { method: 'PUT', url: `/v1/${c}/5`, referenceId: 'fine', body: { v: '@{a.list[0]}' } },
      ]);
      expect(r.status).toBe(200);
      for (const ref of ['missing', 'object', 'isNull', 'range']) halted(byRef(r, ref));
      expect(byRef(r, 'missing').body[0].message).toContain('@{a.missing}');
      expect(byRef(r, 'fine').httpStatusCode).toBe(201);
      expect(await count(c)).toBe(2);
    });

    it('a value is data: ../../batch in the id segment is one segment (refused), never another route', async () => {
      const c = fresh();
      const r = await composite([
        { method: 'PUT', url: `/v1/${c}/1`, referenceId: 'a', body: { evil: '../../batch', dots: '..', pred: "x('1')", q: 'a&token=globex' } },
        { method: 'POST', url: `/v1/${c}/@{a.evil}`, referenceId: 'evil', body: { requests: [] } },
        { method: 'GET', url: `/v1/${c}/@{a.dots}`, referenceId: 'dots' },
        { method: 'PUT', url: `/v1/${c}/@{a.pred}`, referenceId: 'pred', body: { p: 1 } },
        { method: 'PUT', url: `/v1/${c}/@{a.q}`, referenceId: 'amp', body: { body: '@{a.evil}' } },
      ]);
      expect(statuses(r)).toEqual([
        ['a', 201],
        ['evil', 400],
        ['dots', 400],
        ['pred', 201],
        ['amp', 201],
      ]);
      expect(byRef(r, 'evil').body[0].errorCode).toBe('INVALID_PATH');
      expect(byRef(r, 'dots').body[0].errorCode).toBe('INVALID_PATH');
      expect((await s.call('GET', `/v1/${c}/${encodeURIComponent("x('1')").replace(/[()']/g, (ch) => `%${ch.charCodeAt(0).toString(16)}`)}`)).json.p).toBe(1);
      const amp = (await s.call('GET', `/v1/${c}/${encodeURIComponent('a&token=globex')}`)).json;
      expect(amp.body).toBe('../../batch');
      expect(await count(c)).toBe(3);
    });

    it("an @{x.id} that resolves to another tenant's id is 404: the batch principal's tenant only", async () => {
      const c = fresh();
      const theirs = await s.call('POST', `/v1/${c}`, { json: { secret: 'globex' }, token: TOKENS.globex });
      expect(theirs.status).toBe(201);
      const r = await composite([
        { method: 'PUT', url: `/v1/${c}/pointer`, referenceId: 'p', body: { target: theirs.json.id } },
        { method: 'GET', url: `/v1/${c}/@{p.target}`, referenceId: 'read' },
        { method: 'PATCH', url: `/v1/${c}/@{p.target}`, referenceId: 'write', body: { secret: 'acme' } },
        { method: 'DELETE', url: `/v1/${c}/@{p.target}`, referenceId: 'remove' },
      ]);
      expect(statuses(r)).toEqual([
        ['p', 201],
        ['read', 404],
        ['write', 404],
        ['remove', 404],
      ]);
      expect(byRef(r, 'read').body).toEqual([{ errorCode: 'NOT_FOUND', message: expect.any(String) }]);
      expect((await s.call('GET', `/v1/${c}/${theirs.json.id}`, { token: TOKENS.globex })).json.secret).toBe('globex');
    });

    it('credential headers inside subrequests are ignored, and so is a token in a url', async () => {
      const c = fresh();
      const r = await composite([
        { method: 'PUT', url: `/v1/${c}/1?token=${TOKENS.globex}`, referenceId: 'a', httpHeaders: { Cookie: `token=${TOKENS.globex}`, 'X-API-Key': TOKENS.globex, 'Proxy-Authorization': `Bearer ${TOKENS.globex}` }, body: { who: 'acme' } },
      ]);
      expect(statuses(r)).toEqual([['a', 201]]);
      expect(await count(c)).toBe(1);
      expect(await count(c, TOKENS.globex)).toBe(0);
      const read = await composite([{ method: 'PUT', url: `/v1/${c}/2`, referenceId: 'w', httpHeaders: { 'X-API-Key': TOKENS.acme }, body: {} }], { token: TOKENS.acmeRead });
      expect(statuses(read)).toEqual([['w', 403]]);
      expect(byRef(read, 'w').body[0].errorCode).toBe('FORBIDDEN');
    });
  });

  describe('allOrNone', () => {
    it('true: one transaction; the failing subrequest keeps its status, every other answers 400 PROCESSING_HALTED, nothing is kept', async () => {
      const c = fresh();
      const r = await composite(
        [
          { method: 'POST', url: `/v1/${c}`, referenceId: 'made', body: { n: 1 } },
          { method: 'PATCH', url: `/v1/${c}/@{made.id}`, referenceId: 'upd', body: { n: 2 } },
          { method: 'GET', url: `/v1/${c}/absent`, referenceId: 'fails' },
          { method: 'PUT', url: `/v1/${c}/never`, referenceId: 'after', body: {} },
        ],
        { allOrNone: true },
      );
      expect(r.status).toBe(200);
      expect(statuses(r)).toEqual([
        ['made', 400],
        ['upd', 400],
        ['fails', 404],
        ['after', 400],
      ]);
      for (const ref of ['made', 'upd', 'after']) halted(byRef(r, ref));
      expect(byRef(r, 'fails').body).toEqual([{ errorCode: 'NOT_FOUND', message: expect.any(String) }]);
      expect(await count(c)).toBe(0);
    });

    it('true: a reference with no value fails the whole request', async () => {
      const c = fresh();
      const r = await composite(
        [
          { method: 'POST', url: `/v1/${c}`, referenceId: 'made', body: { n: 1 } },
          { method: 'PUT', url: `/v1/${c}/x`, referenceId: 'ref', body: { n: '@{made.nope}' } },
        ],
        { allOrNone: true },
      );
      expect(statuses(r)).toEqual([
        ['made', 400],
        ['ref', 400],
      ]);
      halted(byRef(r, 'made'));
      halted(byRef(r, 'ref'));
      expect(await count(c)).toBe(0);
    });

    it('true: all succeed, all are kept', async () => {
      const c = fresh();
      const r = await composite(
        [
          { method: 'POST', url: `/v1/${c}`, referenceId: 'a', body: { n: 1 } },
          { method: 'POST', url: `/v1/${c}`, referenceId: 'b', body: { parent: '@{a.id}' } },
        ],
        { allOrNone: true },
      );
      expect(statuses(r)).toEqual([
        ['a', 201],
        ['b', 201],
      ]);
      expect(byRef(r, 'b').body.parent).toBe(byRef(r, 'a').body.id);
      expect(await count(c)).toBe(2);
    });

    it('false (the default): each stands alone; dependents of a failed one are PROCESSING_HALTED, the rest run', async () => {
      const c = fresh();
      for (const allOrNone of [false, undefined]) {
        const r = await composite(
          [
            { method: 'PUT', url: `/v1/${c}/kept${allOrNone}`, referenceId: 'kept', body: {} },
            { method: 'GET', url: `/v1/${c}/absent`, referenceId: 'fails' },
            { method: 'PUT', url: `/v1/${c}/@{fails.id}`, referenceId: 'dependent', body: {} },
            { method: 'PUT', url: `/v1/${c}/x${allOrNone}`, referenceId: 'transitive', body: { v: '@{dependent.id}' } },
            { method: 'PUT', url: `/v1/${c}/after${allOrNone}`, referenceId: 'after', body: { v: '@{kept.id}' } },
          ],
          { allOrNone },
        );
        expect(statuses(r)).toEqual([
          ['kept', 201],
          ['fails', 404],
          ['dependent', 400],
          ['transitive', 400],
          ['after', 201],
        ]);
        halted(byRef(r, 'dependent'));
        halted(byRef(r, 'transitive'));
        expect(byRef(r, 'dependent').body[0].message).toContain('fails');
      }
      expect(await count(c)).toBe(4);
    });
  });

  describe('the answer', () => {
    it('200 with compositeResponse in request order: body, httpHeaders (Location, ETag; no Content-Type or -Length), httpStatusCode, referenceId', async () => {
      const c = fresh();
      const r = await composite([
        { method: 'POST', url: `/services/data/v59.0/sobjects/${c}`, referenceId: 'acct', body: { Name: 'P' } },
        { method: 'GET', url: `/v1/${c}/@{acct.id}`, referenceId: 'read' },
        { method: 'DELETE', url: `/v1/${c}/@{acct.id}`, referenceId: 'del' },
        { method: 'GET', url: `/v1/${c}/@{acct.id}`, referenceId: 'gone' },
      ]);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^application\/json/);
      expect(Object.keys(r.json)).toEqual(['compositeResponse']);
      const [acct, read, del, gone] = r.json.compositeResponse;
      expect(Object.keys(acct)).toEqual(['body', 'httpHeaders', 'httpStatusCode', 'referenceId']);
      expect(acct).toMatchObject({ httpStatusCode: 201, referenceId: 'acct', body: { Name: 'P', id: expect.any(String) } });
      expect(acct.httpHeaders.Location).toBe(`/v1/${c}/${acct.body.id}`);
      expect(acct.httpHeaders.ETag).toMatch(/^"/);
      for (const x of [acct, read, del, gone]) {
        expect(Object.keys(x.httpHeaders).every((h) => /^[A-Z]/.test(h))).toBe(true);
        expect(Object.keys(x.httpHeaders).map((h) => h.toLowerCase())).not.toContain('content-type');
        expect(Object.keys(x.httpHeaders).map((h) => h.toLowerCase())).not.toContain('content-length');
      }
      expect(read.httpHeaders.ETag).toBe(acct.httpHeaders.ETag);
      expect(del).toEqual({ body: null, httpHeaders: {}, httpStatusCode: 204, referenceId: 'del' });
      expect(gone).toMatchObject({ httpStatusCode: 404, referenceId: 'gone', body: [{ errorCode: 'NOT_FOUND', message: expect.any(String) }] });
      expect(Object.keys(gone.body[0])).toEqual(['errorCode', 'message']);
    });
  });

  describe('limits', () => {
    it('more subrequests than OMNIBUS_MAX_OPS: 413 BATCH_TOO_LARGE, nothing runs', async () => {
      const c = fresh();
      const puts = (k: number) => Array.from({ length: k }, (_, i) => ({ method: 'PUT', url: `/v1/${c}/${i}`, referenceId: `p${i}`, body: {} }));
      await expectRefused(await composite(puts(4), { server: limited }), 413, 'BATCH_TOO_LARGE');
      expect((await limited.call('GET', `/v1/${c}`)).json.items).toHaveLength(0);
      expect(statuses(await composite(puts(3), { server: limited }))).toHaveLength(3);
    });

    it('more list GETs than OMNIBUS_COMPOSITE_MAX_QUERIES: 413 BATCH_TOO_LARGE; by default no limit beyond OMNIBUS_MAX_OPS', async () => {
      const c = fresh();
      const lists = [
        { method: 'GET', url: `/v1/${c}`, referenceId: 'l1' },
        { method: 'GET', url: `/services/data/v59.0/sobjects/${c}`, referenceId: 'l2' },
        { method: 'GET', url: `/v1/${c}?$top=1`, referenceId: 'l3' },
      ];
      await expectRefused(await composite(lists, { server: limited }), 413, 'BATCH_TOO_LARGE');
      expect(statuses(await composite([...lists.slice(0, 2), { method: 'GET', url: `/v1/${c}/one`, referenceId: 'record' }], { server: limited }))).toEqual([
        ['l1', 200],
        ['l2', 200],
        ['record', 404],
      ]);
      const many = Array.from({ length: 30 }, (_, i) => ({ method: 'GET', url: `/v1/${c}`, referenceId: `q${i}` }));
      expect(statuses(await composite(many))).toHaveLength(30);
    });
  });
});

describe('composite configuration', () => {
  it('reads OMNIBUS_COMPOSITE_MAX_QUERIES (default 0: no extra limit)', async () => {
    const { loadConfig, DEFAULTS } = await import('../src/config.js');
    expect(DEFAULTS.compositeMaxQueries).toBe(0);
    expect(loadConfig({ OMNIBUS_COMPOSITE_MAX_QUERIES: '5' }).compositeMaxQueries).toBe(5);
    expect(() => loadConfig({ OMNIBUS_COMPOSITE_MAX_QUERIES: '-1' })).toThrow(/OMNIBUS_COMPOSITE_MAX_QUERIES/);
  });
});
