import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestsDialect } from '../src/dialects/index.js';
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
  problemForm,
  randomText,
  textMutations,
  type DecoderHarness,
} from './support/fuzz.js';
import { startTestServer, type TestServer } from './support/server.js';

/**
 * The requests decoder (`POST /v1/batch`, a JSON array whose headers and
 * bodies are strings) never lets anything but a client error out: random
 * bytes, random JSON, arrays of random operations (header strings with odd
 * lines, per-operation tokens, transaction groups) and mutations of valid
 * batches. Refusals are problem+json with the error's code; over HTTP a
 * sample of mutated batches never answers 5xx and a refused one writes
 * nothing. Case counts: test/support/fuzz.ts (OMNIBUS_FUZZ_RUNS).
 */
const harness = (headers: Record<string, string> = {}): DecoderHarness => ({
  dialect: requestsDialect,
  maxOperations: 100,
  headers,
  errorForm: problemForm,
  answerForm(encoded, batch) {
    expect(encoded.status).toBe(200);
    const answers = JSON.parse(encoded.body);
    expect(answers.map((a: { id: string }) => a.id)).toEqual(batch.operations.map((o) => o.id));
    for (const a of answers) expect(typeof a.headers === 'string' && typeof a.body === 'string').toBe(true);
  },
});
const plain = harness();
const withBatchHeaders = harness({ authorization: 'Bearer t', cookie: 'a=b', 'if-match': '"e"', 'content-type': 'application/json', host: 'evil', 'x-forwarded-for': '1.2.3.4' });
const decodeOrRefuse = (text: string, contentType = 'application/json', seed = 0) => decode(seed % 2 ? withBatchHeaders : plain, text, contentType, seed);

const ids = fc.oneof(fc.constantFrom('1', '2', 'a', '', 'x'.repeat(300)), fc.integer(), fc.string({ maxLength: 5 }));
const headerLines = fc.array(
  fc.oneof(fc.constantFrom('Content-Type: application/json', 'If-Match: "e"', 'Authorization: Bearer x', 'no colon', ': empty name', 'X: a\u0000b', '', ' \r', 'Host: evil'), fc.string({ maxLength: 12 })),
  { maxLength: 4 },
).map((lines) => lines.join('\n'));
const operation = fc.record(
  {
    id: ids,
    method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'get', 'BREW', ''),
    path: fc.oneof(fc.constantFrom('/v1/books', '/v1/books/1', '/v1/books/1?token=acme-ro-token', '/v1/batch', '/batch', '//x', '/v1/%2e%2e', "/v1/books('1')", ''), fc.string({ maxLength: 20 })),
    headers: fc.oneof(headerLines, fc.jsonValue({ maxDepth: 1 })),
    body: fc.oneof(fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)), fc.string({ maxLength: 20 }), fc.jsonValue({ maxDepth: 1 })),
    transaction: fc.oneof(ids, fc.jsonValue({ maxDepth: 0 })),
  },
  { requiredKeys: ['id', 'method', 'path'] },
);
const batches = fc.array(fc.oneof(operation, fc.jsonValue({ maxDepth: 1 })), { maxLength: 8 });

const VALID: unknown[] = [
  [
    { id: '1', method: 'PUT', path: '/v1/books/42', headers: 'Content-Type: application/json\nIf-Match: "a1"', body: '{"title":"x"}', transaction: 't' },
    { id: '2', method: 'PATCH', path: '/v1/books/42', headers: 'Content-Type: application/merge-patch+json', body: '{"title":null}', transaction: 't' },
    { id: 3, method: 'GET', path: '/v1/books?$top=5&token=acme-ro-token' },
    { id: '4', method: 'DELETE', path: "/v1/books('42')", headers: '' },
  ],
  [],
];
const VALID_TEXT = VALID.map((d) => JSON.stringify(d));
const TOKENS = [...JSON_TOKENS, '"id":"1",', '"transaction":"t",', '"headers":"A: b\\nC"', '"body":"{\\"a\\":1,\\"a\\":2}"'];

describe('requests decoder fuzzing', () => {
  it('random bytes and random JSON, under any content type, never throw anything but a client error', () => {
    fc.assert(
      fc.property(fc.oneof(randomText, fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v))), fc.constantFrom('application/json', 'application/json;charset=utf-8', 'text/plain', ''), fc.nat(1), (text, type, seed) => {
        decodeOrRefuse(text, type, seed);
      }),
      fuzzOptions,
    );
  }, FUZZ_TEST_TIMEOUT);

  it('arrays of random operations decode and encode, or are refused with a client error', () => {
    let accepted = 0;
    fc.assert(
      fc.property(batches, fc.nat(13), (doc, seed) => {
        if (!decodeOrRefuse(JSON.stringify(doc), 'application/json', seed)) accepted++;
      }),
      fuzzOptions,
    );
    expect(accepted).toBeGreaterThan(0);
  }, FUZZ_TEST_TIMEOUT);

  it('mutations of valid batches, in their text and in their JSON, never throw anything but a client error', () => {
    for (const text of VALID_TEXT) expect(decodeOrRefuse(text)).toBe(false);
    fc.assert(fc.property(fc.constantFrom(...VALID_TEXT), textMutations(TOKENS), fc.nat(13), (text, ms, seed) => void decodeOrRefuse(mutateText(text, ms), 'application/json', seed)), fuzzOptions);
    fc.assert(fc.property(fc.constantFrom(...VALID), jsonMutation, fc.nat(13), (doc, m, seed) => void decodeOrRefuse(JSON.stringify(mutateJson(doc, m)), 'application/json', seed)), fuzzOptions);
  }, FUZZ_TEST_TIMEOUT);
});

describe('requests over HTTP, fuzzed', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({}, SQLITE_BACKEND);
  });
  afterAll(() => s.close());

  it('mutated batches never answer 5xx, a refusal is problem+json, and a refused batch writes nothing', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(textMutations(TOKENS, 4), async (ms) => {
        const c = `fz${++n}`;
        const doc = JSON.stringify([
          { id: '1', method: 'PUT', path: `/v1/${c}/1`, headers: 'Content-Type: application/json', body: '{"a":1}', transaction: 't' },
          { id: '2', method: 'PATCH', path: `/v1/${c}/1`, headers: 'Content-Type: application/json', body: '{"b":2}', transaction: 't' },
          { id: '3', method: 'GET', path: `/v1/${c}/1` },
        ]);
        const r = await s.call('POST', '/v1/batch', { body: mutateText(doc, ms), headers: { 'content-type': 'application/json' } });
        expect(r.status, r.text).toBeLessThan(500);
        if (r.status !== 200) {
          expect(r.headers.get('content-type')).toBe('application/problem+json');
          expect(typeof r.json.code).toBe('string');
          expect((await s.call('GET', `/v1/${c}`)).json.items).toEqual([]);
        } else {
          for (const x of r.json) expect(x.code, JSON.stringify(x)).toBeLessThan(500);
        }
      }),
      { numRuns: HTTP_FUZZ_RUNS },
    );
  }, FUZZ_TEST_TIMEOUT);
});
