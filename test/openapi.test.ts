import { validate, compileErrors } from '@readme/openapi-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../src/dialects/index.js';
import { ApiError } from '../src/errors.js';
import { BATCH_ENDPOINTS, type BatchExchange } from '../src/openapi/batch-endpoints.js';
import { startTestServer, TOKENS, type TestServer } from './support/server.js';

/**
 * /openapi.json: a valid OpenAPI 3.1 document that describes every batch
 * endpoint the server registers, whose request schemas agree with the real
 * decoders, and whose examples, sent over HTTP to a real server, answer 200
 * in the documented shape with the documented statuses.
 */
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
const JSON_TYPES = /json/;
const isJson = (x: BatchExchange) => JSON_TYPES.test(x.sendAs);
const exchanges = BATCH_ENDPOINTS.flatMap((e) => e.exchanges.map((x) => ({ endpoint: e, x, name: `${x.dialect} (${x.sendAs} to ${e.examplePath})` })));

function decodes(x: BatchExchange, doc: unknown): { ok: true } | { ok: false; error: ApiError } {
  const dialect = DIALECTS.find((d) => d.name === x.dialect)!;
  const text = typeof doc === 'string' ? doc : JSON.stringify(doc);
  try {
    dialect.decode({ text, contentType: x.sendAs, headers: new Map([['content-type', x.sendAs]]), baseUrl: 'http://localhost:3000' }, { maxOperations: 100 });
    return { ok: true };
  } catch (err) {
    if (err instanceof ApiError) return { ok: false, error: err };
    throw err;
  }
}

/** The operation list of a JSON batch document, wherever its format keeps it. */
const LIST_MEMBER: Record<string, string | null> = {
  ops: 'requests',
  requests: null,
  parts: 'parts',
  'odata-json': 'requests',
  composite: 'compositeRequest',
  fhir: 'entry',
  'jsonapi-atomic': 'atomic:operations',
};

const VALUES: unknown[] = [null, 42, 'x', true, [], {}];

/** Structural variations of a valid document: members removed, replaced by other types, added; the same inside its first operation and one level below. */
function mutations(dialect: string, example: unknown): { what: string; doc: unknown }[] {
  const out: { what: string; doc: unknown }[] = VALUES.map((v) => ({ what: `the document is ${JSON.stringify(v)}`, doc: v }));
  const clone = () => structuredClone(example) as any;
  const vary = (label: string, get: (doc: any) => any) => {
    const target = get(clone());
    if (target === null || typeof target !== 'object' || Array.isArray(target)) return;
    for (const key of Object.keys(target)) {
      const removed = clone();
      delete get(removed)[key];
      out.push({ what: `${label} without ${key}`, doc: removed });
      for (const v of VALUES) {
        const replaced = clone();
        get(replaced)[key] = structuredClone(v);
        out.push({ what: `${label}.${key} = ${JSON.stringify(v)}`, doc: replaced });
      }
    }
    const added = clone();
    get(added)['zzz'] = 1;
    out.push({ what: `${label} with an unknown member`, doc: added });
  };
  const member = LIST_MEMBER[dialect];
  if (member === undefined) throw new Error(`no operation list for ${dialect}`);
  const list = (doc: any) => (member === null ? doc : doc[member]);
  vary('the document', (d) => d);
  for (const [i] of (list(clone()) as unknown[]).entries()) {
    vary(`operation ${i}`, (d) => list(d)[i]);
    for (const key of Object.keys(list(clone())[i])) vary(`operation ${i}.${key}`, (d) => list(d)[i][key]);
  }
  return out;
}

describe('the OpenAPI document', () => {
  let server: TestServer;
  let document: any;

  beforeAll(async () => {
    server = await startTestServer();
    const r = await server.call('GET', '/openapi.json', { token: null });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    document = r.json;
  });
  afterAll(() => server?.close());

  it('is served without a token and validates as OpenAPI 3.1 (@readme/openapi-parser)', async () => {
    expect(document.openapi).toBe('3.1.0');
    const result = await validate(structuredClone(document));
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
  });

  it('describes every batch endpoint the server registers, in every media type it takes, and the resource API', () => {
    const paths = Object.keys(document.paths);
    for (const dialect of DIALECTS) {
      expect(exchanges.some((e) => e.x.dialect === dialect.name), dialect.name).toBe(true);
      // Aliases (`/fhir/`, `/v1/%24batch`) and reserved paths (no media type) are described in prose, not as paths of their own.
      const served = dialect.endpoints.filter((e) => e.mediaTypes?.length !== 0 && !e.path.endsWith('/') && !e.path.includes('%24'));
      for (const e of served) {
        const path = e.path.replace(/:version\{[^}]*\}/, '{version}');
        expect(paths, `${dialect.name} ${e.path}`).toContain(path);
        const content = document.paths[path].post.requestBody.content;
        for (const type of e.mediaTypes ?? []) expect(Object.keys(content), `${dialect.name} ${e.path}`).toContain(type);
      }
    }
    for (const p of ['/v1/{collection}', '/v1/{collection}/{id}', '/healthz']) expect(paths).toContain(p);
    expect(Object.keys(document.paths['/v1/{collection}/{id}']).sort()).toEqual(['delete', 'get', 'parameters', 'patch', 'put']);
  });

  it('carries, for every batch format, a request and a response schema with an example each', () => {
    for (const { endpoint, x, name } of exchanges) {
      const op = document.paths[endpoint.path].post;
      for (const type of x.requestTypes) {
        expect(op.requestBody.content[type].schema, name).toEqual(x.requestSchema);
        expect(op.requestBody.content[type].example, name).toEqual(x.requestExample);
      }
      expect(op.responses['200'].content[x.responseType].example, name).toEqual(x.responseExample);
      expect(op.responses['200'].content[x.responseType].schema, name).toEqual(x.responseSchema);
      for (const status of ['400', '401', '413', '415']) expect(op.responses[status].content[x.errorType].schema, name).toEqual(x.errorSchema);
    }
  });

  it.each(exchanges)('$name: its example is accepted by the real decoder and by its schema; its response example fits the response schema', ({ x }) => {
    expect(decodes(x, x.requestExample)).toEqual({ ok: true });
    if (isJson(x)) {
      const check = ajv.compile(x.requestSchema);
      expect(check(x.requestExample), ajv.errorsText(check.errors)).toBe(true);
      const checkResponse = ajv.compile(x.responseSchema);
      expect(checkResponse(x.responseExample), ajv.errorsText(checkResponse.errors)).toBe(true);
    }
  });

  it.each(exchanges.filter((e) => isJson(e.x)))('$name: every variation the decoder accepts, the schema accepts; what the schema refuses, the decoder refuses', ({ x }) => {
    const cases = mutations(x.dialect, x.requestExample);
    const check = ajv.compile(x.requestSchema);
    let refusedByBoth = 0;
    const disagreements: string[] = [];
    for (const { what, doc } of cases) {
      const schema = check(doc);
      const decoder = decodes(x, doc);
      if (decoder.ok && !schema) disagreements.push(`${what}: the decoder accepts it, the schema refuses it (${ajv.errorsText(check.errors)})`);
      if (!decoder.ok && !schema) refusedByBoth++;
    }
    expect(disagreements).toEqual([]);
    expect(cases.length).toBeGreaterThan(40);
    // The schema says something: it refuses a good share of the variations, each of which the decoder refuses too.
    expect(refusedByBoth).toBeGreaterThan(cases.length / 4);
  });
});

