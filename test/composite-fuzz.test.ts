import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compositeDialect } from '../src/dialects/composite/index.js';
import { batchPathsOf, DIALECTS } from '../src/dialects/index.js';
import { checkBackReferences, resolveReferences, type Finished } from '../src/engine/references.js';
import type { BatchOutcome, OperationResult } from '../src/engine/types.js';
import { validateBatch } from '../src/engine/validate.js';
import { ApiError } from '../src/errors.js';
import { SQLITE_BACKEND } from './support/backends.js';
import { startTestServer, type TestServer } from './support/server.js';

/**
 * The Composite decoder never throws anything but a client error (an
 * ApiError below 500), whatever it is given: random bytes, random JSON,
 * requests built from random subrequests, and mutations of valid requests.
 * What it accepts validates, resolves against random earlier answers and
 * encodes without a 5xx. A few thousand cases by default;
 * OMNIBUS_FUZZ_RUNS=<n> runs n per property (OMNIBUS_FUZZ_MS bounds each
 * property's time, default 8 s). A failure prints the seed and the shrunk
 * input: `fc.assert(..., { seed, path })` replays it.
 */
const RUNS = Number(process.env['OMNIBUS_FUZZ_RUNS'] ?? 1000);
const TIME_MS = Number(process.env['OMNIBUS_FUZZ_MS'] ?? 8000);
const options = { numRuns: RUNS, plugins: [fc.interruptAfterTimeLimit(TIME_MS)] };
const TEST_TIMEOUT = TIME_MS * 2 + 20_000;
const limits = { maxOperations: 25, batchPaths: batchPathsOf(DIALECTS) };

/** Decodes, validates, resolves and encodes like the server; true when refused, throws when the refusal is no client error. */
function decodeOrRefuse(text: string, contentType = 'application/json', answers: unknown[] = []): boolean {
  try {
    const batch = compositeDialect.decode({ text, contentType, headers: new Map() }, { maxOperations: 25, maxQueries: 5 });
    const prepared = validateBatch(batch, limits);
    checkBackReferences(prepared);
    expect(batch.operations.length).toBeLessThanOrEqual(25);
    // Each operation answered with one of the random bodies (or failed), as earlier answers do for later references.
    const results: OperationResult[] = [];
    const finished = new Map<string, Finished>();
    for (const p of prepared) {
      const body = answers.length ? answers[p.op.index % answers.length] : { id: 'k1' };
      let result: OperationResult;
      try {
        const resolved = resolveReferences(p, (id) => finished.get(id));
        result = { index: p.op.index, id: p.op.id, status: p.op.index % 3 === 2 ? 404 : 201, headers: { 'content-type': 'application/json', location: '/v1/x/k1' }, body, ran: true };
        finished.set(p.op.id!, { result, path: resolved.target.path });
      } catch (err) {
        if (!(err instanceof ApiError) || err.status >= 500) throw err;
        result = { index: p.op.index, id: p.op.id, status: err.status, headers: { 'content-type': 'application/problem+json' }, body: err.toProblem(), ran: false };
      }
      results.push(result);
    }
    const outcome: BatchOutcome = { results, halted: false };
    const encoded = compositeDialect.encode(batch, outcome, { baseUrl: 'http://127.0.0.1:3000' });
    expect(encoded.status).toBe(200);
    expect(JSON.parse(encoded.body).compositeResponse).toHaveLength(batch.operations.length);
    return false;
  } catch (err) {
    if (!(err instanceof ApiError)) throw new Error(`decode threw ${String(err)} for ${JSON.stringify(text.slice(0, 300))}`);
    if (err.status >= 500) throw new Error(`decode refused with ${err.status} ${err.code} for ${JSON.stringify(text.slice(0, 300))}`);
    const encoded = compositeDialect.encodeError(err, { text });
    expect(encoded.status).toBe(err.status);
    expect(JSON.parse(encoded.body)[0].errorCode).toBe(err.status === 401 ? 'INVALID_SESSION_ID' : err.code.toUpperCase());
    return true;
  }
}

