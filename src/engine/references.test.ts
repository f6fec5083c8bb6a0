import { describe, expect, it } from 'vitest';
import { entityEtag, entityUrl, resolveReferences, type Finished } from './references.js';
import type { Operation, OperationResult } from './types.js';
import { validateBatch } from './validate.js';

const BATCH_PATHS = new Set(['/batch', '/v1/$batch']);

function prepared(op: Partial<Operation>) {
  const operation: Operation = { index: 1, id: 'b', method: 'GET', path: '/v1/x', headers: {}, body: { kind: 'none' }, ...op };
  return validateBatch({ operations: [operation] }, { maxOperations: 10, batchPaths: BATCH_PATHS })[0]!;
}

function finished(status: number, headers: Record<string, string>, path = '/v1/books/k1'): Finished {
  const result: OperationResult = { index: 0, id: 'a', status, headers, ran: true };
  return { result, path };
}

describe('entityUrl and entityEtag', () => {
  it('a create stands for its Location, a single-entity answer for its own path', () => {
    expect(entityUrl(finished(201, { location: '/v1/books/k9', etag: '"e"' }))).toBe('/v1/books/k9');
    expect(entityUrl(finished(200, { etag: '"e"' }))).toBe('/v1/books/k1');
    expect(entityUrl(finished(201, { location: 'http://elsewhere.example/v1/books/k9' }))).toBe('/v1/books/k9');
  });

  it('a list, a delete and a failure stand for no entity; only an answer with an ETag has one', () => {
    expect(entityUrl(finished(200, { 'content-type': 'application/json' }))).toBeUndefined();
    expect(entityUrl(finished(204, {}))).toBeUndefined();
    expect(entityUrl(finished(404, { etag: '"e"' }))).toBeUndefined();
    expect(entityEtag(finished(200, { etag: '"e1"' }))).toBe('"e1"');
    expect(entityEtag(finished(204, {}))).toBeUndefined();
  });
});

describe('resolveReferences', () => {
  const created = finished(201, { location: '/v1/books/k9', etag: '"e9"' });

  it('puts the entity URL in place of $a, with what follows it, and its ETag in If-Match', () => {
    const p = prepared({ path: '$a/x?$top=1', method: 'PATCH', headers: { 'If-Match': '$a' }, references: { path: { id: 'a', rest: '/x?$top=1' }, etags: { 'if-match': 'a' } } });
    const r = resolveReferences(p, (id) => (id === 'a' ? created : undefined));
    expect(r.target.path).toBe('/v1/books/k9/x');
    expect(r.target.query.get('$top')).toBe('1');
    expect(r.headers.get('if-match')).toBe('"e9"');
    expect(p.headers.get('if-match')).toBe('$a'); // the prepared operation itself is left as it was
  });

  it('answers 424 failed_dependency for a reference to a request without entity or ETag', () => {
    const p = prepared({ path: '$a', references: { path: { id: 'a', rest: '' } } });
    expect(() => resolveReferences(p, () => finished(204, {}))).toThrow(expect.objectContaining({ status: 424, code: 'failed_dependency' }));
    const q = prepared({ headers: { 'If-None-Match': '$a' }, references: { etags: { 'if-none-match': 'a' } } });
    expect(() => resolveReferences(q, () => finished(200, {}))).toThrow(expect.objectContaining({ status: 424 }));
  });

  it('checks the substituted path again: a Location that routes to a batch endpoint is nested_batch', () => {
    const p = prepared({ path: '$a', method: 'POST', references: { path: { id: 'a', rest: '' } } });
    expect(() => resolveReferences(p, () => finished(201, { location: '/v1/$batch' }))).toThrow(expect.objectContaining({ code: 'nested_batch' }));
    expect(() => resolveReferences(p, () => finished(201, { location: '/v1/books/..' }))).toThrow(expect.objectContaining({ code: 'invalid_path' }));
  });

  it('refuses before anything runs what follows a reference when it is not a path or query', () => {
    expect(() => prepared({ path: '$a/../../batch', references: { path: { id: 'a', rest: '/../../batch' } } })).toThrow(
      expect.objectContaining({ code: 'invalid_path' }),
    );
    expect(() => prepared({ path: '$a/$batch', references: { path: { id: 'a', rest: '/$batch' } } })).toThrow(expect.objectContaining({ code: 'nested_batch' }));
    expect(() => prepared({ path: '$ax', references: { path: { id: 'a', rest: 'x' } } })).toThrow(expect.objectContaining({ code: 'invalid_path' }));
  });
});

