import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachBackend, startTestServer, TOKENS, type CallResult, type TestServer } from './support/server.js';

/** The FHIR Bundle dialect (batch and transaction), sentence by sentence, over real HTTP on every backend. */
describeEachBackend('fhir Bundle', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  let n = 0;
  /** A fresh resource type per test (a collection of its own), so counts start at zero. */
  const fresh = (prefix = 'Pt') => `${prefix}${++n}x${Math.random().toString(36).slice(2, 6)}`;
  const uuid = (k: number | string) => `urn:uuid:00000000-0000-4000-8000-${String(k).padStart(12, '0')}`;

  type Entry = Record<string, unknown>;
  const bundle = (type: string, entry: Entry[]) => ({ resourceType: 'Bundle', type, entry });
  const send = (body: unknown, init: { path?: string; contentType?: string; token?: string | null; headers?: Record<string, string> } = {}) =>
    s.call('POST', init.path ?? '/fhir', {
      body: typeof body === 'string' ? body : JSON.stringify(body),
      headers: { 'content-type': init.contentType ?? 'application/fhir+json', ...init.headers },
      token: init.token,
    });
  const transaction = (entry: Entry[], init?: Parameters<typeof send>[1]) => send(bundle('transaction', entry), init);
  const batch = (entry: Entry[], init?: Parameters<typeof send>[1]) => send(bundle('batch', entry), init);

  const post = (type: string, resource: Entry = {}, extra: Entry = {}, request: Entry = {}): Entry => ({
    ...extra,
    resource: { resourceType: type, ...resource },
    request: { method: 'POST', url: type, ...request },
  });
  const put = (type: string, id: string, resource: Entry = {}, request: Entry = {}, extra: Entry = {}): Entry => ({
    ...extra,
    resource: { resourceType: type, ...resource },
    request: { method: 'PUT', url: `${type}/${id}`, ...request },
  });
  const get = (url: string, request: Entry = {}): Entry => ({ request: { method: 'GET', url, ...request } });
  const del = (url: string): Entry => ({ request: { method: 'DELETE', url } });

  async function items(type: string): Promise<Record<string, any>[]> {
    const r = await s.call('GET', `/v1/${type}?$top=1000`);
    return r.status === 200 ? r.json.items : [];
  }

  /** A Bundle that ran: 200, application/fhir+json, the response type; its entries. */
  function answered(r: CallResult, type: 'transaction-response' | 'batch-response'): any[] {
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/fhir+json');
    expect(r.json.resourceType).toBe('Bundle');
    expect(r.json.type).toBe(type);
    return r.json.entry;
  }

  /** One OperationOutcome with one error issue naming the Omnibus code, and nothing of `type` written. */
  async function outcome(r: CallResult, status: number, code: string, issue: string, type?: string) {
    expect(r.status, r.text).toBe(status);
    expect(r.headers.get('content-type')).toBe('application/fhir+json');
    expect(r.json.resourceType).toBe('OperationOutcome');
    expect(r.json.issue).toHaveLength(1);
    const i = r.json.issue[0];
    expect(i.severity).toBe('error');
    expect(i.code).toBe(issue);
    expect(i.details).toEqual({ coding: [{ system: 'https://omnibus.dev/problems', code }] });
    expect(i.diagnostics).toContain('FHIR Bundle');
    expect(i.diagnostics).not.toMatch(/SPEC|seed|§/i);
    if (type) expect(await items(type)).toEqual([]);
    return i;
  }

  describe('endpoint and media types', () => {
    it('POST /fhir and /fhir/ take a Bundle and answer application/fhir+json', async () => {
      const t = fresh();
      for (const path of ['/fhir', '/fhir/']) {
        const entries = answered(await transaction([post(t)], { path }), 'transaction-response');
        expect(entries[0].response.status).toBe('201 Created');
      }
      expect(await items(t)).toHaveLength(2);
    });

    it('takes application/json, charset=utf-8 and fhirVersion', async () => {
      const t = fresh();
      for (const contentType of ['application/json', 'application/fhir+json; charset=utf-8', 'application/fhir+json;fhirVersion=4.0', 'application/json; charset="UTF-8"; fhirVersion=4.0']) {
        answered(await transaction([post(t)], { contentType }), 'transaction-response');
      }
      expect(await items(t)).toHaveLength(4);
    });

    it('refuses any other type or parameter with 415 not-supported, and runs nothing', async () => {
      const t = fresh();
      for (const contentType of ['text/plain', 'application/xml', 'application/fhir+xml', 'application/fhir+json; charset=iso-8859-1', 'application/json; profile=x', '']) {
        await outcome(await transaction([post(t)], { contentType }), 415, 'unsupported_media_type', 'not-supported', t);
      }
    });

    it('refuses what is no Bundle of type batch or transaction with 400', async () => {
      await outcome(await send('{"resourceType":'), 400, 'invalid_json', 'invalid');
      await outcome(await send({ resourceType: 'Patient', type: 'transaction' }), 400, 'bad_request', 'invalid');
      for (const type of ['document', 'collection', 'searchset', 'transaction-response', undefined]) {
        await outcome(await send({ resourceType: 'Bundle', type, entry: [] }), 400, 'bad_request', 'invalid');
      }
      await outcome(await send({ resourceType: 'Bundle', type: 'batch', entry: {} }), 400, 'bad_request', 'invalid');
    });

    it('answers an empty transaction and an empty batch with empty response Bundles', async () => {
      expect(answered(await send({ resourceType: 'Bundle', type: 'transaction' }), 'transaction-response')).toEqual([]);
      expect(answered(await batch([]), 'batch-response')).toEqual([]);
    });

    it('a Bundle without a valid token: 401 login, WWW-Authenticate: Bearer, nothing runs', async () => {
      const t = fresh();
      for (const token of [null, 'nope']) {
        const r = await transaction([post(t)], { token });
        await outcome(r, 401, 'unauthorized', 'login', t);
        expect(r.headers.get('www-authenticate')).toBe('Bearer');
      }
    });
  });

  describe('request.url', () => {
    it('maps Type, Type/id, Type?query and absolute URLs under this server’s /fhir/ onto /v1/Type[/id][?query]', async () => {
      const t = fresh();
      const entries = answered(
        await batch([
          put(t, 'a', { n: 1 }),
          post(t, { n: 2 }),
          get(`${t}/a`),
          get(`${t}?$filter=n eq 2`),
          get(`${s.url}/fhir/${t}/a`),
          get(`/fhir/${t}?$top=1`),
          { resource: { resourceType: t, n: 3 }, request: { method: 'PUT', url: `${s.url}/fhir/${t}/b` } },
        ]),
        'batch-response',
      );
      expect(entries.map((e) => e.response.status)).toEqual(['201 Created', '201 Created', '200 OK', '200 OK', '200 OK', '200 OK', '201 Created']);
      expect(entries[2].resource).toMatchObject({ id: 'a', resourceType: t, n: 1 });
      expect(entries[3].resource.entry.map((e: any) => e.resource.n)).toEqual([2]);
      expect(entries[5].resource.entry).toHaveLength(1);
      expect((await s.call('GET', `/v1/${t}/b`)).json).toEqual({ id: 'b', resourceType: t, n: 3 });
    });

    it('another host, _history, an $operation, _search or more segments: 400 invalid_path, nothing runs', async () => {
      const t = fresh();
      for (const url of [
        `http://example.org/fhir/${t}/a`,
        `http://127.0.0.1:1/fhir/${t}/a`,
        `${s.url}/v1/${t}/a`,
        `${t}/a/_history/1`,
        `${t}/_history`,
        `${t}/$everything`,
        `$export`,
        `${t}/a/$validate`,
        `${t}/_search`,
        `${t}/a/b`,
        `${t}/..`,
        `${t}/%2e%2e`,
        `${t}/a%2Fb`,
        `../../batch`,
        `${t}/../../batch`,
        `_history`,
        `1${t}`,
        `${t}/a#x`,
      ]) {
        await outcome(await transaction([put(t, 'ok'), get(url)]), 400, 'invalid_path', 'invalid', t);
      }
    });

    it('the base, or a Type that routes to a batch endpoint: 400 nested_batch, nothing runs', async () => {
      const t = fresh();
      for (const url of ['', '/fhir', '/fhir/', `${s.url}/fhir`, `${s.url}/fhir/`, '?x=1', 'batch', 'Batch']) {
        const r = await transaction([put(t, 'ok'), get(url)]);
        expect(r.status, `${url}: ${r.text}`).toBe(400);
        expect(r.json.issue[0].details.coding[0].code, url).toBe('nested_batch');
        expect(r.json.issue[0].code).toBe('invalid');
      }
      expect(await items(t)).toEqual([]);
    });

    it('a POST takes a Type; PUT, PATCH and DELETE a Type/id (no conditional forms): else 400', async () => {
      const t = fresh();
      await outcome(await transaction([post(t, {}, {}, { url: `${t}/x` })]), 400, 'invalid_path', 'invalid', t);
      await outcome(await transaction([put(t, 'x'), { resource: { resourceType: t }, request: { method: 'PUT', url: `${t}?name=x` } }]), 400, 'invalid_path', 'invalid', t);
      await outcome(await transaction([put(t, 'x'), del(t)]), 400, 'invalid_path', 'invalid', t);
      await outcome(await transaction([put(t, 'x'), { request: { method: 'BREW', url: t } }]), 400, 'bad_request', 'invalid', t);
      await outcome(await transaction([put(t, 'x'), { request: { url: t } }]), 400, 'bad_request', 'invalid', t);
      await outcome(await transaction([put(t, 'x'), { resource: { resourceType: t } }]), 400, 'bad_request', 'invalid', t);
    });
  });

  describe('resources', () => {
    it('resourceType must be the url’s Type, a PUT’s id the url’s id: else 400 bad_request; a PUT may leave its id out', async () => {
      const t = fresh();
      await outcome(await transaction([post(t), { resource: { resourceType: 'Other' }, request: { method: 'POST', url: t } }]), 400, 'bad_request', 'invalid', t);
      await outcome(await transaction([post(t), { resource: { n: 1 }, request: { method: 'POST', url: t } }]), 400, 'bad_request', 'invalid', t);
      await outcome(await transaction([post(t), put(t, 'a', { id: 'b' })]), 400, 'bad_request', 'invalid', t);
      const entries = answered(await transaction([put(t, 'a', { id: 'a', n: 1 }), put(t, 'b', { n: 2 })]), 'transaction-response');
      expect(entries.map((e) => e.response.status)).toEqual(['201 Created', '201 Created']);
      expect((await s.call('GET', `/v1/${t}/b`)).json).toEqual({ id: 'b', resourceType: t, n: 2 });
    });

    it('a PATCH is a JSON Merge Patch; JSON Patch and FHIRPath Patch are 400', async () => {
      const t = fresh();
      await s.call('PUT', `/v1/${t}/a`, { json: { resourceType: t, n: 1, m: 1 } });
      const entries = answered(await transaction([{ resource: { m: null, k: 2 }, request: { method: 'PATCH', url: `${t}/a` } }]), 'transaction-response');
      expect(entries[0].response).toMatchObject({ status: '200 OK', location: `${t}/a` });
      expect(entries[0].resource).toEqual({ id: 'a', resourceType: t, n: 1, k: 2 });
      for (const resource of [
        [{ op: 'replace', path: '/n', value: 5 }],
        { resourceType: 'Parameters', parameter: [{ name: 'operation', part: [{ name: 'type', valueCode: 'replace' }] }] },
        { resourceType: 'Binary', contentType: 'application/json-patch+json', data: 'W10=' },
      ]) {
        await outcome(await transaction([{ resource, request: { method: 'PATCH', url: `${t}/a` } }]), 400, 'bad_request', 'invalid');
      }
      expect((await s.call('GET', `/v1/${t}/a`)).json).toEqual({ id: 'a', resourceType: t, n: 1, k: 2 });
    });
  });

  describe('conditions', () => {
    it('ifMatch and ifNoneMatch are those headers; a weak ifMatch is 412, as ETags are strong', async () => {
      const t = fresh();
      const etag = (await s.call('PUT', `/v1/${t}/a`, { json: { resourceType: t, n: 1 } })).headers.get('etag')!;
      const stale = answered(await batch([put(t, 'a', { n: 2 }, { ifMatch: `W/${etag}` }), put(t, 'a', { n: 3 }, { ifMatch: '"nope"' }), put(t, 'a', { n: 4 }, { ifNoneMatch: '*' })]), 'batch-response');
      expect(stale.map((e) => e.response.status)).toEqual(['412 Precondition Failed', '412 Precondition Failed', '412 Precondition Failed']);
      expect(stale[0].response.outcome.issue[0].code).toBe('conflict');
      const entries = answered(await batch([put(t, 'a', { n: 5 }, { ifMatch: etag }), get(`${t}/a`)]), 'batch-response');
      expect(entries[0].response.status).toBe('200 OK');
      expect(entries[0].response.etag).not.toBe(etag);
      const notModified = answered(await batch([get(`${t}/a`, { ifNoneMatch: entries[0].response.etag })]), 'batch-response');
      expect(notModified[0].response).toEqual({ status: '304 Not Modified', etag: entries[0].response.etag, lastModified: expect.any(String) });
      expect(notModified[0].resource).toBeUndefined();
    });

    it('ifNoneExist is an Omnibus $filter: no match creates; one creates nothing and answers 200 OK with its location; more is 412', async () => {
      const t = fresh();
      const first = answered(await transaction([post(t, { code: 'x' }, {}, { ifNoneExist: "$filter=code eq 'x'" })]), 'transaction-response');
      expect(first[0].response.status).toBe('201 Created');
      const id = first[0].resource.id;
      const again = answered(
        await transaction([
          post(t, { code: 'x', other: true }, { fullUrl: uuid(1) }, { ifNoneExist: "$filter=code eq 'x'" }),
          post('Obs' + t, { subject: { reference: uuid(1) } }),
        ]),
        'transaction-response',
      );
      expect(again[0].response).toMatchObject({ status: '200 OK', location: `${t}/${id}`, etag: first[0].response.etag });
      expect(again[0].resource).toEqual({ id, resourceType: t, code: 'x' });
      // The entry's fullUrl stands for the record it found.
      expect(again[1].resource.subject.reference).toBe(`${t}/${id}`);
      expect(await items(t)).toHaveLength(1);
      await s.call('POST', `/v1/${t}`, { json: { resourceType: t, code: 'x' } });
      const r = await transaction([post(t, { code: 'x' }, {}, { ifNoneExist: "$filter=code eq 'x'" })]);
      await outcome(r, 412, 'precondition_failed', 'conflict');
      expect(r.json.issue[0].expression).toEqual(['Bundle.entry[0]']);
      expect(await items(t)).toHaveLength(2);
    });

    it('ifNoneExist that is no $filter, or on anything but a POST, is 400 and nothing runs', async () => {
      const t = fresh();
      for (const ifNoneExist of ['identifier=http://x|1', '', "$filter=a eq 'x'&name=y", '$top=1']) {
        await outcome(await transaction([post(t), post(t, {}, {}, { ifNoneExist })]), 400, 'bad_request', 'invalid', t);
      }
      await outcome(await transaction([post(t), put(t, 'a', {}, { ifNoneExist: "$filter=a eq 'x'" })]), 400, 'bad_request', 'invalid', t);
      // A malformed filter is the list's own 400, at run time: the transaction fails there.
      const r = await transaction([post(t), post(t, {}, {}, { ifNoneExist: '$filter=a eq' })]);
      expect((await outcome(r, 400, 'bad_request', 'invalid', t)).expression).toEqual(['Bundle.entry[1]']);
    });
  });

  describe('references in a transaction', () => {
    it('a string equal to a POST or PUT entry’s fullUrl, at any depth, becomes that record’s Type/id; keys, identifiers and narrative stay', async () => {
      const [p, o] = [fresh('P'), fresh('O')];
      const entries = answered(
        await transaction([
          post(
            o,
            {
              subject: { reference: uuid(1) },
              performer: [{ reference: uuid(2) }, { reference: 'Practitioner/ext' }],
              extension: [{ url: 'http://x/ext', valueReference: { reference: uuid(1) } }],
              component: [{ deep: [{ deeper: { value: uuid(2) } }] }],
              note: [{ text: `about ${uuid(1)}` }],
              identifier: [{ system: 'urn:ietf:rfc:3986', value: uuid(1) }],
              text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml"><a href="${uuid(1)}">p</a></div>` },
              [uuid(1)]: 'a key is never rewritten',
            },
            { fullUrl: uuid(3) },
          ),
          post(p, { name: [{ text: 'P' }] }, { fullUrl: uuid(1) }),
          put(p, 'known', {}, {}, { fullUrl: uuid(2) }),
        ]),
        'transaction-response',
      );
      const pid = entries[1].resource.id;
      const obs = entries[0].resource;
      expect(obs.subject.reference).toBe(`${p}/${pid}`);
      expect(obs.performer).toEqual([{ reference: `${p}/known` }, { reference: 'Practitioner/ext' }]);
      expect(obs.extension[0].valueReference.reference).toBe(`${p}/${pid}`);
      expect(obs.component[0].deep[0].deeper.value).toBe(`${p}/known`);
      expect(obs.note[0].text).toBe(`about ${uuid(1)}`);
      expect(obs.identifier[0].value).toBe(uuid(1));
      expect(obs.text.div).toContain(`href="${uuid(1)}"`);
      expect(obs[uuid(1)]).toBe('a key is never rewritten');
      // As stored, not only as answered.
      expect((await s.call('GET', `/v1/${o}/${obs.id}`)).json.subject.reference).toBe(`${p}/${pid}`);
    });

    it('a fullUrl in a GET query stands for its record (inside a quoted $filter string too)', async () => {
      const [p, o] = [fresh('P'), fresh('O')];
      const entries = answered(
        await transaction([
          get(`${o}?$filter=subject/reference eq '${uuid(1)}'`),
          post(o, { subject: { reference: uuid(1) } }),
          post(p, {}, { fullUrl: uuid(1) }),
          get(`${o}?$filter=${encodeURIComponent(`subject/reference eq '${uuid(1)}'`)}`),
        ]),
        'transaction-response',
      );
      const pid = entries[2].resource.id;
      for (const e of [entries[0], entries[3]]) {
        expect(e.resource.type).toBe('searchset');
        expect(e.resource.entry.map((x: any) => x.resource.subject.reference)).toEqual([`${p}/${pid}`]);
      }
    });

    it('a reference to a urn:uuid: that no entry declares: 400 invalid_dependency, nothing runs', async () => {
      const t = fresh();
      const r = await transaction([post(t, {}, { fullUrl: uuid(1) }), post(t, { subject: { reference: uuid(99) } })]);
      expect((await outcome(r, 400, 'invalid_dependency', 'invalid', t)).expression).toEqual(['Bundle.entry[1]']);
      // Strings other than references (an identifier, text) may hold any urn:uuid:.
      answered(await transaction([post(t, { note: uuid(98), identifier: [{ value: uuid(97) }] })]), 'transaction-response');
    });

    it('fullUrls are unique: else 400 duplicate_id', async () => {
      const t = fresh();
      await outcome(await transaction([post(t, {}, { fullUrl: uuid(1) }), post(t, {}, { fullUrl: uuid(1) })]), 400, 'duplicate_id', 'invalid', t);
      await outcome(await batch([post(t, {}, { fullUrl: uuid(1) }), put(t, 'a', {}, {}, { fullUrl: uuid(1) })]), 400, 'duplicate_id', 'invalid', t);
    });

    it('a batch rewrites nothing, and a reference to another entry’s fullUrl there is 400 invalid_dependency', async () => {
      const t = fresh();
      const r = await batch([post(t, {}, { fullUrl: uuid(1) }), post(t, { subject: { reference: uuid(1) } })]);
      expect((await outcome(r, 400, 'invalid_dependency', 'invalid', t)).expression).toEqual(['Bundle.entry[1]']);
      const entries = answered(await batch([post(t, { note: uuid(1) }, { fullUrl: uuid(1) }), post(t, { subject: { reference: uuid(5) } })]), 'batch-response');
      expect(entries[0].resource.note).toBe(uuid(1));
      expect(entries[1].resource.subject.reference).toBe(uuid(5));
    });
  });

  describe('processing order', () => {
    it('runs DELETE, then POST, then PUT/PATCH, then GET/HEAD, each in array order, answering in request order', async () => {
      const t = fresh();
      await s.call('PUT', `/v1/${t}/gone`, { json: { resourceType: t } });
      await s.call('PUT', `/v1/${t}/a`, { json: { resourceType: t, v: 0 } });
      const entries = answered(
        await transaction([
          get(`${t}?$orderby=v`),
          { request: { method: 'HEAD', url: `${t}/a` } },
          { resource: { v: 2 }, request: { method: 'PATCH', url: `${t}/a` } },
          post(t, { v: 1 }),
          put(t, 'b', { v: 3 }),
          del(`${t}/gone`),
        ]),
        'transaction-response',
      );
      expect(entries.map((e) => e.response.status)).toEqual(['200 OK', '200 OK', '200 OK', '201 Created', '201 Created', '204 No Content']);
      // The GET ran last: it sees the create, the patch and the put, and not the deleted record.
      expect(entries[0].resource.entry.map((e: any) => e.resource.v)).toEqual([1, 2, 3]);
      expect(entries[1].resource).toBeUndefined();
      expect(entries[1].response.etag).toBe(entries[2].response.etag);
    });

    it('a GET of a record the transaction deletes fails it: the delete ran first', async () => {
      const t = fresh();
      await s.call('PUT', `/v1/${t}/a`, { json: { resourceType: t } });
      const r = await transaction([get(`${t}/a`), del(`${t}/a`)]);
      expect((await outcome(r, 404, 'not_found', 'not-found')).expression).toEqual(['Bundle.entry[0]']);
      expect((await s.call('GET', `/v1/${t}/a`)).status).toBe(200);
    });

    it('a POST runs after the POSTs it refers to; a cycle is 400 invalid_dependency', async () => {
      const t = fresh();
      const entries = answered(
        await transaction([
          post(t, { step: 3, prev: { reference: uuid(2) } }, { fullUrl: uuid(3) }),
          post(t, { step: 2, prev: { reference: uuid(1) } }, { fullUrl: uuid(2) }),
          post(t, { step: 1 }, { fullUrl: uuid(1) }),
        ]),
        'transaction-response',
      );
      const ids = entries.map((e) => e.resource.id);
      expect(entries[0].resource.prev.reference).toBe(`${t}/${ids[1]}`);
      expect(entries[1].resource.prev.reference).toBe(`${t}/${ids[2]}`);
      await outcome(
        await transaction([post(t, { prev: { reference: uuid(2) } }, { fullUrl: uuid(1) }), post(t, { prev: { reference: uuid(1) } }, { fullUrl: uuid(2) })]),
        400,
        'invalid_dependency',
        'invalid',
      );
      await outcome(await transaction([post(t, { self: { reference: uuid(1) } }, { fullUrl: uuid(1) })]), 400, 'invalid_dependency', 'invalid');
      expect(await items(t)).toHaveLength(3);
    });

    it('two transaction entries writing one Type/id: 400 duplicate_id; a batch may', async () => {
      const t = fresh();
      await outcome(await transaction([put(t, 'a'), { resource: {}, request: { method: 'PATCH', url: `${t}/a` } }]), 400, 'duplicate_id', 'invalid', t);
      await outcome(await transaction([put(t, 'a'), del(`${t}/%61`)]), 400, 'duplicate_id', 'invalid', t);
      const entries = answered(await batch([put(t, 'a', { v: 2 }), del(`${t}/a`), put(t, 'a', { v: 1 })]), 'batch-response');
      // Batches run in the same order: the delete (of nothing yet) first, then both PUTs in array order.
      expect(entries.map((e) => e.response.status)).toEqual(['201 Created', '404 Not Found', '200 OK']);
      expect((await s.call('GET', `/v1/${t}/a`)).json.v).toBe(1);
    });
  });

  describe('a transaction is all or nothing', () => {
    it('answers a transaction-response in request order: status, location Type/id, strong etag, lastModified, the resource', async () => {
      const t = fresh();
      const before = Date.now() - 1000;
      const entries = answered(await transaction([put(t, 'p1', { n: 1 }), post(t, { n: 2 })]), 'transaction-response');
      const [a, b] = entries;
      expect(a.response.status).toBe('201 Created');
      expect(a.response.location).toBe(`${t}/p1`);
      expect(b.response.location).toBe(`${t}/${b.resource.id}`);
      for (const e of entries) {
        expect(e.response.location).not.toContain('_history');
        expect(e.response.etag).toMatch(/^"[^"]+"$/);
        expect(e.response.lastModified).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        expect(Date.parse(e.response.lastModified)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
        expect(e.fullUrl).toBe(`${s.url}/fhir/${e.response.location}`);
      }
      expect(a.resource).toEqual({ id: 'p1', resourceType: t, n: 1 });
      const updated = answered(await transaction([put(t, 'p1', { n: 3 })]), 'transaction-response');
      expect(updated[0].response).toMatchObject({ status: '200 OK', location: `${t}/p1` });
    });

    it('a list GET answers a searchset Bundle', async () => {
      const t = fresh();
      await s.call('PUT', `/v1/${t}/a`, { json: { resourceType: t, n: 1 } });
      await s.call('PUT', `/v1/${t}/b`, { json: { resourceType: t, n: 2 } });
      const [e] = answered(await transaction([get(`${t}?$top=1`)]), 'transaction-response');
      expect(e.response.status).toBe('200 OK');
      expect(e.resource).toEqual({
        resourceType: 'Bundle',
        type: 'searchset',
        entry: [{ fullUrl: `${s.url}/fhir/${t}/a`, resource: { id: 'a', resourceType: t, n: 1 }, search: { mode: 'match' } }],
        link: [{ relation: 'next', url: `${s.url}/fhir/${t}?$top=1&$skip=1` }],
      });
    });

    it('on failure nothing is visible; the answer is the failing entry’s status with ONE OperationOutcome pointing at it', async () => {
      const t = fresh();
      const r = await transaction([post(t, { n: 1 }), put(t, 'a'), del(`${t}/missing`), post(t, { n: 2 })]);
      const issue = await outcome(r, 404, 'not_found', 'not-found', t);
      expect(issue.expression).toEqual(['Bundle.entry[2]']);
      expect(issue.diagnostics).toContain('Bundle.entry[2]');
      expect(Object.keys(r.json)).toEqual(['resourceType', 'issue']);
    });

    it('a failure in the last entry to run still undoes the first', async () => {
      const t = fresh();
      await s.call('PUT', `/v1/${t}/a`, { json: { resourceType: t, v: 0 } });
      const r = await transaction([get(`${t}/missing`), put(t, 'a', { v: 1 }), post(t, { v: 2 }), del(`${t}/a`.replace('/a', '/zz'))]);
      expect(r.status).toBe(404);
      expect((await items(t)).map((x) => x['v'])).toEqual([0]);
    });
  });

  describe('a batch runs each entry alone', () => {
    it('answers a batch-response: failed entries with response.status and response.outcome, the others applied', async () => {
      const t = fresh();
      const ok = answered(await batch([post(t, { n: 1 }), del(`${t}/missing`), put(t, 'a', { n: 2 })]), 'batch-response');
      expect(ok.map((e) => e.response.status)).toEqual(['201 Created', '404 Not Found', '201 Created']);
      expect(ok[1].response.outcome).toEqual({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'not-found', diagnostics: expect.any(String), details: { coding: [{ system: 'https://omnibus.dev/problems', code: 'not_found' }] }, expression: ['Bundle.entry[1]'] }],
      });
      expect(ok[1].response.outcome.issue[0].diagnostics).toMatch(/^FHIR Bundle batch: Bundle\.entry\[1\] \(DELETE Pt\w+\) failed with 404 Not Found: /);
      expect(ok[1].resource).toBeUndefined();
      expect(await items(t)).toHaveLength(2);
    });

    it('a read-only token: writes are 403 forbidden, reads answer', async () => {
      const t = fresh();
      await s.call('PUT', `/v1/${t}/a`, { json: { resourceType: t } });
      const entries = answered(await batch([post(t), get(`${t}/a`)], { token: TOKENS.acmeRead }), 'batch-response');
      expect(entries.map((e) => e.response.status)).toEqual(['403 Forbidden', '200 OK']);
      expect(entries[0].response.outcome.issue[0].code).toBe('forbidden');
    });
  });

  describe('around the engine', () => {
    it('an Idempotency-Key replays a transaction’s answer byte for byte, and runs it once', async () => {
      const t = fresh();
      const key = `fhir-${t}`;
      const first = await transaction([post(t, { n: 1 })], { headers: { 'idempotency-key': key } });
      const again = await transaction([post(t, { n: 1 })], { headers: { 'idempotency-key': key } });
      answered(first, 'transaction-response');
      expect(again.status).toBe(200);
      expect(again.text).toBe(first.text);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(await items(t)).toHaveLength(1);
      const reused = await transaction([post(t, { n: 2 })], { headers: { 'idempotency-key': key } });
      await outcome(reused, 422, 'idempotency_key_reused', 'invalid');
      expect(await items(t)).toHaveLength(1);
    });
  });

  describe('security', () => {
    it('a reference value ../../batch is data: a fullUrl like any other in a transaction, stored as written in a batch, never a path', async () => {
      const t = fresh();
      const entries = answered(await transaction([put(t, 'x', {}, {}, { fullUrl: '../../batch' }), post(t, { link: { reference: '../../batch' } })]), 'transaction-response');
      expect(entries[1].resource.link.reference).toBe(`${t}/x`);
      const stored = answered(await batch([post(t, { subject: { reference: '../../batch' } })]), 'batch-response');
      expect(stored[0].resource.subject.reference).toBe('../../batch');
      expect(await items(t)).toHaveLength(3);
    });

    it('another tenant’s id is 404, whatever the entry carries', async () => {
      const t = fresh();
      await s.call('PUT', `/v1/${t}/theirs`, { json: { resourceType: t, secret: 1 }, token: TOKENS.globex });
      const entries = answered(
        await batch([{ request: { method: 'GET', url: `${t}/theirs`, headers: { Authorization: `Bearer ${TOKENS.globex}` } } }, del(`${t}/theirs`)], {
          headers: { 'x-api-key': TOKENS.globex, cookie: `token=${TOKENS.globex}`, 'x-forwarded-host': 'evil' },
        }),
        'batch-response',
      );
      expect(entries.map((e) => e.response.status)).toEqual(['404 Not Found', '404 Not Found']);
      expect(JSON.stringify(entries)).not.toContain('secret');
      expect((await s.call('GET', `/v1/${t}/theirs`, { token: TOKENS.globex })).status).toBe(200);
    });

    it('a token in an entry’s url has no effect', async () => {
      const t = fresh();
      await s.call('PUT', `/v1/${t}/theirs`, { json: { resourceType: t }, token: TOKENS.globex });
      const [e] = answered(await batch([get(`${t}/theirs?token=${TOKENS.globex}`)]), 'batch-response');
      expect(e.response.status).toBe('404 Not Found');
    });
  });
});

