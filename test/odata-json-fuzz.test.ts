import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { odataJsonDialect } from '../src/dialects/index.js';
import { resolveReferences, type Finished } from '../src/engine/references.js';
import { ApiError } from '../src/errors.js';
import { SQLITE_BACKEND } from './support/backends.js';
import {
  decodeOrRefuse as decode,
  FUZZ_TEST_TIMEOUT,
  fuzzOptions,
  HTTP_FUZZ_RUNS,
  JSON_TOKENS,
  jsonMutation,
  mutateJson,
  mutateText,
  ORIGIN,
  randomText,
  textMutations,
  type DecoderHarness,
} from './support/fuzz.js';
import { startTestServer, type TestServer } from './support/server.js';

/**
 * The OData JSON batch decoder (`POST /v1/$batch`, application/json) never
 * lets anything but a client error out: random bytes, random JSON, batches
 * of random requests (every url form, `$<id>` references, dependsOn,
 * atomicity groups, Prefer) and mutations of valid batches. What it accepts
 * validates, its references resolve against earlier answers or fail with a
 * client error, and it encodes; a refusal is `{"error":{"code","message"}}`.
 * Over HTTP a sample of mutated batches never answers 5xx and a refused one
 * writes nothing. Case counts: test/support/fuzz.ts (OMNIBUS_FUZZ_RUNS).
 */
const created: Finished = {
  result: { index: 0, id: '1', status: 201, headers: { location: '/v1/books/k1', etag: '"e1"', 'content-type': 'application/json' }, body: { id: 'k1' }, ran: true },
  path: '/v1/books',
};
const harness = (prefer?: string): DecoderHarness => ({
  dialect: odataJsonDialect,
  maxOperations: 100,
  headers: prefer ? { prefer } : {},
  errorForm(encoded, error) {
    expect(encoded.headers['content-type']).toBe('application/json');
    const doc = JSON.parse(encoded.body);
    expect(Object.keys(doc)).toEqual(['error']);
    expect(doc.error.code).toBe(error.code);
    expect(typeof doc.error.message).toBe('string');
  },
  answerForm(encoded, batch) {
    expect(encoded.status).toBe(200);
    const doc = JSON.parse(encoded.body);
    expect(doc.responses.map((r: { id: string }) => r.id)).toEqual(batch.operations.map((o) => o.id));
  },
  beforeRun(prepared) {
    // Every reference resolves against an earlier request's answer, or fails that request with a client error.
    for (const p of prepared) {
      try {
        resolveReferences(p, () => created);
      } catch (err) {
        if (!(err instanceof ApiError) || err.status >= 500) throw err;
      }
    }
  },
});
const harnesses = [harness(), harness('odata.continue-on-error=false'), harness('odata.continue-on-error, respond-async'), harness('odata.continue-on-error=maybe')];
const decodeOrRefuse = (text: string, contentType = 'application/json', seed = 0) => decode(harnesses[seed % harnesses.length]!, text, contentType, seed);

const ids = fc.oneof(fc.constantFrom('1', '2', '3', 'g', 'G', 'a b', ''), fc.string({ maxLength: 4 }));
const urls = fc.oneof(
  fc.constantFrom('/v1/books', '/v1/books/1', 'books', 'books/1', "books('1')", 'books(id=1)', 'books(1,2)', '$1', '$2/x', '$1?$top=1', '$G', `${ORIGIN}/v1/books`, 'http://evil/v1/books', '//evil/x', '/v1/$batch', '$batch', '/v1/%24batch', '../batch', '', '/v1/books?$filter=a eq 1&token=x'),
  fc.string({ maxLength: 20 }),
);
const request = fc.record(
  {
    id: ids,
    method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'get', 'BREW', ''),
    url: urls,
    headers: fc.oneof(
      fc.dictionary(fc.constantFrom('if-match', 'If-None-Match', 'content-type', 'Authorization', 'prefer', 'x'), fc.oneof(fc.constantFrom('$1', '$2', '*', '"e"', 'text/plain', 'application/json', 'a\r\nb'), fc.string({ maxLength: 6 })), { maxKeys: 3 }),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    body: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.string({ maxLength: 20 })),
    atomicityGroup: fc.oneof(ids, fc.jsonValue({ maxDepth: 0 })),
    dependsOn: fc.oneof(fc.array(ids, { maxLength: 3 }), fc.jsonValue({ maxDepth: 1 })),
  },
  { requiredKeys: ['id', 'method', 'url'] },
);
const batches = fc.record({ requests: fc.array(fc.oneof(request, fc.jsonValue({ maxDepth: 1 })), { maxLength: 8 }) });