describe('body references', () => {
  const created: Finished = {
    result: { index: 0, id: 'a', status: 201, headers: { location: '/v1/people/k2' }, body: { id: 'k2', n: 7, ok: true, tags: ['x'], nested: { deep: null } }, ran: true },
    path: '/v1/people',
  };
  const body = { kind: 'json' as const, value: { name: 'x', rel: { author: { data: { type: 'people', id: null } } }, list: [{ id: null }, 'keep'] } };

  it('sets the referenced values in a copy of the parsed body, with their JSON type alone and as text joined', () => {
    const p = prepared({
      method: 'POST',
      body,
      references: {
        body: [
          { at: ['rel', 'author', 'data', 'id'], parts: [{ id: 'a', select: ['id'] }] },
          { at: ['list', 0, 'id'], parts: [{ id: 'a', select: ['n'] }] },
          { at: ['name'], parts: ['people/', { id: 'a', select: ['id'] }, '#', { id: 'a', select: ['ok'] }] },
          { at: ['list', 1], parts: [{ id: 'a', select: ['tags', 0] }] },
        ],
      },
    });
    const r = resolveReferences(p, (id) => (id === 'a' ? created : undefined));
    expect(r.op.body).toEqual({
      kind: 'json',
      value: { name: 'people/k2#true', rel: { author: { data: { type: 'people', id: 'k2' } } }, list: [{ id: 7 }, 'x'] },
    });
    expect(body.value.rel.author.data.id).toBeNull(); // the batch's own body is left as it was
  });

  it('a value that is no string, number or boolean, or an answer that failed, is 424 failed_dependency', () => {
    for (const select of [['nested'], ['nested', 'deep'], ['missing'], ['tags'], ['__proto__'], ['id', 'length']]) {
      const p = prepared({ method: 'POST', body, references: { body: [{ at: ['name'], parts: [{ id: 'a', select }] }] } });
      expect(() => resolveReferences(p, () => created), select.join('.')).toThrow(expect.objectContaining({ status: 424, code: 'failed_dependency' }));
    }
    const p = prepared({ method: 'POST', body, references: { body: [{ at: ['name'], parts: [{ id: 'a', select: ['id'] }] }] } });
    expect(() => resolveReferences(p, () => ({ ...created, result: { ...created.result, status: 404 } }))).toThrow(expect.objectContaining({ status: 424 }));
    expect(() => resolveReferences(p, () => undefined)).toThrow(expect.objectContaining({ status: 424 }));
  });

  it('a substituted value is data: a value that looks like a path or JSON stays one string', () => {
    const evil: Finished = { ...created, result: { ...created.result, body: { id: '../../batch", "x": "y' } } };
    const p = prepared({ method: 'POST', body, references: { body: [{ at: ['rel', 'author', 'data', 'id'], parts: [{ id: 'a', select: ['id'] }] }] } });
    const r = resolveReferences(p, () => evil);
    expect(r.target.path).toBe('/v1/x');
    expect((r.op.body as { value: { rel: unknown } }).value.rel).toEqual({ author: { data: { type: 'people', id: '../../batch", "x": "y' } } });
  });
});

describe('URL references', () => {
  const created: Finished = {
    result: { index: 0, id: 'a', status: 201, headers: { location: '/v1/people/k2' }, body: { id: 'k2', n: 7, name: "O'Brien", evil: '../../batch', pred: "x('1')", amp: 'a&token=t#f', list: { items: [{ id: 'i0' }] }, nothing: null }, ran: true },
    path: '/v1/people',
  };
  const at = (url: (string | { id: string; select: (string | number)[]; quoted?: boolean })[], method = 'GET') =>
    prepared({ method, path: url.map((p) => (typeof p === 'string' ? p : '@')).join(''), references: { url } });
  const resolve = (p: ReturnType<typeof prepared>, f: Finished = created) => resolveReferences(p, (id) => (id === 'a' ? f : undefined));

  it('puts a value in the id segment and in a query value, with its text percent-encoded as data', () => {
    const r = resolve(at(['/v1/people/', { id: 'a', select: ['id'] }, '?x=', { id: 'a', select: ['amp'] }, '&n=', { id: 'a', select: ['n'] }]));
    expect(r.target.path).toBe('/v1/people/k2');
    expect([...r.target.query]).toEqual([
      ['x', 'a&token=t#f'],
      ['n', '7'],
    ]);
    expect(resolve(at(['/v1/x/', { id: 'a', select: ['list', 'items', 0, 'id'] }])).target.path).toBe('/v1/x/i0');
  });

  it('a value never adds a segment, a key predicate or a route: ../../batch is one (refused) segment', () => {
    expect(() => resolve(at(['/v1/people/', { id: 'a', select: ['evil'] }]))).toThrow(expect.objectContaining({ status: 400, code: 'invalid_path' }));
    expect(resolve(at(['/v1/people/', { id: 'a', select: ['pred'] }])).target.path).toBe("/v1/people/x%28'1'%29");
  });

  it("doubles the quotes of a value inside a quoted $filter string", () => {
    const r = resolve(at(["/v1/people?$filter=name eq '", { id: 'a', select: ['name'], quoted: true }, "'"]));
    expect(r.target.query.get('$filter')).toBe("name eq 'O''Brien'");
  });

  it('checks the path before anything runs with each value as a plain segment', () => {
    expect(() => at(['/v1/../', { id: 'a', select: ['id'] }])).toThrow(expect.objectContaining({ code: 'invalid_path' }));
    expect(() => at(['/batch/', { id: 'a', select: ['id'] }, '/x']).op).not.toThrow();
    expect(() => at(['/v1/', { id: 'a', select: ['id'] }, '/$batch'])).toThrow(expect.objectContaining({ code: 'nested_batch' }));
  });

  it('no string, number or boolean there, or a failed answer: 424 failed_dependency', () => {
    for (const select of [['nothing'], ['list'], ['missing'], ['list', 'items', 5, 'id']]) {
      expect(() => resolve(at(['/v1/people/', { id: 'a', select }])), select.join('.')).toThrow(expect.objectContaining({ status: 424, code: 'failed_dependency' }));
    }
    expect(() => resolve(at(['/v1/people/', { id: 'a', select: ['id'] }]), { ...created, result: { ...created.result, status: 400 } })).toThrow(
      expect.objectContaining({ status: 424 }),
    );
  });
});
