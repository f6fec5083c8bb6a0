import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { opsDialect } from '../src/dialects/index.js';
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
 * The ops decoder (`POST /batch`) never lets anything but a client error
 * out, whatever it is sent: random bytes, random JSON, batches built from
 * random requests, and mutations of valid batches in their text and their
 * JSON. What it accepts validates and encodes; what it refuses is a
 * problem+json document with the error's code. Over HTTP, a sample of
 * mutated batches never answers 5xx and a refused one writes nothing.
 * Case counts: test/support/fuzz.ts (OMNIBUS_FUZZ_RUNS).
 */
const harness: DecoderHarness = {
  dialect: opsDialect,
  maxOperations: 100,
  errorForm: problemForm,
  answerForm(encoded, batch) {
    expect(encoded.status).toBe(200);
    expect(JSON.parse(encoded.body).responses).toHaveLength(batch.operations.length);
  },
};
const decodeOrRefuse = (text: string, contentType = 'application/json', seed = 0) => decode(harness, text, contentType, seed);

const methods = fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'get', 'BREW', '', 'G\r\nET');
const paths = fc.oneof(
  fc.constantFrom('/v1/books', '/v1/books/1', "/v1/books('1')", '/v1/books?$top=2', '/batch', '/v1/batch', '/V1/Batch', '/v1/%62atch', '//evil/x', 'http://evil/v1/x', '/v1/../batch', '/v1/%2e%2e/x', '/v1/a\\b', '/v1/a\u0000', '/v1/x?token=t', ''),
  fc.string({ maxLength: 30 }),
);
const headers = fc.dictionary(
  fc.oneof(fc.constantFrom('If-Match', 'Content-Type', 'Authorization', 'X-HTTP-Method-Override', 'Host', 'Cookie'), fc.string({ maxLength: 8 })),
  fc.oneof(fc.constantFrom('"e"', '*', 'text/plain', 'application/json', 'DELETE', 'a\r\nb'), fc.string({ maxLength: 10 })),
  { maxKeys: 3 },
);
const request = fc.record(
  { method: methods, path: paths, headers: fc.oneof(headers, fc.jsonValue({ maxDepth: 1 })), body: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.string({ maxLength: 20 })) },
  { requiredKeys: ['method', 'path'] },
);
const batches = fc.record({ requests: fc.array(fc.oneof(request, fc.jsonValue({ maxDepth: 1 })), { maxLength: 8 }), stop_on_error: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 0 })) }, { requiredKeys: ['requests'] });

/** Valid batches to mutate. */
const VALID: unknown[] = [
  {
    requests: [
      { method: 'PUT', path: '/v1/books/42', headers: { 'If-Match': '"a1"' }, body: { title: 'x', tags: ['a'], n: { m: 1 } } },
      { method: 'GET', path: '/v1/books?$top=5&$filter=title eq \'x\'' },
      { method: 'POST', path: '/v1/books', body: { title: 'y' } },
      { method: 'PATCH', path: "/v1/books('42')", headers: { 'Content-Type': 'application/merge-patch+json' }, body: { title: null } },
      { method: 'PUT', path: '/v1/notes/1', headers: { 'Content-Type': 'text/plain' }, body: 'plain text' },
      { method: 'DELETE', path: '/v1/books/42' },
    ],
    stop_on_error: true,
  },
  { requests: [] },
];
const VALID_TEXT = VALID.map((d) => JSON.stringify(d));
const TOKENS = [...JSON_TOKENS, '"method":"DELETE",', '"requests":', '"stop_on_error":1', '"path":"/batch"'];

describe('ops decoder fuzzing', () => {
  it('random bytes and random JSON, under any content type, never throw anything but a client error', () => {
    fc.assert(
      fc.property(fc.oneof(randomText, fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v))), fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/problem+json', ''), (text, type) => {
        decodeOrRefuse(text, type);
      }),
      fuzzOptions,
    );
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 3 }), (value) => void decodeOrRefuse(JSON.stringify({ requests: value }))), fuzzOptions);
  }, FUZZ_TEST_TIMEOUT);

  it('batches built from random requests decode and encode, or are refused with a client error', () => {
    let accepted = 0;
    fc.assert(
      fc.property(batches, fc.nat(7), (doc, seed) => {
        if (!decodeOrRefuse(JSON.stringify(doc), 'application/json', seed)) accepted++;
      }),
      fuzzOptions,
    );
    // The generator reaches valid batches too, not only refusals.
    expect(accepted).toBeGreaterThan(0);
  }, FUZZ_TEST_TIMEOUT);

  it('mutations of valid batches, in their text and in their JSON, never throw anything but a client error', () => {
    for (const text of VALID_TEXT) expect(decodeOrRefuse(text)).toBe(false);
    fc.assert(fc.property(fc.constantFrom(...VALID_TEXT), textMutations(TOKENS), fc.nat(7), (text, ms, seed) => void decodeOrRefuse(mutateText(text, ms), 'application/json', seed)), fuzzOptions);
    fc.assert(fc.property(fc.constantFrom(...VALID), jsonMutation, fc.nat(7), (doc, m, seed) => void decodeOrRefuse(JSON.stringify(mutateJson(doc, m)), 'application/json', seed)), fuzzOptions);
  }, FUZZ_TEST_TIMEOUT);
});

describe('ops over HTTP, fuzzed', () => {
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
        const doc = JSON.stringify({
          requests: [
            { method: 'PUT', path: `/v1/${c}/1`, body: { a: 1 } },
            { method: 'PATCH', path: `/v1/${c}/1`, body: { b: 2 } },
            { method: 'GET', path: `/v1/${c}?$filter=a eq 1` },
          ],
        });
        const r = await s.call('POST', '/batch', { body: mutateText(doc, ms), headers: { 'content-type': 'application/json' } });
        expect(r.status, r.text).toBeLessThan(500);
        if (r.status !== 200) {
          expect(r.headers.get('content-type')).toBe('application/problem+json');
          expect(typeof r.json.code).toBe('string');
          expect((await s.call('GET', `/v1/${c}`)).json.items).toEqual([]);
        } else {
          for (const x of r.json.responses) expect(x.status, JSON.stringify(x)).toBeLessThan(500);
        }
      }),
      { numRuns: HTTP_FUZZ_RUNS },
    );
  }, FUZZ_TEST_TIMEOUT);
});
