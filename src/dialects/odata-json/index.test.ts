import { describe, expect, it } from 'vitest';
import { ApiError } from '../../errors.js';
import { odataJsonDialect } from './index.js';
import { canonicalHeaderName } from './encode.js';

const decode = (requests: unknown[], headers: Record<string, string> = {}) =>
  odataJsonDialect.decode(
    { text: JSON.stringify({ requests }), contentType: 'application/json', headers: new Map(Object.entries(headers)), baseUrl: 'http://127.0.0.1:3000' },
    { maxOperations: 100 },
  );

describe('odata-json decode', () => {
  it('maps the url forms to paths and references', () => {
    const batch = decode([
      { id: 'One', method: 'post', url: '/v1/books', body: { a: 1 } },
      { id: '2', method: 'GET', url: 'books/1?$top=1' },
      { id: '3', method: 'GET', url: 'http://127.0.0.1:3000/v1/books' },
      { id: '4', method: 'GET', url: 'HTTP://127.0.0.1:3000' },
      { id: '5', method: 'PATCH', url: '$one/x?y=1', headers: { 'IF-MATCH': ' $ONE ' }, dependsOn: ['ONE'] },
      { id: '6', method: 'POST', url: '$batch' },
    ]);
    expect(batch.order).toBe('graph');
    expect(batch.operations.map((o) => [o.method, o.path])).toEqual([
      ['POST', '/v1/books'],
      ['GET', '/v1/books/1?$top=1'],
      ['GET', '/v1/books'],
      ['GET', '/'],
      ['PATCH', '$one/x?y=1'],
      ['POST', '/v1/$batch'],
    ]);
    expect(batch.operations[4]!.references).toEqual({ path: { id: 'One', rest: '/x?y=1' }, etags: { 'if-match': 'One' } });
    expect(batch.operations[4]!.dependsOn).toEqual(['One']);
    expect(batch.operations[0]!.body).toEqual({ kind: 'json', value: { a: 1 } });
  });

  it('reads Prefer: continue-on-error with or without the odata. prefix', () => {
    expect(decode([], { prefer: 'odata.continue-on-error=false' }).stopOnError).toBe(true);
    expect(decode([], { prefer: 'return=minimal, Continue-On-Error=FALSE' }).stopOnError).toBe(true);
    expect(decode([], { prefer: 'odata.continue-on-error' }).stopOnError).toBe(false);
    expect(decode([]).stopOnError).toBe(false);
  });

  it('refuses an absolute URL of another origin, naming the reason', () => {
    expect(() => decode([{ id: '1', method: 'GET', url: 'http://127.0.0.1:3001/v1/books' }])).toThrow(
      expect.objectContaining({ code: 'invalid_path', message: expect.stringContaining('another server') }),
    );
  });
});

describe('odata-json encode', () => {
  it('writes header names in canonical case', () => {
    expect(['content-type', 'etag', 'location', 'retry-after', 'last-modified', 'www-authenticate', 'x-request-id'].map(canonicalHeaderName)).toEqual([
      'Content-Type',
      'ETag',
      'Location',
      'Retry-After',
      'Last-Modified',
      'WWW-Authenticate',
      'X-Request-Id',
    ]);
  });

  it('refuses in the OData error form, keeping the error’s own headers (Retry-After)', () => {
    const encoded = odataJsonDialect.encodeError(new ApiError(409, 'conflict', 'Try again.', {}, { 'retry-after': '1' }), {});
    expect(encoded.status).toBe(409);
    expect(encoded.headers['retry-after']).toBe('1');
    expect(encoded.headers['odata-version']).toBe('4.01');
    expect(JSON.parse(encoded.body)).toEqual({ error: { code: 'conflict', message: 'OData JSON batch refused: Try again.' } });
  });

  it('gives an operation result’s Retry-After its canonical name', () => {
    const batch = decode([{ id: 'a', method: 'GET', url: '/v1/x/1' }]);
    const encoded = odataJsonDialect.encode(
      batch,
      { results: [{ index: 0, id: 'a', status: 429, headers: { 'content-type': 'application/problem+json', 'retry-after': '3' }, body: { code: 'rate_limited', detail: 'Slow down.' }, ran: true }], halted: false },
      { baseUrl: 'http://127.0.0.1:3000' },
    );
    expect(JSON.parse(encoded.body).responses[0]).toEqual({
      id: 'a',
      status: 429,
      headers: { 'Content-Type': 'application/json', 'Retry-After': '3' },
      body: { error: { code: 'rate_limited', message: 'Slow down.', details: [] } },
    });
  });
});
