import fc from 'fast-check';
import { expect } from 'vitest';
import { batchPathsOf, DIALECTS, type Dialect } from '../../src/dialects/index.js';
import type { EncodedResponse } from '../../src/dialects/types.js';
import { checkBackReferences } from '../../src/engine/references.js';
import type { Batch, BatchOutcome, OperationResult } from '../../src/engine/types.js';
import { validateBatch, type PreparedOperation } from '../../src/engine/validate.js';
import { ApiError } from '../../src/errors.js';

/**
 * What the decoder fuzz tests share: how many cases they run, text and JSON
 * mutations of valid documents, and the harness that decodes like the server
 * (decode, validate, encode an answer) and checks that nothing but a client
 * error in the dialect's own form ever comes out.
 *
 * OMNIBUS_FUZZ_RUNS=<n> runs n cases per property (default 1000; the HTTP
 * samples run a twentieth of it, at least 40); OMNIBUS_FUZZ_MS bounds each
 * property's time (default 4 s here), after which it stops with what it has
 * run. A failure prints the seed and the shrunk input: `fc.assert(..., { seed, path })` replays it.
 */
export const FUZZ_RUNS = Number(process.env['OMNIBUS_FUZZ_RUNS'] ?? 1000);
export const FUZZ_MS = Number(process.env['OMNIBUS_FUZZ_MS'] ?? 4000);
export const fuzzOptions = { numRuns: FUZZ_RUNS, plugins: [fc.interruptAfterTimeLimit(FUZZ_MS)] };
/** A property stops itself after FUZZ_MS; a test's own timeout leaves room for that. */
export const FUZZ_TEST_TIMEOUT = FUZZ_MS * 4 + 20_000;
export const HTTP_FUZZ_RUNS = Math.max(40, Math.min(1000, Math.floor(FUZZ_RUNS / 20)));

export const ORIGIN = 'http://127.0.0.1:3000';

/** Random bytes read as UTF-8 (invalid sequences become U+FFFD, as the server reads a body). */
export const randomText = fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b).toString('utf8'));

export type TextMutation = { kind: 'delete' | 'insert' | 'duplicate' | 'truncate'; at: number; len: number; token: string };

/** One to five edits of a document's text: a cut, an inserted token (of the format's own or random), a repeated span, a truncation. */
export function textMutations(tokens: readonly string[], maxLength = 5): fc.Arbitrary<TextMutation[]> {
  const mutation: fc.Arbitrary<TextMutation> = fc.record({
    kind: fc.constantFrom('delete', 'insert', 'duplicate', 'truncate'),
    at: fc.nat(),
    len: fc.nat({ max: 30 }),
    token: fc.oneof(fc.constantFrom(...tokens), fc.string({ maxLength: 6 })),
  });
  return fc.array(mutation, { minLength: 1, maxLength });
}

