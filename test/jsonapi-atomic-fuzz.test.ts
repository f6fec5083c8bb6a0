import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchPathsOf, DIALECTS } from '../src/dialects/index.js';
import { jsonapiAtomicDialect } from '../src/dialects/jsonapi-atomic/index.js';
import { checkBackReferences, resolveReferences, type Finished } from '../src/engine/references.js';
import type { Batch, BatchOutcome } from '../src/engine/types.js';
import { validateBatch } from '../src/engine/validate.js';
import { ApiError } from '../src/errors.js';
import { SQLITE_BACKEND } from './support/backends.js';
import { startTestServer, type TestServer } from './support/server.js';

/**
 * The JSON:API atomic operations decoder never throws anything but a client
 * error (an ApiError below 500), whatever it is sent: random bytes, random
 * JSON, documents built from the format's own vocabulary, and mutations of
 * valid documents (the format's example and what Orbit.js sends). What it
 * accepts is a batch the engine can run: paths of the resource API or
 * references to earlier operations, body references that land on a member
 * of the body, one transaction. A few thousand cases by default;
 * OMNIBUS_FUZZ_RUNS=<n> runs n per property (OMNIBUS_FUZZ_MS bounds each
 * property's time, default 8 s). A failure prints the seed and the shrunk
 * input: `fc.assert(..., { seed, path })` replays it.
 */
const RUNS = Number(process.env['OMNIBUS_FUZZ_RUNS'] ?? 1000);
const TIME_MS = Number(process.env['OMNIBUS_FUZZ_MS'] ?? 8000);
const options = { numRuns: RUNS, plugins: [fc.interruptAfterTimeLimit(TIME_MS)] };
const ATOMIC = 'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic"';
const limits = { maxOperations: 100, batchPaths: batchPathsOf(DIALECTS) };

const created = (type: string): Finished => ({
  result: { index: 0, id: '0', status: 201, headers: { location: `/v1/${type}/k1`, etag: '"e"' }, body: { id: 'k1', name: 'x' }, ran: true },
  path: `/v1/${type}`,
});

/** Decodes, validates, resolves and encodes like the server; true when refused, throws when anything but a client error escapes. */
function decodeOrRefuse(text: string, contentType: string = ATOMIC): boolean {
  let batch: Batch;
  try {
    batch = jsonapiAtomicDialect.decode({ text, contentType, headers: new Map() }, { maxOperations: 100 });
    const prepared = validateBatch(batch, limits);
    checkBackReferences(prepared);
    expect(batch.operations.length).toBeLessThanOrEqual(100);
    for (const p of prepared) {
      expect(p.op.group).toBe('atomic');
      // Every reference resolves against an add's answer into a path of the resource API, and every body reference lands.
      const resolved = resolveReferences(p, () => created('people'));
      expect(resolved.target.path).toMatch(/^\/v1\/[^/]+(\/[^/]+)?$/);
    }
  } catch (err) {
    if (!(err instanceof ApiError)) throw new Error(`decode threw ${String(err)} for ${JSON.stringify(text.slice(0, 300))}`);
    if (err.status >= 500) throw new Error(`decode refused with ${err.status} ${err.code} for ${JSON.stringify(text.slice(0, 300))}`);
    const encoded = jsonapiAtomicDialect.encodeError(err, { text });
    expect(encoded.status).toBe(err.status);
    expect(JSON.parse(encoded.body).errors[0].code).toBe(err.code);
    return true;
  }
  // Encoding never fails either: every operation succeeded, then each one failed in turn.
  const ok: BatchOutcome = {
    results: batch.operations.map((op) => ({ index: op.index, id: op.id, status: op.method === 'POST' ? 201 : 200, headers: {}, body: { id: 'k', a: 1 }, ran: true })),
    halted: false,
  };
  expect(jsonapiAtomicDialect.encode(batch, ok, { baseUrl: '' }).status).toBe(200);
  batch.operations.forEach((_, i) => {
    const failed: BatchOutcome = { results: ok.results.map((r) => (r.index === i ? { ...r, status: 412, body: { code: 'precondition_failed', detail: 'x' } } : r)), halted: false };
    expect(jsonapiAtomicDialect.encode(batch, failed, { baseUrl: '' }).status).toBeGreaterThanOrEqual(400);
  });
  return false;
}

