import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchPathsOf, DIALECTS, fhirDialect } from '../src/dialects/index.js';
import { checkBackReferences } from '../src/engine/references.js';
import type { BatchOutcome, OperationResult } from '../src/engine/types.js';
import { validateBatch } from '../src/engine/validate.js';
import { ApiError } from '../src/errors.js';
import { SQLITE_BACKEND } from './support/backends.js';
import { startTestServer, type TestServer } from './support/server.js';

/**
 * The FHIR Bundle decoder never throws anything but a client error (an
 * ApiError below 500), whatever it is sent: random bytes, random JSON,
 * Bundles built from random entries (references, conditions, url forms) and
 * mutations of valid Bundles; encoding any outcome of what it decoded never
 * fails either. A few thousand cases by default; OMNIBUS_FUZZ_RUNS=<n> runs n
 * per property, OMNIBUS_FUZZ_MS bounds each property's time (default 4 s).
 * A failure prints the seed and the shrunk input: `fc.assert(..., { seed, path })` replays it.
 */
const RUNS = Number(process.env['OMNIBUS_FUZZ_RUNS'] ?? 1000);
const TIME_MS = Number(process.env['OMNIBUS_FUZZ_MS'] ?? 4000);
const options = { numRuns: RUNS, plugins: [fc.interruptAfterTimeLimit(TIME_MS)] };
const TEST_TIMEOUT = TIME_MS * 2 + 20_000;
const ORIGIN = 'http://127.0.0.1:3000';
const limits = { maxOperations: 100, batchPaths: batchPathsOf(DIALECTS) };

const answers: Omit<OperationResult, 'index' | 'id'>[] = [
  { status: 201, headers: { 'content-type': 'application/json', location: '/v1/T/k1', etag: '"e1"', 'last-modified': 'Tue, 01 Dec 2026 10:00:00 GMT' }, body: { id: 'k1', resourceType: 'T' }, ran: true },
  { status: 200, headers: { 'content-type': 'application/json' }, body: { items: [{ id: 'a', _etag: '"e"', _updated: 'x' }, 'odd', null], next: '/v1/T?$top=1&$skip=1' }, ran: true },
  { status: 404, headers: { 'content-type': 'application/problem+json' }, body: { code: 'not_found', detail: 'No record.' }, ran: true },
  { status: 424, headers: { 'content-type': 'application/problem+json' }, body: { code: 'transaction_rolled_back', detail: 'Rolled back.' }, ran: false },
  { status: 500, headers: { 'content-type': 'text/plain' }, text: 'oops', ran: true },
  { status: 204, headers: {}, ran: true },
  { status: 429, headers: { 'content-type': 'application/problem+json', 'retry-after': '3' }, body: { code: 'rate_limited' }, ran: false },
];

/** Decodes, validates and encodes like the server; true when refused, throws when the refusal is not a client error. */
function decodeOrRefuse(text: string, contentType = 'application/fhir+json', seed = 0): boolean {
  try {
    const batch = fhirDialect.decode({ text, contentType, headers: new Map(), baseUrl: ORIGIN }, { maxOperations: 100 });
    const prepared = validateBatch(batch, limits);
    checkBackReferences(prepared);
    expect(batch.operations.length).toBeLessThanOrEqual(100);
    expect(batch.operations.map((o) => o.index)).toEqual(batch.operations.map((_, i) => i));
    const outcome: BatchOutcome = {
      results: batch.operations.map((op, i) => ({ index: op.index, id: op.id, ...answers[(i + seed) % answers.length]! })),
      halted: false,
    };
    const encoded = fhirDialect.encode(batch, outcome, { baseUrl: ORIGIN });
    expect(encoded.headers['content-type']).toBe('application/fhir+json');
    const doc = JSON.parse(encoded.body);
    expect(['Bundle', 'OperationOutcome']).toContain(doc.resourceType);
    return false;
  } catch (err) {
    if (!(err instanceof ApiError)) throw new Error(`decode threw ${String(err)} for ${JSON.stringify(text.slice(0, 300))}`);
    if (err.status >= 500) throw new Error(`decode refused with ${err.status} ${err.code} for ${JSON.stringify(text.slice(0, 300))}`);
    const encoded = fhirDialect.encodeError(err, { text });
    expect(encoded.status).toBe(err.status);
    expect(JSON.parse(encoded.body).issue).toHaveLength(1);
    return true;
  }
}

