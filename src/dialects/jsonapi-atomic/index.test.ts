import { describe, expect, it } from 'vitest';
import type { BatchOutcome, OperationResult } from '../../engine/types.js';
import { ApiError } from '../../errors.js';
import { ATOMIC_MEDIA_TYPE, jsonapiAtomicDialect } from './index.js';
import { checkAtomicContentType } from './media-type.js';

const decode = (doc: unknown, maxOperations = 100) =>
  jsonapiAtomicDialect.decode({ text: JSON.stringify(doc), contentType: ATOMIC_MEDIA_TYPE, headers: new Map() }, { maxOperations });

const result = (index: number, status: number, body?: unknown, headers: Record<string, string> = {}): OperationResult => ({
  index,
  id: String(index),
  status,
  headers,
  body,
  ran: true,
});

describe('decoding to the canonical batch', () => {
  it('maps add, update and remove onto the resource API, all in one group, in request order', () => {
    const batch = decode({
      'atomic:operations': [
        { op: 'add', data: { type: 'people', attributes: { name: 'a' } } },
        { op: 'add', data: { type: 'people', id: 'p 1', attributes: { name: 'b' }, relationships: { boss: { data: { type: 'people', id: 'x' } } } } },
        { op: 'update', ref: { type: 'people', id: 'p 1' }, data: { type: 'people', id: 'p 1', attributes: { name: null } } },
        { op: 'remove', href: '/v1/people/p%201' },
      ],
    });
    expect(batch.order).toBe('request');
    expect(batch.operations.map((o) => [o.method, o.path, o.headers, o.body, o.group])).toEqual([
      ['POST', '/v1/people', {}, { kind: 'json', value: { name: 'a' } }, 'atomic'],
      ['PUT', '/v1/people/p%201', { 'If-None-Match': '*' }, { kind: 'json', value: { name: 'b', relationships: { boss: { data: { type: 'people', id: 'x' } } } } }, 'atomic'],
      ['PATCH', '/v1/people/p%201', {}, { kind: 'json', value: { name: null } }, 'atomic'],
      ['DELETE', '/v1/people/p%201', {}, { kind: 'none' }, 'atomic'],
    ]);
  });

  it('a lid of a server-generated id is a reference to the add: its URL for a target, its id for linkage', () => {
    const batch = decode({
      'atomic:operations': [
        { op: 'add', data: { type: 'people', lid: 'p', attributes: {} } },
        { op: 'add', data: { type: 'posts', relationships: { by: { data: { type: 'people', lid: 'p' } }, all: { data: [{ type: 'people', id: '1' }, { type: 'people', lid: 'p' }] } } } },
        { op: 'remove', ref: { type: 'people', lid: 'p' } },
      ],
    });
    const [, post, remove] = batch.operations;
    expect(post!.body).toEqual({ kind: 'json', value: { relationships: { by: { data: { type: 'people', id: null } }, all: { data: [{ type: 'people', id: '1' }, { type: 'people', id: null }] } } } });
    expect(post!.references).toEqual({
      body: [
        { at: ['relationships', 'by', 'data', 'id'], parts: [{ id: '0', select: ['id'] }] },
        { at: ['relationships', 'all', 'data', 1, 'id'], parts: [{ id: '0', select: ['id'] }] },
      ],
    });
    expect(remove!.references).toEqual({ path: { id: '0', rest: '' } });
  });

  it('a lid of a client-generated id is that id, with no reference', () => {
    const batch = decode({
      'atomic:operations': [
        { op: 'add', data: { type: 'people', id: 'c1', lid: 'p', attributes: {} } },
        { op: 'update', ref: { type: 'people', lid: 'p' }, data: { type: 'people', lid: 'p', relationships: { self: { data: { type: 'people', lid: 'p' } } } } },
      ],
    });
    expect(batch.operations[1]).toMatchObject({ path: '/v1/people/c1', body: { kind: 'json', value: { relationships: { self: { data: { type: 'people', id: 'c1' } } } } } });
    expect(batch.operations[1]!.references).toBeUndefined();
  });

  it('points at the member a refusal is about, escaped as RFC 6901 says', async () => {
    const { encodeAtomicRefusal } = await import('./encode.js');
    let error: unknown;
    try {
      decode({ 'atomic:operations': [{ op: 'add', data: { type: 'x', 'we/ird~': 1 } }] });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ApiError);
    expect(JSON.parse(encodeAtomicRefusal(error as ApiError).body).errors[0].source).toEqual({ pointer: '/atomic:operations/0/data/we~1ird~0' });
  });

  it('counts the operations before reading them: 413 over the limit', () => {
    expect(() => decode({ 'atomic:operations': [1, 2, 3] }, 2)).toThrow(expect.objectContaining({ status: 413, code: 'batch_too_large' }));
  });
});