const types = fc.oneof(fc.constantFrom('people', 'articles', 'batch', 'a-b_c', '', 'x/y', '..', 'ä', '$batch'), fc.string({ maxLength: 8 }));
const ids = fc.oneof(fc.constantFrom('1', 'k2', '../../batch', '..', '.', '', '$batch', 'a/b', "x('1')", '%2e%2e', 'x'.repeat(257), '\ud800'), fc.string({ maxLength: 8 }));
const lids = fc.constantFrom('p1', 'p2', 'a1', '../../batch', '');
const junk = fc.jsonValue({ maxDepth: 2 });
const identifier = fc.record({ type: types, id: ids, lid: lids, meta: junk }, { requiredKeys: [] });
const linkage = fc.oneof(fc.constant(null), identifier, fc.array(identifier, { maxLength: 3 }), junk);
const relationships = fc.oneof(fc.dictionary(fc.constantFrom('author', 'tags', 'id', 'type', 'x'), fc.oneof(fc.record({ data: linkage, links: junk, meta: junk }, { requiredKeys: [] }), junk), { maxKeys: 3 }), junk);
const attributes = fc.oneof(fc.dictionary(fc.oneof(fc.constantFrom('id', 'relationships', 'links', 'name', '__proto__'), fc.string({ maxLength: 6 })), junk, { maxKeys: 4 }), junk);
const resource = fc.record({ type: types, id: ids, lid: lids, attributes, relationships, meta: junk, links: junk }, { requiredKeys: [] });
const operation = fc.record(
  {
    op: fc.oneof(fc.constantFrom('add', 'update', 'remove'), junk),
    ref: fc.oneof(fc.record({ type: types, id: ids, lid: lids, relationship: fc.constantFrom('author') }, { requiredKeys: [] }), junk),
    href: fc.oneof(fc.constantFrom('/v1/people', '/v1/people/1', '/v1/people/../batch', 'http://evil/v1/x/1', '/operations', "/v1/people('1')", '/v1/people/1?x=1'), fc.string({ maxLength: 12 })),
    data: fc.oneof(resource, fc.array(resource, { maxLength: 2 }), junk),
    meta: junk,
  },
  { requiredKeys: [] },
);
/** Operations that are well-formed, so that documents reach the accepting path by design, not only by rare chance. */
const wellFormed = fc.oneof(
  fc.record({
    op: fc.constant('add'),
    data: fc.record({ type: fc.constantFrom('people', 'articles'), attributes: fc.dictionary(fc.constantFrom('name', 'title'), fc.string({ maxLength: 6 }), { maxKeys: 2 }) }),
  }),
  fc.record({ op: fc.constant('remove'), ref: fc.record({ type: fc.constantFrom('people', 'articles'), id: fc.constantFrom('1', 'k2') }) }),
);
const documents = fc.oneof(
  fc.record(
    { 'atomic:operations': fc.oneof(fc.array(fc.oneof(operation, wellFormed), { maxLength: 6 }), junk), data: junk, included: junk, meta: junk, jsonapi: junk },
    { requiredKeys: [] },
  ),
  fc.record({ 'atomic:operations': fc.array(wellFormed, { minLength: 1, maxLength: 4 }) }),
);

/** Valid documents to mutate: the format's own example and what Orbit.js sends. */
const VALID: unknown[] = [
  {
    'atomic:operations': [
      { op: 'add', data: { type: 'people', lid: 'p1', attributes: { name: 'dgeb' } } },
      { op: 'add', data: { type: 'articles', attributes: { title: 'x' }, relationships: { author: { data: { type: 'people', lid: 'p1' } } } } },
      { op: 'update', ref: { type: 'people', lid: 'p1' }, data: { type: 'people', lid: 'p1', attributes: { name: 'y' } } },
      { op: 'remove', ref: { type: 'articles', id: '13' } },
    ],
  },
  {
    'atomic:operations': [
      { op: 'add', ref: { type: 'person' }, data: { type: 'person', attributes: { name: 'Dan', birthDate: '1990-1-2' } } },
      { op: 'add', ref: { type: 'article', id: 'a1' }, data: { type: 'article', id: 'a1', attributes: { title: 'x' }, relationships: { tags: { data: [{ type: 'tag', id: 't1' }] } } } },
      { op: 'update', ref: { type: 'article', id: 'a1' }, data: { type: 'article', id: 'a1', attributes: { title: 'y' } } },
      { op: 'remove', ref: { type: 'article', id: 'a1' } },
    ],
  },
];