const refIds = fc.constantFrom('a', 'b', 'c', 'A', 'acct', 'x_1', '_a', 'a-b', '');
const references = fc.oneof(
  fc.tuple(refIds, fc.constantFrom('.id', '.Name', '.items[0].id', '[0]', '.a.b.c', '..x', '.', '[x]', '', '.__proto__', '.length')).map(([r, p]) => `@{${r}${p}}`),
  fc.constantFrom('@{', '@{a', '@{a.id', '}', '@{}', '@{ a.id }', '@@{a.id}'),
);
const withReferences = fc.array(fc.oneof(references, fc.string({ maxLength: 6 }), fc.constantFrom('/', '?', '&', '=', "'", '%27', '%', '..', '(', ')')), { maxLength: 5 }).map((xs) => xs.join(''));
const urls = fc.oneof(
  fc.constantFrom(
    '/v1/books',
    '/v1/books/1',
    "/v1/books('1')",
    '/services/data/v59.0/sobjects/books',
    '/services/data/v59.0/sobjects/books/1?fields=a',
    '/services/data/v59.0/query?q=x',
    '/services/data/v59.0/composite',
    '/services/data/v59.0/composite/tree/x',
    '/services/data',
    '/batch',
    '/v1/$batch',
    'http://evil/v1/x',
    '/v1/a/../b',
    '',
  ),
  withReferences.map((t) => `/v1/books/${t}`),
  withReferences.map((t) => `/services/data/v59.0/sobjects/books/${t}`),
  withReferences.map((t) => `/v1/books?$filter=id eq '${t}'&x=${t}`),
  withReferences,
  fc.string({ maxLength: 30 }),
);
const jsonWithReferences: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, withReferences, fc.jsonValue({ maxDepth: 1 }), fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(fc.oneof(fc.string({ maxLength: 5 }), references), tie('value'), { maxKeys: 3 })),
})).value;
const subrequest = fc.record(
  {
    method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'get', 'BREW', ''),
    url: urls,
    referenceId: fc.oneof(refIds, fc.string({ maxLength: 4 })),
    body: fc.oneof(fc.constant(undefined), fc.constant(null), jsonWithReferences),
    httpHeaders: fc.dictionary(
      fc.oneof(fc.constantFrom('If-Match', 'Accept', 'authorization', 'Content-Type', 'X-API-Key', 'Cookie'), fc.string({ maxLength: 8 })),
      fc.oneof(fc.constantFrom('"e"', '*', '@{a.id}', 'a\r\nb'), fc.string({ maxLength: 10 })),
      { maxKeys: 3 },
    ),
  },
  { requiredKeys: ['method', 'url', 'referenceId'] },
);
const documents = fc.record({ allOrNone: fc.oneof(fc.boolean(), fc.constant(undefined), fc.constant('yes')), compositeRequest: fc.array(subrequest, { maxLength: 8 }) }, { requiredKeys: ['compositeRequest'] });
const answers = fc.array(fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.record({ id: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('../../batch', "x('1')", '\ud800', 'a&b=c', '')), items: fc.array(fc.record({ id: fc.string() }), { maxLength: 2 }) })), { maxLength: 4 });

/** Valid requests to mutate. */
const corpus = [
  {
    allOrNone: true,
    compositeRequest: [
      { method: 'POST', url: '/services/data/v59.0/sobjects/accounts', referenceId: 'acct', body: { Name: 'P' } },
      { method: 'PATCH', url: '/v1/accounts/@{acct.id}', referenceId: 'upd', httpHeaders: { 'If-Match': '"e1"' }, body: { Label: 'of @{acct.Name}', deep: [{ v: '@{acct.id}' }] } },
      { method: 'GET', url: "/v1/accounts?$filter=Name eq '@{upd.Name}'", referenceId: 'list' },
      { method: 'GET', url: '/services/data/v59.0/sobjects/accounts/@{list.items[0].id}?fields=@{acct.id}', referenceId: 'one' },
    ],
  },
  { compositeRequest: [{ method: 'DELETE', url: '/v1/x/1', referenceId: 'd' }, { method: 'PUT', url: '/v1/x/@{d.id}', referenceId: 'p', body: [1, '@{d.x}'] }] },
].map((d) => JSON.stringify(d));