const fullUrls = ['urn:uuid:00000000-0000-4000-8000-000000000001', 'urn:uuid:00000000-0000-4000-8000-000000000002', `${ORIGIN}/fhir/T/p1`, '../../batch', 'urn:uuid:x'];
const methods = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'get', 'BREW', '', 7 as unknown as string);
const urls = fc.oneof(
  fc.constantFrom('T', 'T/p1', 'T/p2', "T?$filter=a eq 'urn:uuid:00000000-0000-4000-8000-000000000001'", `${ORIGIN}/fhir/T/p1`, 'http://evil/fhir/T', 'T/_history/1', 'T/$op', 'batch', '', '/fhir', 'T/a/b', 'T/..', 'T/%2e', 'T/%ZZ', 'T/\u0000', 'T?token=x'),
  fc.string({ maxLength: 24 }),
);
const value: fc.Arbitrary<unknown> = fc.oneof(fc.constantFrom(...fullUrls), fc.jsonValue({ maxDepth: 2 }));
const resource = fc.oneof(
  fc.record(
    { resourceType: fc.constantFrom('T', 'U', 'Parameters', 'Binary'), id: fc.constantFrom('p1', 'p2', 3), subject: fc.record({ reference: value }), identifier: fc.array(fc.record({ value }), { maxLength: 2 }), extra: value },
    { requiredKeys: ['resourceType'] },
  ),
  fc.jsonValue({ maxDepth: 3 }),
);
const entry = fc.record(
  {
    fullUrl: fc.oneof(fc.constantFrom(...fullUrls), fc.string({ maxLength: 8 }), fc.constant(null)),
    resource,
    request: fc.record(
      {
        method: methods,
        url: urls,
        ifMatch: fc.oneof(fc.constantFrom('"e1"', 'W/"e1"', '*', 'a\r\nb'), fc.string({ maxLength: 6 })),
        ifNoneMatch: fc.constantFrom('*', '"e"'),
        ifNoneExist: fc.oneof(fc.constantFrom("$filter=a eq 'x'", 'identifier=x|1', '$filter=', '?$filter=b eq 1'), fc.jsonValue({ maxDepth: 1 })),
      },
      { requiredKeys: ['method', 'url'] },
    ),
  },
  { requiredKeys: ['request'] },
);
const bundles = fc.record({
  resourceType: fc.constantFrom('Bundle', 'Bundle', 'Patient'),
  type: fc.constantFrom('transaction', 'batch', 'document'),
  entry: fc.array(fc.oneof(entry, fc.jsonValue({ maxDepth: 1 })), { maxLength: 8 }),
});
const contentTypes = fc.oneof(
  fc.constantFrom('application/fhir+json', 'application/json', 'application/fhir+json; charset=utf-8; fhirVersion=4.0', 'application/fhir+json;;', 'application/fhir+json; charset'),
  fc.string({ maxLength: 30 }).map((p) => `application/fhir+json; ${p}`),
);

/** A valid transaction with references of every kind, to mutate. */
const VALID = JSON.stringify({
  resourceType: 'Bundle',
  type: 'transaction',
  entry: [
    { fullUrl: fullUrls[0], resource: { resourceType: 'T', next: { reference: fullUrls[1] } }, request: { method: 'POST', url: 'T' } },
    { fullUrl: fullUrls[1], resource: { resourceType: 'T' }, request: { method: 'POST', url: 'T', ifNoneExist: "$filter=a eq 'x'" } },
    { fullUrl: fullUrls[2], resource: { resourceType: 'T', id: 'p1', s: { reference: fullUrls[0] } }, request: { method: 'PUT', url: 'T/p1', ifMatch: '"e"' } },
    { resource: { a: null }, request: { method: 'PATCH', url: 'T/p2' } },
    { request: { method: 'DELETE', url: 'T/p3' } },
    { request: { method: 'GET', url: `T?$filter=s/reference eq '${fullUrls[0]}'` } },
  ],
});