const VALID: unknown[] = [
  {
    requests: [
      { id: '1', method: 'POST', url: '/v1/books', headers: { 'content-type': 'application/json' }, body: { title: 'x' } },
      { id: '2', method: 'PATCH', url: '$1', headers: { 'if-match': '$1' }, body: { pages: 2 }, dependsOn: ['1'] },
      { id: '3', method: 'GET', url: 'books?$top=5' },
      { id: '4', method: 'PUT', url: '/v1/authors/a1', body: { n: 1 }, atomicityGroup: 'g' },
      { id: '5', method: 'DELETE', url: "authors('a2')", atomicityGroup: 'g' },
      { id: '6', method: 'GET', url: `${ORIGIN}/v1/authors/a1`, dependsOn: ['g'] },
      { id: '7', method: 'PUT', url: 'notes/n1', headers: { 'content-type': 'text/plain' }, body: 'plain' },
    ],
  },
];
const VALID_TEXT = VALID.map((d) => JSON.stringify(d));
const TOKENS = [...JSON_TOKENS, '"$1"', '"$7/x"', '"dependsOn":["7"],', '"atomicityGroup":"g",', '"id":"1",', '"url":"/v1/$batch",'];

describe('odata-json decoder fuzzing', () => {
  it('random bytes and random JSON, under any content type, never throw anything but a client error', () => {
    fc.assert(
      fc.property(fc.oneof(randomText, fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v))), fc.constantFrom('application/json', 'application/json;odata.metadata=minimal', 'multipart/mixed', 'text/plain', ''), fc.nat(3), (text, type, seed) => {
        decodeOrRefuse(text, type, seed);
      }),
      fuzzOptions,
    );
  }, FUZZ_TEST_TIMEOUT);

  it('batches of random requests decode, resolve and encode, or are refused with a client error', () => {
    let accepted = 0;
    fc.assert(
      fc.property(batches, fc.nat(27), (doc, seed) => {
        if (!decodeOrRefuse(JSON.stringify(doc), 'application/json', seed)) accepted++;
      }),
      fuzzOptions,
    );
    expect(accepted).toBeGreaterThan(0);
  }, FUZZ_TEST_TIMEOUT);

  it('mutations of valid batches, in their text and in their JSON, never throw anything but a client error', () => {
    for (const text of VALID_TEXT) expect(decodeOrRefuse(text)).toBe(false);
    fc.assert(fc.property(fc.constantFrom(...VALID_TEXT), textMutations(TOKENS), fc.nat(27), (text, ms, seed) => void decodeOrRefuse(mutateText(text, ms), 'application/json', seed)), fuzzOptions);
    fc.assert(fc.property(fc.constantFrom(...VALID), jsonMutation, fc.nat(27), (doc, m, seed) => void decodeOrRefuse(JSON.stringify(mutateJson(doc, m)), 'application/json', seed)), fuzzOptions);
  }, FUZZ_TEST_TIMEOUT);
});

describe('odata-json over HTTP, fuzzed', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({}, SQLITE_BACKEND);
  });
  afterAll(() => s.close());

  it('mutated batches never answer 5xx, a refusal is an OData error, and a refused batch writes nothing', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(textMutations(TOKENS, 4), async (ms) => {
        const c = `fz${++n}`;
        const doc = JSON.stringify({
          requests: [
            { id: '1', method: 'POST', url: `/v1/${c}`, body: { a: 1 } },
            { id: '2', method: 'PATCH', url: '$1', headers: { 'if-match': '$1' }, body: { b: 2 }, dependsOn: ['1'] },
            { id: '3', method: 'PUT', url: `${c}/x`, body: {}, atomicityGroup: 'g' },
            { id: '4', method: 'GET', url: `${c}?$top=2`, dependsOn: ['g'] },
          ],
        });
        const r = await s.call('POST', '/v1/$batch', { body: mutateText(doc, ms), headers: { 'content-type': 'application/json' } });
        expect(r.status, r.text).toBeLessThan(500);
        if (r.status !== 200) {
          expect(typeof r.json.error.code).toBe('string');
          expect((await s.call('GET', `/v1/${c}`)).json.items).toEqual([]);
        } else {
          for (const x of r.json.responses) expect(x.status, JSON.stringify(x)).toBeLessThan(500);
        }
      }),
      { numRuns: HTTP_FUZZ_RUNS },
    );
  }, FUZZ_TEST_TIMEOUT);
});