const TOKENS_TO_INSERT = ['@{', '}', '@{acct.id}', '"', '[', ']', '{', ',', ':', '.', '\\', '\\u0000', '\\ud800', '/..', '?', '&', '%', "'", 'null', '"compositeRequest":'];
type Mutation = { kind: 'delete' | 'insert' | 'duplicate' | 'truncate'; at: number; len: number; token: string };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('delete', 'insert', 'duplicate', 'truncate'),
  at: fc.nat(),
  len: fc.nat({ max: 30 }),
  token: fc.oneof(fc.constantFrom(...TOKENS_TO_INSERT), fc.string({ maxLength: 6 })),
});

function mutate(text: string, ms: Mutation[]): string {
  let t = text;
  for (const m of ms) {
    const at = t.length === 0 ? 0 : m.at % (t.length + 1);
    if (m.kind === 'delete') t = t.slice(0, at) + t.slice(at + m.len);
    else if (m.kind === 'insert') t = t.slice(0, at) + m.token + t.slice(at);
    else if (m.kind === 'duplicate') t = t.slice(0, at + m.len) + t.slice(at, at + m.len) + t.slice(at + m.len);
    else t = t.slice(0, at);
  }
  return t;
}

describe('composite decoder fuzzing', () => {
  it('random bytes, under any content type, never throw anything but a client error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', ''), (bytes, type) => {
        decodeOrRefuse(Buffer.from(bytes).toString('utf8'), type);
      }),
      options,
    );
  }, TEST_TIMEOUT);

  it('random JSON never throws anything but a client error', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        decodeOrRefuse(JSON.stringify(value));
        decodeOrRefuse(JSON.stringify({ compositeRequest: value }));
      }),
      options,
    );
  }, TEST_TIMEOUT);

  it('requests built from random subrequests, references and answers decode, resolve and encode, or are refused with a client error', () => {
    fc.assert(
      fc.property(documents, answers, (doc, bodies) => {
        decodeOrRefuse(JSON.stringify(doc), 'application/json', bodies);
      }),
      options,
    );
  }, TEST_TIMEOUT);

  it('mutations of valid requests never throw anything but a client error', () => {
    fc.assert(
      fc.property(fc.constantFrom(...corpus), fc.array(mutation, { minLength: 1, maxLength: 5 }), answers, (base, ms, bodies) => {
        decodeOrRefuse(mutate(base, ms), 'application/json', bodies);
      }),
      options,
    );
  }, TEST_TIMEOUT);

  it('the unmutated corpus decodes, and a body nested 100,000 levels deep is refused or decoded in bounded time', () => {
    for (const base of corpus) expect(decodeOrRefuse(base)).toBe(false);
    const deep = `${'['.repeat(100_000)}"@{a.id}"${']'.repeat(100_000)}`;
    const started = performance.now();
    decodeOrRefuse(`{"compositeRequest":[{"method":"GET","url":"/v1/a/1","referenceId":"a"},{"method":"PUT","url":"/v1/a/2","referenceId":"b","body":${deep}}]}`);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});

describe('composite over HTTP, fuzzed', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({}, SQLITE_BACKEND);
  });
  afterAll(() => s.close());

  it('mutated requests never answer 5xx, and a refused one writes nothing', async () => {
    const runs = Math.max(40, Math.min(1000, Math.floor(RUNS / 20)));
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean(), async (ms, allOrNone) => {
        const c = `fz${++n}`;
        const doc = JSON.stringify({
          allOrNone,
          compositeRequest: [
            { method: 'POST', url: `/services/data/v59.0/sobjects/${c}`, referenceId: 'acct', body: { Name: "O'P" } },
            { method: 'PATCH', url: `/v1/${c}/@{acct.id}`, referenceId: 'upd', body: { Label: 'of @{acct.Name}' } },
            { method: 'GET', url: `/v1/${c}?$filter=Name eq '@{acct.Name}'`, referenceId: 'list' },
          ],
        });
        const r = await s.call('POST', '/services/data/v59.0/composite', { body: mutate(doc, ms), headers: { 'content-type': 'application/json' } });
        expect(r.status, r.text).toBeLessThan(500);
        if (r.status >= 400) expect((await s.call('GET', `/v1/${c}`)).json.items).toEqual([]);
        else for (const x of r.json.compositeResponse) expect(x.httpStatusCode, JSON.stringify(x)).toBeLessThan(500);
      }),
      { numRuns: runs, plugins: [fc.interruptAfterTimeLimit(TIME_MS * 2)] },
    );
  }, TEST_TIMEOUT * 2);
});