type Mutation = { kind: 'delete' | 'insert' | 'duplicate' | 'truncate' | 'swap'; at: number; len: number; token: string };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('delete', 'insert', 'duplicate', 'truncate', 'swap'),
  at: fc.nat(),
  len: fc.nat({ max: 30 }),
  token: fc.oneof(fc.constantFrom('"', '{', '}', '[', ']', ',', ':', 'null', '"urn:uuid:x"', '"batch"', '"transaction"', '\\u0000', '\\ud800', '"../../batch"', '[[[[[[[[', '1e999'), fc.string({ maxLength: 6 })),
});

function mutate(text: string, ms: Mutation[]): string {
  let t = text;
  for (const m of ms) {
    const at = t.length === 0 ? 0 : m.at % (t.length + 1);
    if (m.kind === 'delete') t = t.slice(0, at) + t.slice(at + m.len);
    else if (m.kind === 'insert') t = t.slice(0, at) + m.token + t.slice(at);
    else if (m.kind === 'duplicate') t = t.slice(0, at + m.len) + t.slice(at, at + m.len) + t.slice(at + m.len);
    else if (m.kind === 'truncate') t = t.slice(0, at);
    else t = t.replace('"transaction"', '"batch"').replaceAll(fullUrls[0]!, fullUrls[1]!);
  }
  return t;
}

describe('fhir decoder fuzzing', () => {
  it('random bytes and random JSON never throw anything but a client error', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b).toString('utf8')), fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v))), contentTypes, (text, ct) => {
        decodeOrRefuse(text, ct);
      }),
      options,
    );
  }, TEST_TIMEOUT);

  it('Bundles built from random entries decode or are refused with a client error, and encode whatever they answer', () => {
    fc.assert(
      fc.property(bundles, fc.nat({ max: answers.length }), (b, seed) => {
        decodeOrRefuse(JSON.stringify(b), 'application/fhir+json', seed);
      }),
      options,
    );
  }, TEST_TIMEOUT);

  it('mutations of a valid transaction never throw anything but a client error', () => {
    expect(decodeOrRefuse(VALID)).toBe(false);
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 5 }), fc.nat({ max: answers.length }), (ms, seed) => {
        decodeOrRefuse(mutate(VALID, ms), 'application/fhir+json', seed);
      }),
      options,
    );
  }, TEST_TIMEOUT);

  it('a resource nested 100,000 levels deep is refused, not a stack overflow', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const text = `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"T","x":${deep}},"request":{"method":"POST","url":"T"}}]}`;
    expect(decodeOrRefuse(text)).toBe(true);
  });
});

describe('fhir over HTTP, fuzzed', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({}, SQLITE_BACKEND);
  });
  afterAll(() => s.close());

  it('mutated transactions never answer 5xx, and a refused or failed one writes nothing', async () => {
    const runs = Math.max(40, Math.min(1000, Math.floor(RUNS / 20)));
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (ms) => {
        const type = `Fz${++n}`;
        const body = mutate(VALID.replaceAll('"T', `"${type}`).replaceAll("'T", `'${type}`).replaceAll('/T', `/${type}`), ms);
        const r = await s.call('POST', '/fhir', { body, headers: { 'content-type': 'application/fhir+json' } });
        expect(r.status, r.text).toBeLessThan(500);
        expect(r.headers.get('content-type')).toBe('application/fhir+json');
        if (r.status >= 400 && r.json?.resourceType === 'OperationOutcome') expect((await s.call('GET', `/v1/${type}`)).json.items ?? []).toEqual([]);
      }),
      { numRuns: runs, plugins: [fc.interruptAfterTimeLimit(TIME_MS * 2)] },
    );
  }, TEST_TIMEOUT * 2);
});