/** A JSON-level mutation: a member removed, replaced by random JSON, or added, somewhere in the document. */
function mutate(doc: unknown, path: number[], replacement: unknown, action: number): unknown {
  if (doc === null || typeof doc !== 'object' || path.length === 0) return action === 0 ? replacement : doc;
  const copy: Record<string, unknown> | unknown[] = Array.isArray(doc) ? [...doc] : { ...(doc as Record<string, unknown>) };
  const keys = Object.keys(copy);
  if (keys.length === 0) return copy;
  const key = keys[path[0]! % keys.length]!;
  const rec = copy as Record<string, unknown>;
  if (path.length === 1 && action === 1) delete rec[key];
  else if (path.length === 1 && action === 2) rec[`${key}x`] = replacement;
  else rec[key] = mutate(rec[key], path.slice(1), replacement, path.length === 1 ? 0 : action);
  return copy;
}

describe('jsonapi-atomic decoder fuzzing', () => {
  it('random bytes and random text never escape as anything but a client error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        decodeOrRefuse(Buffer.from(bytes).toString('utf8'));
        decodeOrRefuse(Buffer.from(bytes).toString('latin1'));
      }),
      options,
    );
    fc.assert(fc.property(fc.string({ maxLength: 200 }), fc.string({ maxLength: 80 }), (text, contentType) => void decodeOrRefuse(text, contentType)), options);
  });

  it('documents built from the format\'s vocabulary decode to a runnable batch or a client error', () => {
    let accepted = 0;
    let runs = 0;
    fc.assert(
      fc.property(documents, (doc) => {
        runs++;
        if (!decodeOrRefuse(JSON.stringify(doc))) accepted++;
      }),
      options,
    );
    // The generator reaches valid documents too (not only refusals), given enough cases: on a loaded
    // machine the time limit may stop the run after a few dozen, so judge only a run of hundreds.
    if (runs >= 300) expect(accepted).toBeGreaterThan(0);
    expect(runs).toBeGreaterThan(0);
  });

  it('mutations of valid documents, in their JSON and in their text, never escape as anything but a client error', () => {
    for (const doc of VALID) expect(decodeOrRefuse(JSON.stringify(doc))).toBe(false);
    fc.assert(
      fc.property(fc.constantFrom(...VALID), fc.array(fc.nat(), { minLength: 1, maxLength: 6 }), junk, fc.nat(2), (doc, path, replacement, action) => {
        decodeOrRefuse(JSON.stringify(mutate(doc, path, replacement, action)));
      }),
      options,
    );
    fc.assert(
      fc.property(fc.constantFrom(...VALID.map((d) => JSON.stringify(d))), fc.nat(), fc.nat(8), fc.string({ maxLength: 4 }), (text, at, cut, insert) => {
        const i = at % (text.length + 1);
        decodeOrRefuse(text.slice(0, i) + insert + text.slice(i + cut));
      }),
      options,
    );
  });
});

describe('jsonapi-atomic fuzzing over HTTP', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({}, SQLITE_BACKEND);
  });
  afterAll(() => s.close());

  it('random documents and mutations never answer 5xx, and a refused or failed document writes nothing', async () => {
    const sample = [
      ...fc.sample(documents, { numRuns: 60, seed: 19 }),
      ...fc.sample(fc.tuple(fc.constantFrom(...VALID), fc.array(fc.nat(), { minLength: 1, maxLength: 5 }), junk, fc.nat(2)), { numRuns: 60, seed: 20 }).map(([d, p, r, a]) => mutate(d, p, r, a)),
    ];
    // The tenant's record count, with an update of one record in it, tells whether anything was written.
    await s.call('PUT', '/v1/people/13', { json: { v: 0 } });
    const state = async () => [await s.services.store.countRecords('acme'), (await s.call('GET', '/v1/people/13')).headers.get('etag')];
    let before = await state();
    for (const doc of sample) {
      const r = await s.call('POST', '/operations', { body: JSON.stringify(doc), headers: { 'content-type': ATOMIC } });
      expect(r.status, `${JSON.stringify(doc)} → ${r.text}`).toBeLessThan(500);
      expect(r.headers.get('content-type')).toBe(ATOMIC);
      if (r.status !== 200) {
        expect(Object.keys(r.json)).toEqual(['errors']);
        expect(await state()).toEqual(before);
      } else {
        before = await state();
        expect(r.json['atomic:results']).toHaveLength((doc as { 'atomic:operations': unknown[] })['atomic:operations'].length);
      }
    }
  });
});
