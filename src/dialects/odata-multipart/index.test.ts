import { describe, expect, it } from 'vitest';
import { ApiError } from '../../errors.js';
import { odataMultipartDialect } from './index.js';
import { parseMediaType, splitMultipart } from './mime.js';

const decode = (text: string, headers: Record<string, string> = {}, contentType = 'multipart/mixed; boundary=b') =>
  odataMultipartDialect.decode({ text, contentType, headers: new Map(Object.entries(headers)), baseUrl: 'http://127.0.0.1:3000' }, { maxOperations: 100 });

const part = (request: string, mime = '') => `--b\r\nContent-Type: application/http\r\n${mime}\r\n${request}\r\n`;
const changeset = (...requests: string[]) => `--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n${requests.map((r) => `--c\r\nContent-Type: application/http\r\n${r}\r\n`).join('')}--c--\r\n`;

describe('media types', () => {
  it.each([
    ['multipart/mixed; boundary=b', 'b'],
    ['multipart/mixed;boundary=b', 'b'],
    ['Multipart/Mixed; BOUNDARY="a \\"q\\" b"', 'a "q" b'],
    ['multipart/mixed; charset=utf-8 ; boundary = b ;', 'b'],
  ])('%s has boundary %j', (value, boundary) => {
    expect(parseMediaType(value)?.params.get('boundary')).toBe(boundary);
  });

  it.each([['multipart'], ['multipart/mixed; boundary'], ['multipart/mixed; boundary="b'], ['multipart/mixed; boundary="b" x'], ['/mixed'], ['multipart/mixed; a b=c']])('%j is not a media type', (value) => {
    expect(parseMediaType(value)).toBeUndefined();
  });
});

describe('splitting a multipart body', () => {
  it('keeps a part’s body exactly, without the line break that belongs to the next delimiter', () => {
    const parts = splitMultipart('--b\r\nX: 1\r\n\r\nline one\r\n\r\nline --b not a delimiter\r\n--bb not either\r\n--b--', 'b', 'batch');
    expect(parts).toEqual([{ headers: new Map([['x', '1']]), body: 'line one\r\n\r\nline --b not a delimiter\r\n--bb not either' }]);
  });

  it('takes LF-only bodies and repeated headers', () => {
    const parts = splitMultipart('--b\nA: 1\na: 2\n\nbody\n--b\n\n--b--\n', 'b', 'batch');
    expect(parts).toEqual([
      { headers: new Map([['a', '1, 2']]), body: 'body' },
      { headers: new Map(), body: '' },
    ]);
  });

  it('refuses what RFC 2046 readers would silently drop', () => {
    for (const body of ['x\r\n--b\r\n\r\n--b--', '--b\r\n\r\n--b--\r\nlost', '--b\r\n\r\n', '--c\r\n--c--']) {
      expect(() => splitMultipart(body, 'b', 'batch')).toThrow(expect.objectContaining({ code: 'invalid_multipart' }));
    }
  });
});

