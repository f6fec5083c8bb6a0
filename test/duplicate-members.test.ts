import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { multipartBatch, readBatchResponse, type HttpPart } from './fixtures/odata-multipart/multipart.js';
import { SQLITE_BACKEND } from './support/backends.js';
import { startTestServer, TOKENS, type TestServer } from './support/server.js';

/**
 * A JSON document whose objects repeat a member name (`{"method":"GET",
 * "method":"DELETE"}`) is refused whole with 400 `invalid_json` in every JSON
 * dialect, in that dialect's error form, naming the member and the object:
 * JSON.parse would keep the last, a filter in front may read the first.
 * Nothing of a refused batch runs. Bodies carried as text (requests' string
 * bodies, OData multipart parts) are parsed by the resource API like single
 * writes, so there the operation alone is refused.
 */
const ATOMIC = 'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic"';

describe('repeated member names', () => {
  let s: TestServer;
  let n = 0;
  /** A fresh collection per test, so "nothing was written" is an empty list. */
  const fresh = () => `dup${++n}`;
  beforeAll(async () => {
    s = await startTestServer({}, SQLITE_BACKEND);
  });
  afterAll(() => s.close());

  const post = (path: string, body: string, contentType = 'application/json', headers: Record<string, string> = {}) =>
    s.call('POST', path, { body, headers: { 'content-type': contentType, ...headers } });
  const items = async (c: string) => (await s.call('GET', `/v1/${c}`)).json.items as unknown[];

  describe('ops (POST /batch)', () => {
    it('refuses a repeated method in an operation, naming the member and the operation, and runs nothing', async () => {
      const c = fresh();
      await s.call('PUT', `/v1/${c}/a`, { json: { v: 1 } });
      const r = await post('/batch', `{"requests":[{"method":"PUT","path":"/v1/${c}/b","body":{}},{"method":"GET","path":"/v1/${c}/a","method":"DELETE"}]}`);
      expect(r.status).toBe(400);
      expect(r.headers.get('content-type')).toBe('application/problem+json');
      expect(r.json).toMatchObject({ code: 'invalid_json', member: 'method', pointer: '/requests/1' });
      expect(r.json.detail).toMatch(/^The ops batch is refused: the object at \/requests\/1 repeats the member "method" \(at position \d+\)/);
      expect(await items(c)).toHaveLength(1);
    });

    it('refuses a repeat in the envelope and in an operation body at any depth', async () => {
      const c = fresh();
      const envelope = await post('/batch', `{"requests":[{"method":"PUT","path":"/v1/${c}/a","body":{}}],"requests":[]}`);
      expect(envelope.json).toMatchObject({ code: 'invalid_json', member: 'requests', pointer: '' });
      expect(envelope.json.detail).toContain('the top-level object repeats the member "requests"');
      const flag = await post('/batch', `{"requests":[],"stop_on_error":true,"stop_on_error":false}`);
      expect(flag.json).toMatchObject({ code: 'invalid_json', member: 'stop_on_error' });
      const body = await post('/batch', `{"requests":[{"method":"PUT","path":"/v1/${c}/a","body":{"profile":{"role":"user","role":"admin"}}}]}`);
      expect(body.status).toBe(400);
      expect(body.json).toMatchObject({ code: 'invalid_json', member: 'role', pointer: '/requests/0/body/profile' });
      const headers = await post('/batch', `{"requests":[{"method":"GET","path":"/v1/${c}/a","headers":{"If-Match":"\\"a\\"","If-Match":"*"}}]}`);
      expect(headers.json).toMatchObject({ code: 'invalid_json', member: 'If-Match', pointer: '/requests/0/headers' });
      expect(await items(c)).toEqual([]);
    });

    it('sees a name repeated through a \\u escape', async () => {
      const r = await post('/batch', '{"requests":[{"method":"GET","path":"/v1/x/1","\\u006dethod":"DELETE"}]}');
      expect(r.json).toMatchObject({ code: 'invalid_json', member: 'method', pointer: '/requests/0' });
    });

    it('accepts the same name in different objects, and a name that is also a value', async () => {
      const c = fresh();
      const r = await post('/batch', JSON.stringify({ requests: [{ method: 'PUT', path: `/v1/${c}/a`, body: { method: 'method', path: { path: 1 } } }, { method: 'GET', path: `/v1/${c}/a` }] }));
      expect(r.status).toBe(200);
      expect(r.json.responses[1].body).toMatchObject({ method: 'method', path: { path: 1 } });
    });
  });

  it('requests (POST /v1/batch): refuses a repeated id or method; a string body that repeats a member fails that operation alone', async () => {
    const c = fresh();
    const r = await post('/v1/batch', `[{"id":"1","method":"PUT","path":"/v1/${c}/a","body":"{}"},{"id":"2","id":"3","method":"GET","path":"/v1/${c}/a"}]`);
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ code: 'invalid_json', member: 'id', pointer: '/1' });
    expect(r.json.detail).toMatch(/^The requests batch is refused/);
    expect(await items(c)).toEqual([]);
    // The body is a string: its JSON is the operation's, read by the resource API as a single write's.
    const ok = await post('/v1/batch', JSON.stringify([
      { id: '1', method: 'PUT', path: `/v1/${c}/a`, headers: 'Content-Type: application/json', body: '{"role":"user","role":"admin"}' },
      { id: '2', method: 'PUT', path: `/v1/${c}/b`, headers: 'Content-Type: application/json', body: '{"role":"user"}' },
    ]));
    expect(ok.status).toBe(200);
    expect(ok.json[0].code).toBe(400);
    expect(JSON.parse(ok.json[0].body)).toMatchObject({ code: 'invalid_json', member: 'role', pointer: '' });
    expect(ok.json[1].code).toBe(201);
    expect(await items(c)).toHaveLength(1);
  });

  it('parts (POST /batch/parts and POST /v1 as ADF batch): refuses a repeated operation and runs no part', async () => {
    const c = fresh();
    for (const [path, type] of [['/batch/parts', 'application/json'], ['/v1', 'application/vnd.oracle.adf.batch+json']] as const) {
      const r = await post(path, `{"parts":[{"id":"p1","path":"/v1/${c}/a","operation":"replace","payload":{}},{"id":"p2","path":"/v1/${c}/a","operation":"get","operation":"delete"}]}`, type);
      expect(r.status).toBe(400);
      expect(r.json).toMatchObject({ code: 'invalid_json', member: 'operation', pointer: '/parts/1' });
      expect(r.json.detail).toMatch(/^The parts batch is refused/);
    }
    expect(await items(c)).toEqual([]);
  });

  it('odata-json (POST /v1/$batch): refuses in the OData error form', async () => {
    const c = fresh();
    const r = await post('/v1/$batch', `{"requests":[{"id":"1","method":"PUT","url":"/v1/${c}/a","body":{}},{"id":"2","method":"GET","url":"/v1/${c}/a","method":"DELETE"}]}`);
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('invalid_json');
    expect(r.json.error.message).toMatch(/^The OData JSON batch is refused: the object at \/requests\/1 repeats the member "method"/);
    expect(await items(c)).toEqual([]);
  });

  it('composite: refuses in Salesforce\'s error form', async () => {
    const c = fresh();
    const r = await post('/services/data/v59.0/composite', `{"allOrNone":false,"compositeRequest":[{"method":"PUT","url":"/v1/${c}/a","referenceId":"a","body":{}},{"method":"GET","method":"DELETE","url":"/v1/${c}/a","referenceId":"b"}]}`);
    expect(r.status).toBe(400);
    expect(r.json).toHaveLength(1);
    expect(r.json[0].errorCode).toBe('INVALID_JSON');
    expect(r.json[0].message).toMatch(/^The Composite request is refused: the object at \/compositeRequest\/1 repeats the member "method"/);
    expect(await items(c)).toEqual([]);
  });

  it('fhir: refuses with one OperationOutcome whose expression names the entry', async () => {
    const c = `Dup${++n}`;
    const r = await post(
      '/fhir',
      `{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"${c}"},"request":{"method":"POST","url":"${c}"}},{"request":{"method":"GET","url":"${c}/a","method":"DELETE"}}]}`,
      'application/fhir+json',
    );
    expect(r.status).toBe(400);
    expect(r.json.resourceType).toBe('OperationOutcome');
    expect(r.json.issue).toHaveLength(1);
    expect(r.json.issue[0]).toMatchObject({ code: 'invalid', expression: ['Bundle.entry[1]'], details: { coding: [{ code: 'invalid_json' }] } });
    expect(r.json.issue[0].diagnostics).toContain('the object at /entry/1/request repeats the member "method"');
    const top = await post('/fhir', '{"resourceType":"Bundle","type":"transaction","type":"batch","entry":[]}', 'application/fhir+json');
    expect(top.json.issue[0]).not.toHaveProperty('expression');
    expect(top.json.issue[0].diagnostics).toContain('the top-level object repeats the member "type"');
    expect(await items(c)).toEqual([]);
  });

  it('jsonapi-atomic: refuses with an errors document whose source.pointer is the object', async () => {
    const c = fresh();
    const r = await post('/operations', `{"atomic:operations":[{"op":"add","data":{"type":"${c}","attributes":{"name":"a"}}},{"op":"remove","op":"add","ref":{"type":"${c}","id":"1"}}]}`, ATOMIC);
    expect(r.status).toBe(400);
    expect(r.json.errors).toHaveLength(1);
    expect(r.json.errors[0]).toMatchObject({ status: '400', code: 'invalid_json', source: { pointer: '/atomic:operations/1' } });
    expect(r.json.errors[0].detail).toContain('repeats the member "op"');
    const attr = await post('/operations', `{"atomic:operations":[{"op":"add","data":{"type":"${c}","attributes":{"name":"a","name":"b"}}}]}`, ATOMIC);
    expect(attr.json.errors[0].source).toEqual({ pointer: '/atomic:operations/0/data/attributes' });
    expect(await items(c)).toEqual([]);
  });

  it('odata-multipart: a part\'s JSON body that repeats a member fails that request, and its change set with it', async () => {
    const c = fresh();
    const dup = '{"role":"user","role":"admin"}';
    const { body, contentType } = multipartBatch([
      { method: 'PUT', url: `/v1/${c}/a`, headers: { 'Content-Type': 'application/json' }, body: dup },
      { method: 'PUT', url: `/v1/${c}/b`, body: { role: 'user' } },
      { changeset: [{ method: 'PUT', url: `/v1/${c}/c`, body: {} }, { method: 'PUT', url: `/v1/${c}/d`, headers: { 'Content-Type': 'application/json' }, body: dup }] },
    ]);
    const r = await post('/v1/$batch', body, contentType, { prefer: 'odata.continue-on-error' });
    expect(r.status).toBe(200);
    const parts = readBatchResponse(r.headers.get('content-type'), r.text).parts as HttpPart[];
    expect(parts.map((p) => p.status)).toEqual([400, 201, 400]);
    expect(parts[0]!.json.error).toMatchObject({ code: 'invalid_json' });
    expect(parts[0]!.json.error.message).toContain('repeats the member "role"');
    expect(((await items(c)) as { id: string }[]).map((x) => x.id)).toEqual(['b']);
  });

  it('single writes: POST, PUT and PATCH bodies that repeat a member are refused and store nothing', async () => {
    const c = fresh();
    const json = { 'content-type': 'application/json' };
    const created = await s.call('POST', `/v1/${c}`, { body: '{"owner":"ann","owner":"bob"}', headers: json });
    expect(created.status).toBe(400);
    expect(created.json).toMatchObject({ code: 'invalid_json', member: 'owner', pointer: '' });
    expect(created.json.detail).toMatch(/^The body is refused: the top-level object repeats the member "owner"/);
    const put = await s.call('PUT', `/v1/${c}/a`, { body: '{"a":{"b":[{"c":1,"c":2}]}}', headers: json });
    expect(put.json).toMatchObject({ code: 'invalid_json', member: 'c', pointer: '/a/b/0' });
    expect(await items(c)).toEqual([]);
    await s.call('PUT', `/v1/${c}/a`, { json: { role: 'user' } });
    const patch = await s.call('PATCH', `/v1/${c}/a`, { body: '{"role":null,"role":"admin"}', headers: { 'content-type': 'application/merge-patch+json' } });
    expect(patch.json).toMatchObject({ code: 'invalid_json', member: 'role' });
    expect((await s.call('GET', `/v1/${c}/a`)).json.role).toBe('user');
  });

  it('the admin token route refuses a repeated member too', async () => {
    const r = await s.call('POST', '/admin/tokens', { token: TOKENS.acmeAdmin, body: '{"scopes":["read"],"scopes":["read","write","admin"]}', headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ code: 'invalid_json', member: 'scopes' });
  });
});