/** What each operation of an answer came to, in order, as each format writes it. */
function statusesOf(dialect: string, type: string, body: string): unknown[] {
  switch (dialect) {
    case 'xml':
      return [...body.matchAll(/<(create|read|update|delete|error) index="(\d+)"/g)].map((m) => `${m[1]} ${m[2]}`);
    case 'odata-multipart':
      return [...body.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1]));
  }
  expect(type).toMatch(JSON_TYPES);
  const doc = JSON.parse(body);
  switch (dialect) {
    case 'ops':
      return doc.responses.map((r: any) => r.status);
    case 'requests':
      return doc.map((r: any) => `${r.id} ${r.code}`);
    case 'parts':
      return doc.parts.map((p: any) => `${p.id} ${p.operation}`);
    case 'odata-json':
      return doc.responses.map((r: any) => `${r.id} ${r.status}`);
    case 'composite':
      return doc.compositeResponse.map((r: any) => `${r.referenceId} ${r.httpStatusCode}`);
    case 'fhir':
      return [doc.type, ...doc.entry.map((e: any) => e.response.status)];
    case 'jsonapi-atomic':
      return doc['atomic:results'].map((r: any) => (r.data ? `${r.data.type} ${r.data.lid ?? ''}` : '{}'));
  }
  throw new Error(`no statuses for ${dialect}`);
}

describe('the OpenAPI examples over HTTP', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  // In document order, on one database: each example stands on its own (fixed ids are PUT, the rest created).
  it.each(exchanges)('$name: answers 200 in the documented media type, shape and statuses', async ({ endpoint, x }) => {
    const r = await server.call('POST', endpoint.examplePath, {
      headers: { 'content-type': x.sendAs },
      body: typeof x.requestExample === 'string' ? x.requestExample : JSON.stringify(x.requestExample),
    });
    expect(r.status, r.text).toBe(200);
    const type = r.headers.get('content-type') ?? '';
    expect(type.split(';')[0]).toBe(x.responseType.split(';')[0]);
    if (isJson(x)) {
      const check = ajv.compile(x.responseSchema);
      expect(check(r.json), ajv.errorsText(check.errors)).toBe(true);
    }
    const documented = typeof x.responseExample === 'string' ? x.responseExample : JSON.stringify(x.responseExample);
    expect(statusesOf(x.dialect, type, r.text)).toEqual(statusesOf(x.dialect, x.responseType, documented));
    expect(statusesOf(x.dialect, type, r.text).length).toBeGreaterThan(0);
  });

  it('the resource API example record is written and read back as documented', async () => {
    const document = (await server.call('GET', '/openapi.json', { token: null })).json;
    const put = document.paths['/v1/{collection}/{id}'].put;
    const example = put.requestBody.content['application/json'].example;
    const record = ajv.compile(document.components.schemas.Record);
    const w = await server.call('PUT', '/v1/books/openapi-example', { json: example });
    expect([200, 201]).toContain(w.status);
    expect(record(w.json)).toBe(true);
    expect(w.headers.get('etag')).toBeTruthy();
    const list = await server.call('GET', '/v1/books?$filter=' + encodeURIComponent("id eq 'openapi-example'"));
    expect(list.status).toBe(200);
    const listSchema = ajv.compile(document.components.schemas.RecordList);
    expect(listSchema(list.json), ajv.errorsText(listSchema.errors)).toBe(true);
    expect(list.json.items).toHaveLength(1);
  });

  it('the batch endpoints still refuse a request without a token (only the document and the page are public)', async () => {
    const r = await server.call('POST', '/batch', { token: null, json: { requests: [] } });
    expect(r.status).toBe(401);
    expect((await server.call('GET', '/v1/books', { token: null })).status).toBe(401);
    expect((await server.call('GET', '/openapi.json', { token: TOKENS.acmeRead })).status).toBe(200);
  });
});