describe('fhir Bundle limits', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ maxOps: 3, maxBatchBytes: 4096, rateLimit: { limit: 5, windowS: 3600 } });
  });
  afterAll(() => s.close());

  const post = (t: string) => ({ resource: { resourceType: t }, request: { method: 'POST', url: t } });
  const send = (type: string, entry: unknown[]) =>
    s.call('POST', '/fhir', { body: JSON.stringify({ resourceType: 'Bundle', type, entry }), headers: { 'content-type': 'application/fhir+json' } });

  it('more entries than OMNIBUS_MAX_OPS: 413 too-costly, nothing runs', async () => {
    const r = await send('transaction', [post('Lim'), post('Lim'), post('Lim'), post('Lim')]);
    expect(r.status).toBe(413);
    expect(r.json.issue[0]).toMatchObject({ code: 'too-costly', details: { coding: [{ code: 'batch_too_large' }] } });
    expect((await s.call('GET', '/v1/Lim')).json.items).toEqual([]);
  });

  it('a body over OMNIBUS_MAX_BATCH_BYTES: 413 too-costly, nothing runs', async () => {
    const r = await send('transaction', [{ resource: { resourceType: 'Big', text: 'x'.repeat(5000) }, request: { method: 'POST', url: 'Big' } }]);
    expect(r.status).toBe(413);
    expect(r.headers.get('content-type')).toBe('application/fhir+json');
    expect(r.json.issue[0]).toMatchObject({ code: 'too-costly', details: { coding: [{ code: 'body_too_large' }] } });
  });

  it('entries over the rate limit answer 429 throttled; a transaction with one fails whole', async () => {
    const ok = await send('batch', [post('Rl'), post('Rl'), post('Rl')]);
    expect(ok.status).toBe(200);
    const r = await send('transaction', [post('Rl'), post('Rl'), post('Rl')]);
    expect(r.status, r.text).toBe(429);
    expect(r.json.issue[0]).toMatchObject({ code: 'throttled', details: { coding: [{ code: 'rate_limited' }] } });
    expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
    const b = await send('batch', [post('Rl'), post('Rl'), post('Rl')]);
    // What the budget has left runs (the 413 test's list GET took a token too); the rest is throttled, each entry alone.
    expect(b.json.entry[0].response.status, b.text).toBe('201 Created');
    expect(b.json.entry[2].response.status).toBe('429 Too Many Requests');
    expect(b.json.entry[2].response.outcome.issue[0].code).toBe('throttled');
  });
});
