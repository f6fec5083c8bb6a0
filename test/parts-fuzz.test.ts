import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partsDialect } from '../src/dialects/index.js';
import { ADF_BATCH_MEDIA_TYPE } from '../src/dialects/parts.js';
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
 * The parts decoder (`POST /batch/parts`, and `POST /v1` as Oracle ADF's
 * batch type) never lets anything but a client error out: random bytes,
 * random JSON, batches of random parts (operations, conditions, payloads)
 * and mutations of valid batches. What it accepts is one transaction group
 * and encodes whether it succeeded or failed; refusals are problem+json with
 * the error's code. Over HTTP a sample of mutated batches never answers 5xx,
 * and a batch refused or failed (rolled back) wrote nothing. Case counts:
 * test/support/fuzz.ts (OMNIBUS_FUZZ_RUNS).
 */
const harness: DecoderHarness = {
  dialect: partsDialect,
  maxOperations: 100,
  errorForm: problemForm,
  answerForm(encoded, batch) {
    for (const op of batch.operations) expect(op.group).toBe('parts');
    const doc = JSON.parse(encoded.body);
    // Some answers fail: then only the failing part is listed, with its status.
    if (encoded.status === 200) expect(doc.parts).toHaveLength(batch.operations.length);
    else expect(doc.parts).toHaveLength(1);
  },
};
const decodeOrRefuse = (text: string, contentType = 'application/json', seed = 0) => decode(harness, text, contentType, seed);

const condition = fc.oneof(fc.constantFrom('"e1"', 'e1', '*', 'W/"e"', '', 'a\r\nb'), fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }), fc.constant(null), fc.jsonValue({ maxDepth: 1 }));
const part = fc.record(
  {
    id: fc.oneof(fc.constantFrom('p1', 'p2', ''), fc.string({ maxLength: 4 }), fc.integer()),
    path: fc.oneof(fc.constantFrom('/v1/books', '/v1/books/1', "/v1/books('1')", '/batch/parts', '/v1', '/v1/', '//x', '/v1/a/../b', ''), fc.string({ maxLength: 20 })),
    operation: fc.oneof(fc.constantFrom('get', 'create', 'update', 'replace', 'delete', 'GET', 'upsert', ''), fc.string({ maxLength: 6 })),
    payload: fc.jsonValue({ maxDepth: 3 }),
    ifMatch: condition,
    ifNoneMatch: condition,
  },
  { requiredKeys: ['id', 'path', 'operation'] },
);
const batches = fc.record({ parts: fc.array(fc.oneof(part, fc.jsonValue({ maxDepth: 1 })), { maxLength: 8 }), extra: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: ['parts'] });
const contentTypes = fc.constantFrom('application/json', ADF_BATCH_MEDIA_TYPE, `${ADF_BATCH_MEDIA_TYPE}; charset=utf-8`, 'application/vnd.oracle.adf.resourceitem+json', 'text/plain', '');

const VALID: unknown[] = [
  {
    parts: [
      { id: 'p1', path: '/v1/books/42', operation: 'replace', payload: { title: 'x' }, ifNoneMatch: null },
      { id: 'p2', path: '/v1/books/42', operation: 'update', payload: { title: 'y' }, ifMatch: ['"a1"', '"a2"'] },
      { id: 'p3', path: '/v1/books', operation: 'create', payload: { title: 'z', n: [1, { m: null }] } },
      { id: 'p4', path: "/v1/books('42')", operation: 'get' },
      { id: 'p5', path: '/v1/books/42', operation: 'delete', ifMatch: '"a3"' },
    ],
  },
];
const VALID_TEXT = VALID.map((d) => JSON.stringify(d));
const TOKENS = [...JSON_TOKENS, '"id":"p1",', '"operation":"delete",', '"ifMatch":null,', '"payload":', '"parts":'];

describe('parts decoder fuzzing', () => {
  it('random bytes and random JSON, under any content type, never throw anything but a client error', () => {
    fc.assert(
      fc.property(fc.oneof(randomText, fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v))), contentTypes, (text, type) => {
        decodeOrRefuse(text, type);
      }),
      fuzzOptions,
    );
  }, FUZZ_TEST_TIMEOUT);

  it('batches of random parts decode and encode, or are refused with a client error', () => {
    let accepted = 0;
    fc.assert(
      fc.property(batches, contentTypes, fc.nat(7), (doc, type, seed) => {
        if (!decodeOrRefuse(JSON.stringify(doc), type, seed)) accepted++;
      }),
      fuzzOptions,
    );
    expect(accepted).toBeGreaterThan(0);
  }, FUZZ_TEST_TIMEOUT);

  it('mutations of valid batches, in their text and in their JSON, never throw anything but a client error', () => {
    for (const text of VALID_TEXT) expect(decodeOrRefuse(text)).toBe(false);
    fc.assert(fc.property(fc.constantFrom(...VALID_TEXT), textMutations(TOKENS), fc.nat(7), (text, ms, seed) => void decodeOrRefuse(mutateText(text, ms), ADF_BATCH_MEDIA_TYPE, seed)), fuzzOptions);
    fc.assert(fc.property(fc.constantFrom(...VALID), jsonMutation, fc.nat(7), (doc, m, seed) => void decodeOrRefuse(JSON.stringify(mutateJson(doc, m)), 'application/json', seed)), fuzzOptions);
  }, FUZZ_TEST_TIMEOUT);
});

describe('parts over HTTP, fuzzed', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({}, SQLITE_BACKEND);
  });
  afterAll(() => s.close());

  it('mutated batches never answer 5xx, and one refused or failed wrote nothing', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(textMutations(TOKENS, 4), fc.boolean(), async (ms, adf) => {
        const c = `fz${++n}`;
        const doc = JSON.stringify({
          parts: [
            { id: 'p1', path: `/v1/${c}/1`, operation: 'replace', payload: { a: 1 } },
            { id: 'p2', path: `/v1/${c}/1`, operation: 'update', payload: { b: 2 } },
            { id: 'p3', path: `/v1/${c}`, operation: 'create', payload: { c: 3 } },
          ],
        });
        const [path, type] = adf ? ['/v1', ADF_BATCH_MEDIA_TYPE] : ['/batch/parts', 'application/json'];
        const r = await s.call('POST', path, { body: mutateText(doc, ms), headers: { 'content-type': type } });
        expect(r.status, r.text).toBeLessThan(500);
        // All or none: a refused or failed batch leaves nothing behind.
        if (r.status >= 400) expect((await s.call('GET', `/v1/${c}`)).json.items).toEqual([]);
        if (r.status >= 400 && !r.json?.parts) expect(r.headers.get('content-type')).toBe('application/problem+json');
      }),
      { numRuns: HTTP_FUZZ_RUNS },
    );
  }, FUZZ_TEST_TIMEOUT);
});