describe('odata-multipart decode', () => {
  it('maps parts to operations in order, change sets to groups, url forms to paths', () => {
    const batch = decode(
      part('GET books?$top=1 HTTP/1.1\r\n') +
        changeset('Content-ID: 1\r\n\r\nPOST http://127.0.0.1:3000/v1/books HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{"a":1}', 'Content-ID: 2\r\n\r\npatch $1 HTTP/1.1\r\nIf-Match: $1\r\n\r\n{"b":2}') +
        part("DELETE /v1/books('x') HTTP/1.1\r\n") +
        '--b--\r\n',
    );
    expect(batch.order).toBe('request');
    expect(batch.stopOnError).toBe(true);
    expect(batch.operations.map((o) => [o.method, o.path, o.group, o.id])).toEqual([
      ['GET', '/v1/books?$top=1', undefined, undefined],
      ['POST', '/v1/books', 'changeset 2', '1'],
      ['PATCH', '$1', 'changeset 2', '2'],
      ['DELETE', "/v1/books('x')", undefined, undefined],
    ]);
    expect(batch.operations[1]!.body).toEqual({ kind: 'text', text: '{"a":1}', contentType: 'application/json' });
    // No Content-Type of its own: JSON.
    expect(batch.operations[2]!.body).toEqual({ kind: 'text', text: '{"b":2}', contentType: 'application/json' });
    expect(batch.operations[2]!.references).toEqual({ path: { id: '1', rest: '' }, etags: { 'if-match': '1' } });
    expect(batch.operations[3]!.body).toEqual({ kind: 'none' });
  });

  it('gives a repeated Content-ID a unique operation id, and refers to the nearest earlier one', () => {
    const batch = decode(
      changeset('Content-ID: 1\r\n\r\nPOST /v1/a HTTP/1.1\r\n\r\n{}') + changeset('Content-ID: 1\r\n\r\nPOST /v1/a HTTP/1.1\r\n\r\n{}', 'Content-ID: <2>\r\n\r\nPATCH $1/x HTTP/1.1\r\n\r\n{}') + '--b--',
    );
    expect(batch.operations.map((o) => o.id)).toEqual(['1', '1~2', '2']);
    expect(batch.operations[2]!.references).toEqual({ path: { id: '1~2', rest: '/x' } });
  });

  it('reads the continue-on-error preference', () => {
    expect(decode('--b--', { prefer: 'odata.continue-on-error' }).stopOnError).toBe(false);
    expect(decode('--b--', { prefer: 'odata.continue-on-error=false' }).stopOnError).toBe(true);
    expect(decode('--b--').stopOnError).toBe(true);
  });

  it('refuses another media type with 415, and counts change-set members against the limit', () => {
    expect(() => decode('{}', {}, 'application/json')).toThrow(expect.objectContaining({ status: 415 }));
    const five = changeset(...Array.from({ length: 5 }, () => '\r\nPOST /v1/a HTTP/1.1\r\n\r\n{}')) + '--b--';
    expect(() =>
      odataMultipartDialect.decode({ text: five, contentType: 'multipart/mixed; boundary=b', headers: new Map(), baseUrl: undefined }, { maxOperations: 4 }),
    ).toThrow(expect.objectContaining({ status: 413, code: 'batch_too_large' }));
  });
});

describe('odata-multipart encode', () => {
  const batch = decode(part('PUT /v1/a/1 HTTP/1.1\r\n', 'Content-ID: top\r\n') + changeset('Content-ID: 1\r\n\r\nPUT /v1/a/2 HTTP/1.1\r\n\r\n{}', 'Content-ID: 2\r\n\r\nPUT /v1/a/3 HTTP/1.1\r\n\r\n{}') + '--b--', {});
  const problem = (status: number, code: string) => ({ status, headers: { 'content-type': 'application/problem+json' }, body: { code, detail: `${code}!` } });

  it('answers a failed change set with the failing request alone, its Content-ID and an OData error', () => {
    const encoded = odataMultipartDialect.encode(
      batch,
      {
        results: [
          { index: 0, status: 204, headers: { etag: '"e"', 'content-length': '0' }, ran: true },
          { index: 1, id: '1', ...problem(424, 'transaction_rolled_back'), ran: false },
          { index: 2, id: '2', ...problem(409, 'conflict'), ran: true },
        ],
        halted: false,
      },
      { baseUrl: 'http://127.0.0.1:3000' },
    );
    expect(encoded.status).toBe(200);
    const boundary = /boundary=(batchresponse_[0-9a-f-]+)$/.exec(encoded.headers['content-type']!)![1]!;
    expect(encoded.body).toBe(
      [
        `--${boundary}`,
        'Content-Type: application/http',
        'Content-Transfer-Encoding: binary',
        'Content-ID: top',
        '',
        'HTTP/1.1 204 No Content',
        'ETag: "e"',
        '',
        '',
        `--${boundary}`,
        'Content-Type: application/http',
        'Content-Transfer-Encoding: binary',
        'Content-ID: 2',
        '',
        'HTTP/1.1 409 Conflict',
        'Content-Type: application/json',
        '',
        '{"error":{"code":"conflict","message":"conflict!","details":[]}}',
        `--${boundary}--`,
        '',
      ].join('\r\n'),
    );
  });

  it('answers 202 with DataServiceVersion to a client that sent one', () => {
    const legacy = decode('--b--', { dataserviceversion: '2.0' });
    const encoded = odataMultipartDialect.encode(legacy, { results: [], halted: false }, { baseUrl: '' });
    expect(encoded.status).toBe(202);
    expect(encoded.headers['dataserviceversion']).toBe('2.0');
    expect(encoded.headers['odata-version']).toBeUndefined();
  });

  it('refuses in the OData error form, naming the format', () => {
    const encoded = odataMultipartDialect.encodeError(new ApiError(400, 'invalid_multipart', 'No closing delimiter.'), {});
    expect(encoded.status).toBe(400);
    expect(JSON.parse(encoded.body)).toEqual({ error: { code: 'invalid_multipart', message: 'OData multipart batch refused: No closing delimiter.' } });
  });
});
