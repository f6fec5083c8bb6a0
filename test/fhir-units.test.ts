import { describe, expect, it } from 'vitest';
import { fhirDialect } from '../src/dialects/index.js';
import { processingOrder } from '../src/dialects/fhir/order.js';
import { issueType, operationOutcome, statusLine } from '../src/dialects/fhir/outcome.js';
import { fhirTarget } from '../src/dialects/fhir/urls.js';
import { ApiError } from '../src/errors.js';

const ORIGIN = 'http://127.0.0.1:3000';
const decode = (entry: unknown[], type = 'transaction') =>
  fhirDialect.decode({ text: JSON.stringify({ resourceType: 'Bundle', type, entry }), contentType: 'application/fhir+json', headers: new Map(), baseUrl: ORIGIN }, { maxOperations: 100 });

describe('fhir OperationOutcome', () => {
  it('maps every Omnibus code to the FHIR issue type', () => {
    const cases: [string, number, string][] = [
      ['not_found', 404, 'not-found'],
      ['precondition_failed', 412, 'conflict'],
      ['conflict', 409, 'conflict'],
      ['forbidden', 403, 'forbidden'],
      ['unauthorized', 401, 'login'],
      ['batch_too_large', 413, 'too-costly'],
      ['body_too_large', 413, 'too-costly'],
      ['unsupported_media_type', 415, 'not-supported'],
      ['rate_limited', 429, 'throttled'],
      ['deadline_exceeded', 504, 'timeout'],
      ['bad_request', 400, 'invalid'],
      ['object_limit_exceeded', 403, 'invalid'],
      ['transaction_rolled_back', 424, 'invalid'],
      ['precondition_required', 428, 'invalid'],
      ['internal', 500, 'exception'],
      ['conflict_unknown', 503, 'exception'],
    ];
    expect(cases.map(([code, status]) => issueType(code, status))).toEqual(cases.map((c) => c[2]));
  });

  it('is one error issue with the Omnibus code in details and the entry in expression', () => {
    expect(operationOutcome('not_found', 404, 'No record x.', 3)).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'not-found', diagnostics: 'No record x.', details: { coding: [{ system: 'https://omnibus.dev/problems', code: 'not_found' }] }, expression: ['Bundle.entry[3]'] }],
    });
    expect(['201', '204', '304', '412', '429'].map((s) => statusLine(Number(s)))).toEqual(['201 Created', '204 No Content', '304 Not Modified', '412 Precondition Failed', '429 Too Many Requests']);
  });

  it('a refusal keeps the error’s own headers, names the format, and asks for a bearer token on 401', () => {
    const busy = fhirDialect.encodeError(new ApiError(409, 'idempotency_in_progress', 'Still running.', {}, { 'retry-after': '1' }), {});
    expect([busy.status, busy.headers['retry-after'], busy.headers['content-type']]).toEqual([409, '1', 'application/fhir+json']);
    expect(JSON.parse(busy.body).issue[0].diagnostics).toBe('FHIR Bundle refused: Still running.');
    expect(fhirDialect.encodeError(new ApiError(401, 'unauthorized', 'No token.'), {}).headers['www-authenticate']).toBe('Bearer');
  });
});

describe('fhir processing order', () => {
  it('DELETE, POST, PUT/PATCH, GET/HEAD, each in array order; a POST after the POSTs it refers to', () => {
    const methods = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'POST', 'HEAD', 'DELETE', 'POST'];
    expect(processingOrder(methods, new Map())).toEqual([3, 7, 2, 5, 8, 1, 4, 0, 6]);
    expect(processingOrder(methods, new Map([[2, new Set([8])], [8, new Set([5])]]))).toEqual([3, 7, 5, 8, 2, 1, 4, 0, 6]);
    expect(() => processingOrder(['POST', 'POST'], new Map([[0, new Set([1])], [1, new Set([0])]]))).toThrow(expect.objectContaining({ code: 'invalid_dependency' }));
  });

  it('gives the engine operations in that order, each with its entry as id, all in one group for a transaction', () => {
    const batch = decode([
      { request: { method: 'GET', url: 'T/a' } },
      { fullUrl: 'urn:uuid:1', resource: { resourceType: 'T', n: { reference: 'urn:uuid:2' } }, request: { method: 'POST', url: 'T' } },
      { fullUrl: 'urn:uuid:2', resource: { resourceType: 'T' }, request: { method: 'POST', url: 'T' } },
      { request: { method: 'DELETE', url: 'T/b' } },
    ]);
    expect(batch.order).toBe('request');
    expect(batch.operations.map((o) => [o.index, o.id, o.method, o.path, o.group])).toEqual([
      [0, 'Bundle.entry[3]', 'DELETE', '/v1/T/b', 'transaction'],
      [1, 'Bundle.entry[2]', 'POST', '/v1/T', 'transaction'],
      [2, 'Bundle.entry[1]', 'POST', '/v1/T', 'transaction'],
      [3, 'Bundle.entry[0]', 'GET', '/v1/T/a', 'transaction'],
    ]);
    expect(batch.operations[2]!.references).toEqual({ body: [{ at: ['n', 'reference'], parts: ['T/', { id: 'Bundle.entry[2]', select: ['id'] }] }] });
    expect(decode([{ request: { method: 'GET', url: 'T/a' } }], 'batch').operations[0]!.group).toBeUndefined();
  });
});

describe('fhir request.url', () => {
  it('maps the url forms onto /v1', () => {
    expect(['T', 'T/a', 'T?$top=1', 'T/a?x=1', `${ORIGIN}/fhir/T/a`, `HTTP://127.0.0.1:3000/FHIR/T`, '/fhir/T/a'].map((u) => fhirTarget(u, ORIGIN).path)).toEqual([
      '/v1/T',
      '/v1/T/a',
      '/v1/T?$top=1',
      '/v1/T/a?x=1',
      '/v1/T/a',
      '/v1/T',
      '/v1/T/a',
    ]);
  });

  it('refuses other servers, versions, operations and deeper paths as invalid_path, the base as nested_batch', () => {
    for (const u of ['http://127.0.0.1:3001/fhir/T', 'http://user@127.0.0.1:3000/fhir/T', `${ORIGIN}/v1/T`, `${ORIGIN}`, 'T/a/_history/2', 'T/$everything', 'T/a/b', '1T', 'T/..', 'T/a\\b']) {
      expect(() => fhirTarget(u, ORIGIN), u).toThrow(expect.objectContaining({ code: 'invalid_path' }));
    }
    for (const u of ['', '/fhir', '/fhir/', `${ORIGIN}/fhir`, `${ORIGIN}/fhir/?a=b`]) {
      expect(() => fhirTarget(u, ORIGIN), u).toThrow(expect.objectContaining({ code: 'nested_batch' }));
    }
  });
});
