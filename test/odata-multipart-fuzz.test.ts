import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { odataMultipartDialect } from '../src/dialects/odata-multipart/index.js';
import { batchPathsOf, DIALECTS } from '../src/dialects/index.js';
import type { BatchOutcome } from '../src/engine/types.js';
import { checkBackReferences } from '../src/engine/references.js';
import { validateBatch } from '../src/engine/validate.js';
import { ApiError } from '../src/errors.js';
import { batchPost, FIXTURES, loadFixture } from './fixtures/odata-multipart/fixtures.js';
import { multipartBatch, type Part, type PartRequest } from './fixtures/odata-multipart/multipart.js';
import { SQLITE_BACKEND } from './support/backends.js';
import { startTestServer, type TestServer } from './support/server.js';

/**
 * The decoder never throws anything but a client error (an ApiError below
 * 500), whatever the bytes: random bytes, random text, bodies built from
 * random parts, and mutations of valid bodies (the recorded client batches
 * among them). A few thousand cases by default; OMNIBUS_FUZZ_RUNS=<n> runs
 * n per property (OMNIBUS_FUZZ_MS bounds each property's time, default 8 s,
 * after which it stops with what it has run). A failure prints the seed
 * and the shrunk input: `fc.assert(..., { seed, path })` replays it.
 */
const RUNS = Number(process.env['OMNIBUS_FUZZ_RUNS'] ?? 1000);
const TIME_MS = Number(process.env['OMNIBUS_FUZZ_MS'] ?? 8000);
const options = { numRuns: RUNS, plugins: [fc.interruptAfterTimeLimit(TIME_MS)] };
/** A property stops itself after TIME_MS; the test's own timeout leaves room for that. */
const TEST_TIMEOUT = TIME_MS * 2 + 20_000;
const ORIGIN = 'http://127.0.0.1:3000';
const limits = { maxOperations: 100, batchPaths: batchPathsOf(DIALECTS) };

/** Decodes, validates and encodes like the server; true when refused, throws when the refusal is not a client error. */
function decodeOrRefuse(text: string, contentType: string, headers: Record<string, string> = {}): boolean {
  try {
    const batch = odataMultipartDialect.decode({ text, contentType, headers: new Map(Object.entries(headers)), baseUrl: ORIGIN }, { maxOperations: 100 });
    const prepared = validateBatch(batch, limits);
    checkBackReferences(prepared);
    expect(batch.operations.length).toBeLessThanOrEqual(100);
    // Every operation answered 200 and 500: encoding never fails either.
    const outcome: BatchOutcome = {
      results: batch.operations.map((op, i) => ({ index: op.index, id: op.id, status: i % 2 ? 500 : 200, headers: { 'content-type': 'application/json' }, body: { i }, ran: true })),
      halted: false,
    };
    const encoded = odataMultipartDialect.encode(batch, outcome, { baseUrl: ORIGIN });
    expect(encoded.headers['content-type']).toMatch(/^multipart\/mixed; boundary=batchresponse_/);
    return false;
  } catch (err) {
    if (!(err instanceof ApiError)) throw new Error(`decode threw ${String(err)} for ${JSON.stringify(text.slice(0, 300))}`);
    if (err.status >= 500) throw new Error(`decode refused with ${err.status} ${err.code} for ${JSON.stringify(text.slice(0, 300))}`);
    expect(odataMultipartDialect.encodeError(err, { text }).status).toBe(err.status);
    return true;
  }
}

const boundaries = fc.constantFrom('b', 'batch_1', 'x y', "a'()+_,-./:=?", 'changeset_1');
const contentTypes = fc.oneof(
  boundaries.map((b) => `multipart/mixed; boundary=${b.includes(' ') ? `"${b}"` : b}`),
  fc.constantFrom('multipart/mixed', 'multipart/mixed; boundary=', 'multipart/mixed; boundary="', 'multipart/mixed;;boundary=b;', 'Multipart/Mixed;BOUNDARY=b'),
  fc.string({ maxLength: 40 }).map((s) => `multipart/mixed; ${s}`),
);

const methods = fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'get', 'BREW', '');
const urls = fc.oneof(
  fc.constantFrom('/v1/books', '/v1/books/1', "books('1')", 'books?$top=2', '$1', '$2/x', '$1?$top=1', `${ORIGIN}/v1/books`, 'http://evil/v1/x', '/v1/$batch', '/v1/a/../b', '$batch', ''),
  fc.string({ maxLength: 30 }),
);
const headerMaps = fc.dictionary(
  fc.oneof(fc.constantFrom('If-Match', 'If-None-Match', 'Content-Type', 'Authorization', 'Content-ID', 'Prefer'), fc.string({ maxLength: 12 })),
  fc.oneof(fc.constantFrom('$1', '*', '"e"', 'application/json', 'text/plain'), fc.string({ maxLength: 20 })),
  { maxKeys: 4 },
);
const request: fc.Arbitrary<PartRequest> = fc.record(
  {
    method: methods,
    url: urls,
    headers: headerMaps,
    body: fc.oneof(fc.constant(undefined), fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 40 })),
    contentId: fc.oneof(fc.constant(undefined), fc.constantFrom('1', '2', 'a', ' '), fc.string({ maxLength: 6 })),
  },
  { requiredKeys: ['method', 'url'] },
);
const parts: fc.Arbitrary<Part[]> = fc.array(fc.oneof(request, fc.record({ changeset: fc.array(request, { maxLength: 4 }) })), { maxLength: 6 });

