import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { multipartBatch, readBatchResponse, statusesOf, type HttpPart, type Part } from './fixtures/odata-multipart/multipart.js';
import { describeEachBackend, startTestServer, TOKENS, type CallResult, type TestServer } from './support/server.js';

/** The OData multipart batch, sentence by sentence, over real HTTP on every backend. */
describeEachBackend('odata-multipart batch', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  let n = 0;
  /** A fresh collection name per test, so counts start at zero. */
  const fresh = (prefix = 'mp') => `${prefix}${++n}${Math.random().toString(36).slice(2, 6)}`;

  const send = (body: string, contentType: string, init: { headers?: Record<string, string>; token?: string | null; path?: string } = {}) =>
    s.call('POST', init.path ?? '/v1/$batch', { body, headers: { 'content-type': contentType, ...init.headers }, token: init.token });

  const batch = (parts: Part[], init: { headers?: Record<string, string>; token?: string | null; path?: string } = {}) => {
    const { body, contentType } = multipartBatch(parts);
    return send(body, contentType, init);
  };

  /** A well-formed answer: 200 (or `status`), the multipart content type, OData-Version 4.0; its parts. */
  function answer(r: CallResult, status = 200) {
    expect(r.status, r.text).toBe(status);
    return readBatchResponse(r.headers.get('content-type'), r.text).parts;
  }

  async function count(collection: string): Promise<number> {
    return (await s.call('GET', `/v1/${collection}?$top=1000`)).json.items.length;
  }

  /** A refusal: the status, `{"error":{"code","message"}}` naming the format, and nothing written. */
  async function expectRefused(r: CallResult, status: number, code: string, collection?: string) {
    expect(r.status, r.text).toBe(status);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(r.headers.get('odata-version')).toBe('4.0');
    expect(Object.keys(r.json)).toEqual(['error']);
    expect(r.json.error.code).toBe(code);
    expect(r.json.error.message).toContain('OData multipart batch');
    expect(r.json.error.message).not.toMatch(/SPEC|seed|§/i);
    if (collection) expect(await count(collection)).toBe(0);
  }

  const put = (c: string, id: string, body: unknown = { v: id }, extra: Partial<Part> = {}): Part => ({ method: 'PUT', url: `/v1/${c}/${id}`, body, ...extra }) as Part;

  describe('endpoint and content type', () => {
    it('POST /v1/$batch and /v1/%24batch with multipart/mixed take the batch', async () => {
      const c = fresh();
      for (const path of ['/v1/$batch', '/v1/%24batch']) {
        const parts = answer(await batch([put(c, String(path.length))], { path }));
        expect(statusesOf(parts)).toEqual([201]);
      }
      expect(await count(c)).toBe(2);
    });

    it('answers multipart/mixed; boundary=batchresponse_<uuid> with OData-Version 4.0', async () => {
      const r = await batch([{ method: 'GET', url: `/v1/${fresh()}` }]);
      expect(r.headers.get('content-type')).toMatch(/^multipart\/mixed; boundary=batchresponse_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(r.headers.get('odata-version')).toBe('4.0');
      expect(statusesOf(answer(r))).toEqual([200]);
    });

    it('leaves a JSON body at the same endpoint to the OData JSON batch', async () => {
      const c = fresh();
      const r = await s.call('POST', '/v1/$batch', { json: { requests: [{ id: '1', method: 'PUT', url: `/v1/${c}/1`, body: {} }] } });
      expect(r.status).toBe(200);
      expect(r.json.responses[0].status).toBe(201);
    });

    it('answers an empty batch with an empty multipart', async () => {
      const r = await send('--b\r\n--b--\r\n'.slice(5), 'multipart/mixed; boundary=b');
      expect(answer(r)).toEqual([]);
    });

    it('a batch without a token: 401 in the OData error form, WWW-Authenticate: Bearer, nothing runs', async () => {
      const c = fresh();
      const r = await batch([put(c, '1')], { token: null });
      await expectRefused(r, 401, 'unauthorized', c);
      expect(r.headers.get('www-authenticate')).toBe('Bearer');
    });
  });

  describe('the parser is strict but tolerant', () => {
    const c = fresh('tol');
    /** The same batch of one PUT in the spellings real clients use. */
    const variants: Array<[string, (id: string) => { body: string; contentType: string }]> = [
      ['CRLF, the RFC 2046 form', (id) => multipartBatch([put(c, id)])],
      ['LF-only line endings', (id) => multipartBatch([put(c, id)], { eol: '\n' })],
      ['a quoted boundary', (id) => ({ ...multipartBatch([put(c, id)], { boundary: 'b q' }), contentType: 'multipart/mixed; boundary="b q"' })],
      ['no space after ;', (id) => ({ ...multipartBatch([put(c, id)], { boundary: 'bb' }), contentType: 'multipart/mixed;boundary=bb' })],
      ['parameters in any case, among others', (id) => ({ ...multipartBatch([put(c, id)], { boundary: 'bc' }), contentType: 'Multipart/Mixed; charset=utf-8;  Boundary=bc' })],
      [
        'part headers in any case, no Content-Transfer-Encoding, Content-Id',
        (id) => ({
          contentType: 'multipart/mixed; boundary=x',
          body: `--x\r\ncontent-type: Application/HTTP\r\nCONTENT-ID: a1\r\n\r\nPUT /v1/${c}/${id} HTTP/1.1\r\ncontent-TYPE: application/json\r\n\r\n{"v":1}\r\n--x--`,
        }),
      ],
      [
        'a blank preamble, padding after delimiters, a blank epilogue',
        (id) => ({
          contentType: 'multipart/mixed; boundary=x',
          body: `\r\n\r\n--x  \r\nContent-Type: application/http\r\n\r\nPUT /v1/${c}/${id} HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{"v":1}\r\n--x-- \r\n\r\n`,
        }),
      ],
      [
        'a request whose headers end at the end of the part (no blank line), HTTP/1.0',
        (id) => ({
          contentType: 'multipart/mixed; boundary=x',
          body: `--x\r\nContent-Type: application/http\r\n\r\nDELETE /v1/${c}/${id}-gone HTTP/1.0\r\nAccept: application/json\r\n--x\r\nContent-Type: application/http\r\n\r\nPUT /v1/${c}/${id} HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{"v":1}\r\n--x--\r\n`,
        }),
      ],
      [
        'folded header lines',
        (id) => ({
          contentType: 'multipart/mixed; boundary=x',
          body: `--x\r\nContent-Type:\r\n application/http\r\n\r\nPUT /v1/${c}/${id} HTTP/1.1\r\nContent-Type: application/json\r\nX-Note: one\r\n\ttwo\r\n\r\n{"v":1}\r\n--x--\r\n`,
        }),
      ],
    ];

    it.each(variants)('%s', async (_, make) => {
      const id = fresh('id');
      const { body, contentType } = make(id);
      const parts = answer(await send(body, contentType, { headers: { prefer: 'odata.continue-on-error' } }));
      expect(statusesOf(parts).at(-1)).toBe(201);
      expect((await s.call('GET', `/v1/${c}/${id}`)).status).toBe(200);
    });

    it('takes a change set whose delimiters end in LF alone', async () => {
      const cs = fresh();
      const { body, contentType } = multipartBatch([{ changeset: [put(cs, 'a') as never, put(cs, 'b') as never] }], { eol: '\n' });
      expect(statusesOf(answer(await send(body, contentType)))).toEqual([[201, 201]]);
      expect(await count(cs)).toBe(2);
    });
  });

  describe('malformed multipart: 400 invalid_multipart, nothing runs', () => {
    const good = (c: string) => `--x\r\nContent-Type: application/http\r\n\r\nPUT /v1/${c}/first HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{}\r\n`;
    const cases: Array<[string, (c: string) => { body: string; contentType: string }]> = [
      ['no boundary parameter', (c) => ({ contentType: 'multipart/mixed', body: `${good(c)}--x--\r\n` })],
      ['a boundary that does not match the body', (c) => ({ contentType: 'multipart/mixed; boundary=y', body: `${good(c)}--x--\r\n` })],
      ['a boundary with a character RFC 2046 does not allow', (c) => ({ contentType: 'multipart/mixed; boundary="x{"', body: `${good(c)}--x--\r\n` })],
      ['a boundary over 70 characters', (c) => ({ contentType: `multipart/mixed; boundary=${'b'.repeat(71)}`, body: `${good(c)}--x--\r\n` })],
      ['an unclosed quoted boundary', (c) => ({ contentType: 'multipart/mixed; boundary="x', body: `${good(c)}--x--\r\n` })],
      ['no closing delimiter', (c) => ({ contentType: 'multipart/mixed; boundary=x', body: good(c) })],
      ['a body cut off in a part', (c) => ({ contentType: 'multipart/mixed; boundary=x', body: good(c).slice(0, 60) })],
      ['text before the first delimiter', (c) => ({ contentType: 'multipart/mixed; boundary=x', body: `hello\r\n${good(c)}--x--\r\n` })],
      ['text after the closing delimiter (a request outside every part)', (c) => ({ contentType: 'multipart/mixed; boundary=x', body: `${good(c)}--x--\r\n${good(c).slice(5)}` })],
      ['a part without Content-Type', (c) => ({ contentType: 'multipart/mixed; boundary=x', body: `${good(c)}--x\r\n\r\nGET /v1/${c} HTTP/1.1\r\n\r\n\r\n--x--\r\n` })],
      ['a text/plain part', (c) => ({ contentType: 'multipart/mixed; boundary=x', body: `${good(c)}--x\r\nContent-Type: text/plain\r\n\r\nhello\r\n--x--\r\n` })],
      ['an application/http part that holds no request', (c) => ({ contentType: 'multipart/mixed; boundary=x', body: `${good(c)}--x\r\nContent-Type: application/http\r\n\r\n\r\n--x--\r\n` })],
      ['a request line without HTTP version', (c) => ({ contentType: 'multipart/mixed; boundary=x', body: `${good(c)}--x\r\nContent-Type: application/http\r\n\r\nGET /v1/${c}\r\n\r\n\r\n--x--\r\n` })],
      ['a request line of HTTP/2', (c) => ({ contentType: 'multipart/mixed; boundary=x', body: `${good(c)}--x\r\nContent-Type: application/http\r\n\r\nGET /v1/${c} HTTP/2\r\n\r\n\r\n--x--\r\n` })],
      ['a part header line without a colon', (c) => ({ contentType: 'multipart/mixed; boundary=x', body: `${good(c)}--x\r\nContent-Type application/http\r\n\r\nGET /v1/${c} HTTP/1.1\r\n\r\n\r\n--x--\r\n` })],
      ['a request header line without a colon', (c) => ({ contentType: 'multipart/mixed; boundary=x', body: `${good(c)}--x\r\nContent-Type: application/http\r\n\r\nGET /v1/${c} HTTP/1.1\r\nAccept application/json\r\n\r\n\r\n--x--\r\n` })],
      ['a base64 part', (c) => ({ contentType: 'multipart/mixed; boundary=x', body: `${good(c)}--x\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: base64\r\n\r\nR0VUIC8gSFRUUC8xLjE=\r\n--x--\r\n` })],
      ['an empty Content-ID', (c) => ({ contentType: 'multipart/mixed; boundary=x', body: `${good(c)}--x\r\nContent-Type: application/http\r\nContent-ID: \r\n\r\nGET /v1/${c} HTTP/1.1\r\n\r\n\r\n--x--\r\n` })],
      ['a change set without boundary', (c) => ({ contentType: 'multipart/mixed; boundary=x', body: `${good(c)}--x\r\nContent-Type: multipart/mixed\r\n\r\n--cs\r\n--cs--\r\n--x--\r\n` })],
      ['a change set with no request', (c) => ({ contentType: 'multipart/mixed; boundary=x', body: `${good(c)}--x\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n--cs--\r\n--x--\r\n` })],
      [
        'a change set without its closing delimiter',
        (c) => ({ contentType: 'multipart/mixed; boundary=x', body: `${good(c)}--x\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n--cs\r\n${good(c).slice(5).replace('first', 'second')}--x--\r\n` }),
      ],
      [
        'a change set inside a change set',
        (c) => ({
          contentType: 'multipart/mixed; boundary=x',
          body: `--x\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n--cs\r\nContent-Type: multipart/mixed; boundary=inner\r\n\r\n--inner\r\n${good(c).slice(5)}--inner--\r\n--cs--\r\n--x--\r\n`,
        }),
      ],
    ];

    it.each(cases)('%s', async (_, make) => {
      const c = fresh('bad');
      const { body, contentType } = make(c);
      await expectRefused(await send(body, contentType), 400, 'invalid_multipart', c);
    });

    it('refuses a content type that is not multipart/mixed at the OData JSON batch instead (415)', async () => {
      const c = fresh();
      const { body } = multipartBatch([put(c, '1')]);
      const r = await send(body, 'multipart/related; boundary=x');
      expect(r.status).toBe(415);
      expect(await count(c)).toBe(0);
    });
  });

  describe('change sets are atomicity groups', () => {
    it('runs a change set in one transaction and answers a nested changesetresponse echoing each Content-ID', async () => {
      const c = fresh();
      const parts = answer(await batch([{ changeset: [put(c, 'a', { v: 1 }, { contentId: '1' }) as never, put(c, 'b', { v: 2 }, { contentId: 'two' }) as never] }]));
      expect(parts).toHaveLength(1);
      const cs = parts[0]!;
      if (cs.kind !== 'changeset') throw new Error('not a change set');
      expect(cs.responses.map((r) => [r.mime['content-id'], r.status, r.statusLine])).toEqual([
        ['1', 201, 'HTTP/1.1 201 Created'],
        ['two', 201, 'HTTP/1.1 201 Created'],
      ]);
      expect(cs.responses[0]!.json).toMatchObject({ id: 'a', v: 1 });
      expect(cs.responses[0]!.headers['ETag']).toMatch(/^"/);
      expect(await count(c)).toBe(2);
    });

    it('a failed change set: nothing of it is kept, ONE application/http part with the failing status and OData error', async () => {
      const c = fresh();
      await s.call('PUT', `/v1/${c}/exists`, { json: { v: 0 } });
      const parts = answer(
        await batch(
          [
            put(c, 'before'),
            {
              changeset: [
                put(c, 'a', { v: 1 }, { contentId: '1' }) as never,
                { method: 'PATCH', url: `/v1/${c}/exists`, headers: { 'If-Match': '"stale"' }, body: { v: 9 }, contentId: '2' },
                put(c, 'c', { v: 3 }, { contentId: '3' }) as never,
              ],
            },
            put(c, 'after'),
          ],
          { headers: { prefer: 'odata.continue-on-error' } },
        ),
      );
      expect(statusesOf(parts)).toEqual([201, 412, 201]);
      const failed = parts[1] as HttpPart;
      expect(failed.kind).toBe('response');
      expect(failed.mime['content-type']).toBe('application/http');
      expect(failed.mime['content-id']).toBe('2');
      expect(failed.statusLine).toBe('HTTP/1.1 412 Precondition Failed');
      expect(failed.headers['Content-Type']).toBe('application/json');
      expect(failed.json).toEqual({ error: { code: 'precondition_failed', message: expect.any(String), details: [] } });
      // Outside the change set, unaffected; inside, nothing.
      expect((await s.call('GET', `/v1/${c}/before`)).status).toBe(200);
      expect((await s.call('GET', `/v1/${c}/after`)).status).toBe(200);
      expect((await s.call('GET', `/v1/${c}/a`)).status).toBe(404);
      expect((await s.call('GET', `/v1/${c}/c`)).status).toBe(404);
      expect((await s.call('GET', `/v1/${c}/exists`)).json.v).toBe(0);
    });

    it('a change set that fails on its first request answers that request', async () => {
      const c = fresh();
      const parts = answer(await batch([{ changeset: [{ method: 'DELETE', url: `/v1/${c}/missing` }, put(c, 'b') as never] }]));
      expect(statusesOf(parts)).toEqual([404]);
      expect((parts[0] as HttpPart).json.error.code).toBe('not_found');
      expect(await count(c)).toBe(0);
    });

    it.each([['GET'], ['HEAD']])('a %s inside a change set: 400, nothing runs', async (method) => {
      const c = fresh();
      const r = await batch([put(c, 'first'), { changeset: [put(c, 'a') as never, { method, url: `/v1/${c}/a` }] }]);
      await expectRefused(r, 400, 'bad_request', c);
      expect(r.json.error.message).toContain('change set');
    });

    it('change sets and requests mix in one batch, in order', async () => {
      const c = fresh();
      const parts = answer(
        await batch([
          put(c, 'a'),
          { changeset: [put(c, 'b') as never, { method: 'PATCH', url: `/v1/${c}/a`, body: { w: 1 } }] },
          { method: 'GET', url: `/v1/${c}/a` },
          { changeset: [{ method: 'DELETE', url: `/v1/${c}/b` }] },
          { method: 'GET', url: `/v1/${c}/b` },
        ], { headers: { prefer: 'odata.continue-on-error' } }),
      );
      expect(statusesOf(parts)).toEqual([201, [201, 200], 200, [204], 404]);
      expect((parts[2] as HttpPart).json).toMatchObject({ v: 'a', w: 1 });
      const deleted = parts[3]!;
      if (deleted.kind !== 'changeset') throw new Error('not a change set');
      expect(deleted.responses[0]!.statusLine).toBe('HTTP/1.1 204 No Content');
      expect(deleted.responses[0]!.body).toBe('');
      expect(deleted.responses[0]!.headers['Content-Type']).toBeUndefined();
    });
  });

  describe('$<Content-ID> references', () => {
    it('a url $1 and If-Match: $1 stand for the entity an earlier request of the same change set created, and its ETag', async () => {
      const c = fresh();
      const parts = answer(
        await batch([
          {
            changeset: [
              { method: 'POST', url: `/v1/${c}`, body: { n: 1 }, contentId: '1' },
              { method: 'PATCH', url: '$1', headers: { 'If-Match': '$1' }, body: { n: 2 }, contentId: '2' },
              { method: 'PATCH', url: '$2', headers: { 'If-Match': '$2' }, body: { m: 3 }, contentId: '3' },
            ],
          },
        ]),
      );
      expect(statusesOf(parts)).toEqual([[201, 200, 200]]);
      const cs = parts[0]!;
      if (cs.kind !== 'changeset') throw new Error('not a change set');
      const id = cs.responses[0]!.json.id;
      expect((await s.call('GET', `/v1/${c}/${id}`)).json).toMatchObject({ n: 2, m: 3 });
    });

    it('refers to a request of an earlier part, with a path or a query after the reference', async () => {
      const c = fresh();
      const parts = answer(
        await batch([
          { method: 'POST', url: `${c}`, body: { n: 1 }, contentId: 'new' },
          { changeset: [{ method: 'PUT', url: '$new', headers: { 'If-Match': '$new' }, body: { n: 5 }, contentId: 'p' }] },
          { method: 'GET', url: '$NEW' },
          { method: 'GET', url: `/v1/${c}?$filter=n eq 5` },
        ]),
      );
      expect(statusesOf(parts)).toEqual([201, [200], 200, 200]);
      expect((parts[2] as HttpPart).json.n).toBe(5);
      expect((parts[3] as HttpPart).json.items).toHaveLength(1);
    });

    it.each([
      ['a later request', (c: string): Part[] => [{ changeset: [{ method: 'PATCH', url: '$2', body: {}, contentId: '1' }, { method: 'POST', url: `/v1/${c}`, body: {}, contentId: '2' }] }]],
      ['itself', (c: string): Part[] => [put(c, 'x'), { method: 'PATCH', url: '$1', body: {}, contentId: '1' }]],
      ['no request of the batch', (c: string): Part[] => [put(c, 'x'), { method: 'PATCH', url: '$9', body: {} }]],
      ['a later request, in If-Match', (c: string): Part[] => [put(c, 'x'), { method: 'PATCH', url: `/v1/${c}/x`, headers: { 'If-Match': '$2' }, body: {} }, put(c, 'y', {}, { contentId: '2' })]],
    ])('a reference to %s: 400 invalid_dependency, nothing runs', async (_, parts) => {
      const c = fresh();
      await expectRefused(await batch(parts(c)), 400, 'invalid_dependency', c);
    });

    it('a Content-ID twice in one change set: 400 duplicate_id, nothing runs', async () => {
      const c = fresh();
      await expectRefused(await batch([{ changeset: [put(c, 'a', {}, { contentId: '1' }) as never, put(c, 'b', {}, { contentId: '1' }) as never] }]), 400, 'duplicate_id', c);
    });

    it('a Content-ID again in another change set names the nearest earlier request (dynamics-web-api numbers each change set alike)', async () => {
      const c = fresh();
      const parts = answer(
        await batch([
          { changeset: [{ method: 'POST', url: `/v1/${c}`, body: { k: 'first' }, contentId: '1' }] },
          { changeset: [{ method: 'POST', url: `/v1/${c}`, body: { k: 'second' }, contentId: '1' }, { method: 'PATCH', url: '$1', body: { seen: true }, contentId: '2' }] },
        ]),
      );
      expect(statusesOf(parts)).toEqual([[201], [201, 200]]);
      const second = parts[1]!;
      if (second.kind !== 'changeset') throw new Error('not a change set');
      expect(second.responses.map((r) => r.mime['content-id'])).toEqual(['1', '2']);
      expect(second.responses[1]!.json).toMatchObject({ k: 'second', seen: true });
    });

    it('a reference to a request that failed, or to a member of a failed change set: 424 failed_dependency', async () => {
      const c = fresh();
      const parts = answer(
        await batch(
          [
            { method: 'PATCH', url: `/v1/${c}/missing`, body: {}, contentId: 'gone' },
            { method: 'GET', url: '$gone' },
            { changeset: [{ method: 'POST', url: `/v1/${c}`, body: {}, contentId: 'made' }, { method: 'DELETE', url: `/v1/${c}/missing` }] },
            { method: 'GET', url: '$made' },
            { method: 'DELETE', url: `/v1/${c}/x`, headers: { 'If-Match': '$made' } },
          ],
          { headers: { prefer: 'odata.continue-on-error' } },
        ),
      );
      expect(statusesOf(parts)).toEqual([404, 424, 404, 424, 424]);
      expect((parts[1] as HttpPart).json.error.code).toBe('failed_dependency');
      expect(await count(c)).toBe(0);
    });

    it('what follows a reference is checked like any path: 400 invalid_path, nothing runs', async () => {
      const c = fresh();
      await expectRefused(await batch([{ method: 'PUT', url: `/v1/${c}/a`, body: {}, contentId: '1' }, { method: 'POST', url: '$1/..%2F..%2F$batch', body: {} }]), 400, 'invalid_path', c);
    });
  });

  describe('order and errors', () => {
    it('parts run in order: a read after a write sees it', async () => {
      const c = fresh();
      const parts = answer(
        await batch([
          put(c, 'a', { v: 'one' }),
          { method: 'GET', url: `/v1/${c}/a` },
          { method: 'PATCH', url: `/v1/${c}/a`, body: { v: 'two' } },
          { method: 'GET', url: `/v1/${c}/a` },
          { method: 'DELETE', url: `/v1/${c}/a` },
          { method: 'GET', url: `/v1/${c}` },
        ]),
      );
      expect(statusesOf(parts)).toEqual([201, 200, 200, 200, 204, 200]);
      expect((parts[1] as HttpPart).json.v).toBe('one');
      expect((parts[3] as HttpPart).json.v).toBe('two');
      expect((parts[5] as HttpPart).json.items).toEqual([]);
    });

    it('without Prefer, nothing runs after the first failure and the answer ends with it', async () => {
      const c = fresh();
      const r = await batch([put(c, 'a'), { method: 'DELETE', url: `/v1/${c}/missing` }, put(c, 'b'), { changeset: [put(c, 'c') as never] }]);
      const parts = answer(r);
      expect(statusesOf(parts)).toEqual([201, 404]);
      expect(r.headers.get('preference-applied')).toBeNull();
      expect(await count(c)).toBe(1);
    });

    it('without Prefer, a failed change set ends the batch too', async () => {
      const c = fresh();
      const parts = answer(await batch([{ changeset: [put(c, 'a') as never, { method: 'DELETE', url: `/v1/${c}/missing` }] }, put(c, 'b')]));
      expect(statusesOf(parts)).toEqual([404]);
      expect(await count(c)).toBe(0);
    });

    it.each([['odata.continue-on-error'], ['odata.continue-on-error=true'], ['continue-on-error'], ['return=minimal, odata.continue-on-error']])('Prefer: %s runs everything', async (prefer) => {
      const c = fresh();
      const r = await batch([put(c, 'a'), { method: 'DELETE', url: `/v1/${c}/missing` }, put(c, 'b'), { changeset: [{ method: 'DELETE', url: `/v1/${c}/missing` }] }, put(c, 'c')], { headers: { prefer } });
      expect(statusesOf(answer(r))).toEqual([201, 404, 201, 404, 201]);
      expect(r.headers.get('preference-applied')).toMatch(/continue-on-error/);
      expect(await count(c)).toBe(3);
    });

    it('Prefer: odata.continue-on-error=false stops, as without it', async () => {
      const c = fresh();
      const r = await batch([{ method: 'DELETE', url: `/v1/${c}/missing` }, put(c, 'b')], { headers: { prefer: 'odata.continue-on-error=false' } });
      expect(statusesOf(answer(r))).toEqual([404]);
      expect(r.headers.get('preference-applied')).toBe('odata.continue-on-error=false');
      expect(await count(c)).toBe(0);
    });
  });

  describe('responses', () => {
    it('every part is application/http with HTTP/1.1 <status> <reason>, headers in canonical case and the body', async () => {
      const c = fresh();
      const parts = answer(
        await batch(
          [put(c, 'a', { title: 'x' }, { contentId: 'top' }), { method: 'GET', url: `/v1/${c}/a` }, { method: 'GET', url: `/v1/${c}?$filter=(` }, { method: 'DELETE', url: `/v1/${c}/a` }],
          { headers: { prefer: 'odata.continue-on-error' } },
        ),
      );
      const [created, read, bad, deleted] = parts as HttpPart[];
      expect(created!.mime).toEqual({ 'content-type': 'application/http', 'content-transfer-encoding': 'binary', 'content-id': 'top' });
      expect(created!.statusLine).toBe('HTTP/1.1 201 Created');
      expect(created!.headers).toMatchObject({ Location: `/v1/${c}/a`, ETag: expect.stringMatching(/^"/), 'Content-Type': expect.stringMatching(/^application\/json/) });
      expect(read!.statusLine).toBe('HTTP/1.1 200 OK');
      expect(read!.json).toEqual({ id: 'a', title: 'x' });
      expect(bad!.statusLine).toBe('HTTP/1.1 400 Bad Request');
      expect(bad!.json.error).toMatchObject({ code: 'bad_request', innererror: { position: expect.any(Number) } });
      expect(deleted!.statusLine).toBe('HTTP/1.1 204 No Content');
      expect(deleted!.body).toBe('');
    });

    it('202 with DataServiceVersion for OData v2/v3 clients, 200 otherwise', async () => {
      const c = fresh();
      const v2 = await batch([put(c, 'a')], { headers: { DataServiceVersion: '2.0', MaxDataServiceVersion: '2.0' } });
      expect(statusesOf(answer(v2, 202))).toEqual([201]);
      expect(v2.headers.get('dataserviceversion')).toBe('2.0');
      const v4 = await batch([put(c, 'b')], { headers: { 'OData-Version': '4.0', 'OData-MaxVersion': '4.0' } });
      expect(statusesOf(answer(v4, 200))).toEqual([201]);
    });
  });

  describe('HEAD for a CSRF token', () => {
    it.each([['/v1/$batch'], ['/v1/$batch/'], ['/v1/%24batch']])('HEAD %s answers 200 with no body and no CSRF token', async (path) => {
      for (const token of [TOKENS.acme, null]) {
        const r = await s.call('HEAD', path, { token, headers: { 'x-csrf-token': 'Fetch' } });
        expect(r.status).toBe(200);
        expect(r.text).toBe('');
        expect(r.headers.get('x-csrf-token')).toBeNull();
      }
    });

    it('a batch carrying x-csrf-token runs like any other', async () => {
      const c = fresh();
      expect(statusesOf(answer(await batch([put(c, 'a')], { headers: { 'x-csrf-token': 'whatever' } })))).toEqual([201]);
    });
  });

  describe('identity and validation of operations', () => {
    it('credentials inside parts are ignored: every operation runs as the batch principal', async () => {
      const c = fresh();
      const parts = answer(
        await batch([
          put(c, 'a', { v: 1 }, { headers: { Authorization: `Bearer ${TOKENS.globex}`, Cookie: 's=1', 'X-API-Key': 'k' } } as never),
          { method: 'PUT', url: `/v1/${c}/b?token=${TOKENS.globex}`, body: {} },
        ]),
      );
      expect(statusesOf(parts)).toEqual([201, 201]);
      expect(await count(c)).toBe(2);
      expect((await s.call('GET', `/v1/${c}?$top=1000`, { token: TOKENS.globex })).json.items).toEqual([]);
    });

    it('a read-only token reads but cannot write, per operation', async () => {
      const c = fresh();
      const parts = answer(await batch([{ method: 'GET', url: `/v1/${c}` }, put(c, 'a')], { token: TOKENS.acmeRead, headers: { prefer: 'odata.continue-on-error' } }));
      expect(statusesOf(parts)).toEqual([200, 403]);
    });

    it.each([
      ['an absolute URL of this server', (c: string, origin: string) => `${origin}/v1/${c}/abs`, 201],
      ['a path relative to /v1/', (c: string) => `${c}/rel`, 201],
      ['a key predicate', (c: string) => `/v1/${c}('kp')`, 201],
    ])('takes %s', async (_, url, status) => {
      const c = fresh();
      expect(statusesOf(answer(await batch([{ method: 'PUT', url: url(c, s.url), body: {} }])))).toEqual([status]);
      expect(await count(c)).toBe(1);
    });

    it.each([
      ['an absolute URL of another server', (c: string) => `http://example.com/v1/${c}/x`, 'invalid_path'],
      ['a dot segment', (c: string) => `/v1/${c}/%2e%2e/x`, 'invalid_path'],
      ['the batch endpoint itself', () => '/v1/$batch', 'nested_batch'],
      ['$batch, relative', () => '$batch', 'nested_batch'],
      ['another dialect’s batch endpoint', () => '/batch', 'nested_batch'],
    ])('refuses %s: 400, nothing runs', async (_, url, code) => {
      const c = fresh();
      await expectRefused(await batch([put(c, 'first'), { method: 'POST', url: url(c), body: {} }]), 400, code, c);
    });

    it('an unknown method: 400 bad_request, nothing runs', async () => {
      const c = fresh();
      await expectRefused(await batch([put(c, 'first'), { method: 'BREW', url: `/v1/${c}/x` }]), 400, 'bad_request', c);
    });

    it('a header name that is not a token: 400 invalid_header, nothing runs', async () => {
      const c = fresh();
      await expectRefused(await batch([put(c, 'first'), { method: 'GET', url: `/v1/${c}/x`, headers: { 'Bad Name': 'v' } }]), 400, 'invalid_header', c);
    });
  });

  describe('limits', () => {
    let small: TestServer;
    beforeAll(async () => {
      small = await startTestServer({ maxOps: 3, maxBatchBytes: 2000 });
    });
    afterAll(() => small.close());
    const sendSmall = (parts: Part[]) => {
      const { body, contentType } = multipartBatch(parts);
      return small.call('POST', '/v1/$batch', { body, headers: { 'content-type': contentType } });
    };

    it('the operation count includes change-set members: 4 of 3 is 413 batch_too_large, nothing runs', async () => {
      const c = fresh();
      const r = await sendSmall([put(c, 'a'), { changeset: [put(c, 'b') as never, put(c, 'c') as never] }, put(c, 'd')]);
      expect(r.status).toBe(413);
      expect(r.json.error.code).toBe('batch_too_large');
      expect(r.json.error.message).toContain('OData multipart batch');
      expect((await small.call('GET', `/v1/${c}`)).json.items).toEqual([]);
      const ok = await sendSmall([put(c, 'a'), { changeset: [put(c, 'b') as never, put(c, 'c') as never] }]);
      expect(ok.status).toBe(200);
    });

    it('a body over the byte limit: 413 body_too_large, nothing runs', async () => {
      const c = fresh();
      const r = await sendSmall([put(c, 'a', { pad: 'x'.repeat(3000) })]);
      expect(r.status).toBe(413);
      expect(r.json.error.code).toBe('body_too_large');
      expect((await small.call('GET', `/v1/${c}`)).json.items).toEqual([]);
    });
  });
});