export function mutateText(text: string, ms: readonly TextMutation[]): string {
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

/** Tokens worth inserting into any JSON document. */
export const JSON_TOKENS = ['"', '{', '}', '[', ']', ',', ':', 'null', 'true', '0', '-1', '1e999', '\\', '\\u0000', '\\ud800', '"x":1,', '[[[[[[[[', '"/v1/batch"', '"/../"'];

export type JsonMutation = { path: number[]; replacement: unknown; action: number };

/** A member or element somewhere in a document replaced by random JSON (action 0), removed (1), or a sibling added (2). */
export const jsonMutation: fc.Arbitrary<JsonMutation> = fc.record({
  path: fc.array(fc.nat(), { minLength: 1, maxLength: 6 }),
  replacement: fc.jsonValue({ maxDepth: 2 }),
  action: fc.nat(2),
});

export function mutateJson(doc: unknown, m: JsonMutation): unknown {
  return mutateAt(doc, m.path, m.replacement, m.action);
}

function mutateAt(doc: unknown, path: number[], replacement: unknown, action: number): unknown {
  if (doc === null || typeof doc !== 'object' || path.length === 0) return action === 0 ? replacement : doc;
  const copy: Record<string, unknown> | unknown[] = Array.isArray(doc) ? [...doc] : { ...(doc as Record<string, unknown>) };
  const keys = Object.keys(copy);
  if (keys.length === 0) return copy;
  const key = keys[path[0]! % keys.length]!;
  const rec = copy as Record<string, unknown>;
  if (path.length === 1 && action === 1) delete rec[key];
  else if (path.length === 1 && action === 2) rec[`${key}x`] = replacement;
  else rec[key] = mutateAt(rec[key], path.slice(1), replacement, path.length === 1 ? 0 : action);
  return copy;
}

/** How a dialect's decoder is fed and how its answers must look. */
export interface DecoderHarness {
  dialect: Dialect;
  maxOperations: number;
  /** The batch request's headers (lower-case names). */
  headers?: Record<string, string>;
  /** Checks a refusal: the dialect's own error form, carrying the error's code. */
  errorForm(encoded: EncodedResponse, error: ApiError): void;
  /** Checks the answer to a batch that decoded and ran. */
  answerForm(encoded: EncodedResponse, batch: Batch): void;
  /** What else the server does before running a validated batch (resolving references); may refuse with a client error. */
  beforeRun?(prepared: PreparedOperation[]): void;
}

const VALIDATION_LIMITS = { batchPaths: batchPathsOf(DIALECTS) };

/** Answers for the operations of a decoded batch, cycling through successes and failures of every kind. */
const ANSWERS: Omit<OperationResult, 'index' | 'id'>[] = [
  { status: 200, headers: { 'content-type': 'application/json', etag: '"e1"' }, body: { id: 'k1', attributes: [{ d: 'title', vt: 16, value: 'x' }] }, ran: true },
  { status: 201, headers: { 'content-type': 'application/json', location: '/v1/x/k2', etag: '"e2"' }, body: { id: 'k2' }, ran: true },
  { status: 404, headers: { 'content-type': 'application/problem+json' }, body: { code: 'not_found', detail: 'No record.' }, ran: true },
  { status: 204, headers: {}, ran: true },
  { status: 424, headers: { 'content-type': 'application/problem+json' }, body: { code: 'transaction_rolled_back', detail: 'Rolled back.' }, ran: false },
  { status: 500, headers: { 'content-type': 'text/plain' }, text: 'oops', ran: true },
  { status: 200, headers: { 'content-type': 'application/json' }, body: { items: [{ id: 'a' }, null, 'odd'], next: null }, ran: true },
];

/**
 * Decodes, validates and encodes like the server; true when refused. Throws
 * (failing the property) when anything but a client error (an ApiError below
 * 500) escapes, or when an answer or a refusal is not in the dialect's form.
 */
export function decodeOrRefuse(h: DecoderHarness, text: string, contentType: string | undefined, seed = 0): boolean {
  let batch: Batch;
  try {
    batch = h.dialect.decode({ text, contentType, headers: new Map(Object.entries(h.headers ?? {})), baseUrl: ORIGIN }, { maxOperations: h.maxOperations });
    const prepared = validateBatch(batch, { ...VALIDATION_LIMITS, maxOperations: h.maxOperations });
    checkBackReferences(prepared);
    h.beforeRun?.(prepared);
  } catch (err) {
    if (!(err instanceof ApiError)) throw new Error(`${h.dialect.name}: decoding threw ${String(err)} for ${JSON.stringify(text.slice(0, 300))}`);
    if (err.status >= 500) throw new Error(`${h.dialect.name}: refused with ${err.status} ${err.code} for ${JSON.stringify(text.slice(0, 300))}`);
    const encoded = h.dialect.encodeError(err, { text });
    expect(encoded.status).toBe(err.status);
    h.errorForm(encoded, err);
    return true;
  }
  expect(batch.operations.length).toBeLessThanOrEqual(h.maxOperations);
  expect(batch.operations.map((o) => o.index)).toEqual(batch.operations.map((_, i) => i));
  const outcome: BatchOutcome = {
    results: batch.operations.map((op, i) => ({ index: op.index, id: op.id, ...ANSWERS[(i + seed) % ANSWERS.length]! })),
    halted: false,
  };
  h.answerForm(h.dialect.encode(batch, outcome, { baseUrl: ORIGIN }), batch);
  return false;
}

/** The refusal form of the problem+json dialects (ops, requests, parts). */
export function problemForm(encoded: EncodedResponse, error: ApiError): void {
  expect(encoded.headers['content-type']).toBe('application/problem+json');
  const problem = JSON.parse(encoded.body);
  expect(problem).toMatchObject({ status: error.status, code: error.code });
  expect(typeof problem.detail).toBe('string');
}