describe('the media type', () => {
  const ok = (ct: string) => expect(() => checkAtomicContentType(ct), ct).not.toThrow();
  const refused = (ct: string | undefined) => expect(() => checkAtomicContentType(ct), String(ct)).toThrow(expect.objectContaining({ status: 415 }));

  it('takes the ext, quoted or bare, with a profile, in any case of names, with whitespace', () => {
    ok(ATOMIC_MEDIA_TYPE);
    ok('application/vnd.api+json ;\text="https://jsonapi.org/ext/atomic" ');
    ok('APPLICATION/VND.API+JSON;Ext="https://jsonapi.org/ext/atomic";PROFILE="a b"');
    ok('application/vnd.api+json;ext=https://jsonapi.org/ext/atomic;');
    ok('application/vnd.api+json;ext=" https://jsonapi.org/ext/atomic "');
  });

  it('refuses anything else', () => {
    for (const ct of [
      undefined,
      '',
      'application/vnd.api+json',
      'application/vnd.api+json;ext',
      'application/vnd.api+json;ext=',
      'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic" x',
      'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic\\"',
      'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic";q=1',
      'application/vnd.api+json;profile="a";profile="b";ext="https://jsonapi.org/ext/atomic"',
      'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic https://jsonapi.org/ext/atomic"',
      'application/vnd.api+json;ext=https://jsonapi.org/ext/atomic,https://x',
      'application/vnd.api+jsonx;ext="https://jsonapi.org/ext/atomic"',
      'application/json;ext="https://jsonapi.org/ext/atomic"',
    ]) {
      refused(ct);
    }
  });
});

describe('encoding', () => {
  const batch = decode({
    'atomic:operations': [
      { op: 'add', data: { type: 'people', lid: 'p', attributes: {} } },
      { op: 'add', data: { type: 'tags', id: 't', attributes: {} } },
      { op: 'update', ref: { type: 'people', lid: 'p' }, data: { type: 'people', lid: 'p', attributes: { a: 1 } } },
    ],
  });
  const encode = (results: OperationResult[]) => {
    const outcome: BatchOutcome = { results, halted: false };
    const r = jsonapiAtomicDialect.encode(batch, outcome, { baseUrl: '' });
    return { ...r, json: JSON.parse(r.body) };
  };

  it('reads each add back as a resource: attributes without id and relationships, relationships after them, the lid echoed', () => {
    const r = encode([
      result(0, 201, { id: 'k', name: 'n', relationships: { r: { data: null } } }, { location: '/v1/people/k' }),
      result(1, 201, { id: 't' }),
      result(2, 200, { id: 'k', a: 1 }),
    ]);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe(ATOMIC_MEDIA_TYPE);
    expect(r.body).toBe(
      JSON.stringify({
        'atomic:results': [
          { data: { type: 'people', id: 'k', lid: 'p', attributes: { name: 'n' }, relationships: { r: { data: null } }, links: { self: '/v1/people/k' } } },
          { data: { type: 'tags', id: 't', attributes: {}, links: { self: '/v1/tags/t' } } },
          {},
        ],
      }),
    );
  });

  it('a failed operation is the document\'s status and one error; the others\' rollback notices are not it', () => {
    const rolledBack = result(0, 424, { code: 'transaction_rolled_back', title: 'Transaction Rolled Back', detail: 'x' });
    const r = encode([rolledBack, { ...rolledBack, index: 1 }, result(2, 422, { code: 'validation_failed', title: 'Validation Failed', detail: 'Bad a.', errors: ['a: must be string'] })]);
    expect(r.status).toBe(422);
    expect(r.json).toEqual({
      errors: [
        {
          status: '422',
          code: 'validation_failed',
          title: 'Validation Failed',
          detail: 'JSON:API atomic operations: operation 2 (update people) failed, so none of the operations was kept: Bad a.',
          source: { pointer: '/atomic:operations/2' },
          meta: { errors: ['a: must be string'] },
        },
      ],
    });
  });

  it('the 412 of an add with a client id is 409 conflict; a rate limit keeps its Retry-After; a failed transaction points nowhere', () => {
    const taken = encode([result(0, 201, { id: 'k' }), result(1, 412, { code: 'precondition_failed', title: 'Precondition Failed', detail: 'x' })]);
    expect([taken.status, taken.json.errors[0].code, taken.json.errors[0].title]).toEqual([409, 'conflict', 'Conflict']);
    const limited = encode([result(0, 429, { code: 'rate_limited', title: 'Rate Limited', detail: 'Slow down.' }, { 'retry-after': '3' })]);
    expect([limited.status, limited.headers['retry-after']]).toEqual([429, '3']);
    const down = { ...result(0, 500, { code: 'internal', title: 'Internal Server Error', detail: 'x' }), ran: false };
    const failed = encode([down, { ...down, index: 1 }, { ...down, index: 2 }]);
    expect(failed.status).toBe(500);
    expect(failed.json.errors[0].source).toBeUndefined();
  });

  it('a refusal is the errors document in the atomic media type, WWW-Authenticate on 401', () => {
    const r = jsonapiAtomicDialect.encodeError(new ApiError(401, 'unauthorized', 'A valid token is required.'), {});
    expect(r.status).toBe(401);
    expect(r.headers).toEqual({ 'content-type': ATOMIC_MEDIA_TYPE, 'www-authenticate': 'Bearer' });
    expect(JSON.parse(r.body)).toEqual({
      errors: [{ status: '401', code: 'unauthorized', title: 'Unauthorized', detail: 'JSON:API atomic operations refused: A valid token is required.' }],
    });
  });
});