/** Valid bodies to mutate: random well-formed batches and every recorded client batch. */
const corpus = [
  ...FIXTURES.map((name) => {
    const post = batchPost(loadFixture(name), ORIGIN);
    return { text: post.body, contentType: post.headers['content-type']! };
  }),
  { ...multipartBatch([{ method: 'PUT', url: '/v1/f/1', body: { a: 1 } }, { changeset: [{ method: 'POST', url: 'f', body: {}, contentId: '1' }, { method: 'PATCH', url: '$1', headers: { 'If-Match': '$1' }, body: {} }] }]), text: '' },
].map((c) => ('body' in c ? { text: (c as { body: string }).body, contentType: c.contentType } : c));

const TOKENS_TO_INSERT = ['\r\n', '\n', '\r', '--', '\r\n\r\n', ':', ';', '"', '$1', ' HTTP/1.1', 'Content-Type: multipart/mixed; boundary=b\r\n\r\n', '\u0000', '\uFFFD', '\uD800'];

type Mutation = { kind: 'delete' | 'insert' | 'duplicate' | 'truncate' | 'flip' | 'delimiter'; at: number; len: number; token: string };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('delete', 'insert', 'duplicate', 'truncate', 'flip', 'delimiter'),
  at: fc.nat(),
  len: fc.nat({ max: 40 }),
  token: fc.oneof(fc.constantFrom(...TOKENS_TO_INSERT), fc.string({ maxLength: 8 })),
});

function mutate(text: string, boundary: string, ms: Mutation[]): string {
  let t = text;
  for (const m of ms) {
    const at = t.length === 0 ? 0 : m.at % (t.length + 1);
    switch (m.kind) {
      case 'delete':
        t = t.slice(0, at) + t.slice(at + m.len);
        break;
      case 'insert':
        t = t.slice(0, at) + m.token + t.slice(at);
        break;
      case 'duplicate':
        t = t.slice(0, at + m.len) + t.slice(at, at + m.len) + t.slice(at + m.len);
        break;
      case 'truncate':
        t = t.slice(0, at);
        break;
      case 'flip':
        t = t.replaceAll('\r\n', '\n');
        break;
      case 'delimiter':
        t = `${t.slice(0, at)}\r\n--${boundary}${m.len % 2 ? '--' : ''}\r\n${t.slice(at)}`;
        break;
    }
  }
  return t;
}

function boundaryOf(contentType: string): string {
  return /boundary="?([^";]+)"?/i.exec(contentType)?.[1] ?? 'b';
}

describe('odata-multipart decoder fuzzing', () => {
  it('random bytes never throw anything but a client error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), contentTypes, (bytes, contentType) => {
        decodeOrRefuse(Buffer.from(bytes).toString('utf8'), contentType);
      }),
      options,
    );
  }, TEST_TIMEOUT);

  it('random text around delimiters never throws anything but a client error', () => {
    const line = fc.oneof(fc.constantFrom('--b', '--b--', '', 'Content-Type: application/http', 'Content-Type: multipart/mixed; boundary=c', '--c', '--c--', 'GET /v1/x HTTP/1.1', 'POST $1 HTTP/1.1', 'Content-ID: 1'), fc.string({ maxLength: 20 }));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 30 }), fc.constantFrom('\r\n', '\n'), (lines, eol) => {
        decodeOrRefuse(lines.join(eol), 'multipart/mixed; boundary=b');
      }),
      options,
    );
  }, TEST_TIMEOUT);

  it('batches built from random parts decode or are refused with a client error', () => {
    fc.assert(
      fc.property(parts, fc.constantFrom('\r\n', '\n'), fc.constantFrom(undefined, 'odata.continue-on-error'), (ps, eol, prefer) => {
        const { body, contentType } = multipartBatch(ps, { eol });
        decodeOrRefuse(body, contentType, prefer ? { prefer } : {});
      }),
      options,
    );
  }, TEST_TIMEOUT);

  it('mutations of valid bodies (recorded client batches among them) never throw anything but a client error', () => {
    fc.assert(
      fc.property(fc.constantFrom(...corpus), fc.array(mutation, { minLength: 1, maxLength: 5 }), (base, ms) => {
        decodeOrRefuse(mutate(base.text, boundaryOf(base.contentType), ms), base.contentType);
      }),
      options,
    );
  }, TEST_TIMEOUT);

  it('the unmutated corpus decodes', () => {
    for (const base of corpus.filter((c) => !c.text.includes('changset_'))) expect(decodeOrRefuse(base.text, base.contentType)).toBe(false);
  });
});

describe('odata-multipart over HTTP, fuzzed', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({}, SQLITE_BACKEND);
  });
  afterAll(() => s.close());

  it('mutated batches never answer 5xx, and a refused one writes nothing', async () => {
    const runs = Math.max(40, Math.min(1000, Math.floor(RUNS / 20)));
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean(), async (ms, changeset) => {
        const c = `fz${++n}`;
        const writes: PartRequest[] = [
          { method: 'PUT', url: `/v1/${c}/1`, body: { a: 1 }, contentId: '1' },
          { method: 'PATCH', url: '$1', headers: { 'If-Match': '$1' }, body: { b: 2 }, contentId: '2' },
        ];
        const { body, contentType, boundary } = multipartBatch(changeset ? [{ changeset: writes }, { method: 'GET', url: `/v1/${c}/1` }] : writes);
        const r = await s.call('POST', '/v1/$batch', { body: mutate(body, boundary, ms), headers: { 'content-type': contentType, prefer: 'odata.continue-on-error' } });
        expect(r.status, r.text).toBeLessThan(500);
        if (r.status >= 400) expect((await s.call('GET', `/v1/${c}`)).json.items).toEqual([]);
      }),
      { numRuns: runs, plugins: [fc.interruptAfterTimeLimit(TIME_MS * 2)] },
    );
  }, TEST_TIMEOUT * 2);
});
