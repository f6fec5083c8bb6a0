import { describe, expect, it } from 'vitest';
import type { Batch, BatchOutcome } from '../../engine/types.js';
import { ApiError } from '../../errors.js';
import { compositeDialect } from './index.js';
import { parseTemplate } from './references.js';
import { compositeUrl } from './urls.js';

const decode = (doc: unknown, limits: { maxOperations?: number; maxQueries?: number } = {}): Batch =>
  compositeDialect.decode({ text: JSON.stringify(doc), contentType: 'application/json', headers: new Map() }, { maxOperations: 25, ...limits });

const refusal = (fn: () => unknown): ApiError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('not refused');
};

describe('composite references', () => {
  it('reads @{refId.path} with .name and [n] steps, keeping the text around them', () => {
    expect(parseTemplate('of @{acct.Name}!', 'x')).toEqual(['of ', { refId: 'acct', select: ['Name'], written: '@{acct.Name}' }, '!']);
    expect(parseTemplate('@{list.items[0].id}', 'x')).toEqual([{ refId: 'list', select: ['items', 0, 'id'], written: '@{list.items[0].id}' }]);
    expect(parseTemplate('no reference @ { here }', 'x')).toBeUndefined();
  });

  it.each(['@{acct', '@{acct}', '@{acct.}', '@{acct..id}', '@{acct[x]}', '@{_x.id}', '@{}', 'a @{b.c d}', '@{a.b}@{'])('refuses the malformed %s: 400 bad_request', (text) => {
    expect(refusal(() => parseTemplate(text, 'x')).code).toBe('bad_request');
  });
});

describe('composite urls', () => {
  it('keeps an Omnibus path and maps sobjects urls of any version onto /v1, query kept', () => {
    expect(compositeUrl('/v1/books/1?x=1', 'w').path).toBe('/v1/books/1?x=1');
    expect(compositeUrl('/services/data/v59.0/sobjects/accounts', 'w')).toEqual({ path: '/v1/accounts', list: true });
    expect(compositeUrl('/services/data/v42.0/sobjects/accounts/k2?fields=Name', 'w')).toEqual({ path: '/v1/accounts/k2?fields=Name', list: false });
    expect(compositeUrl('/services/data/v59.0/composite/batch', 'w').path).toBe('/services/data/v59.0/composite/batch');
  });

  it.each([
    '/services/data/v59.0/query?q=SELECT+Id+FROM+Account',
    '/services/data/v59.0/sobjects/accounts/extId__c/123',
    '/services/data/v59.0/sobjects',
    '/services/data/v59.0/sobjects/',
    '/services/data/59.0/sobjects/accounts',
    '/services/data',
    '/services/data/v59.0',
  ])('refuses the Salesforce url %s: 400 invalid_path', (url) => {
    expect(refusal(() => compositeUrl(url, 'w')).code).toBe('invalid_path');
  });

  it('takes references in the id segment and in query values; in $filter only inside quotes', () => {
    const id = compositeUrl('/services/data/v59.0/sobjects/accounts/@{acct.id}?fields=@{acct.f}', 'w');
    expect(id.path).toBe('/v1/accounts/@{acct.id}?fields=@{acct.f}');
    expect(id.parts).toEqual(['/v1/accounts/', { refId: 'acct', select: ['id'], written: '@{acct.id}' }, '?fields=', { refId: 'acct', select: ['f'], written: '@{acct.f}' }]);
    const filter = compositeUrl("/v1/c?$filter=parent%20eq%20%27@{acct.id}%27", 'w');
    expect(filter.parts![1]).toMatchObject({ refId: 'acct', quoted: true });
    expect(filter.list).toBe(true);
    for (const url of ['/v1/@{a.b}', '/v1/@{a.b}/1', '/services/data/v59.0/sobjects/@{a.b}', '/services/data/@{a.v}/sobjects/x/1', '/v1/x/1?@{a.b}=1', '/v1/x?$filter=id eq @{a.b}']) {
      expect(refusal(() => compositeUrl(url, 'w')).code, url).toBe('invalid_path');
    }
  });
});

describe('composite decode', () => {
  it('maps subrequests onto operations in request order; allOrNone puts all in one group', () => {
    const batch = decode({
      allOrNone: true,
      collateSubrequests: true,
      compositeRequest: [
        { method: 'POST', url: '/services/data/v59.0/sobjects/accounts', referenceId: 'acct', body: { Name: 'P' } },
        { method: 'PATCH', url: '/v1/accounts/@{acct.id}', referenceId: 'upd', httpHeaders: { 'If-Match': '"e1"' }, body: { Label: 'of @{acct.Name}', n: '@{acct.n}', keep: { '@{acct.id}': 1 } } },
      ],
    });
    expect(batch.operations.map((o) => [o.id, o.method, o.path, o.group])).toEqual([
      ['acct', 'POST', '/v1/accounts', 'allOrNone'],
      ['upd', 'PATCH', '/v1/accounts/@{acct.id}', 'allOrNone'],
    ]);
    expect(batch.operations[1]!.references).toEqual({
      url: ['/v1/accounts/', { id: 'acct', select: ['id'] }],
      body: [
        { at: ['Label'], parts: ['of ', { id: 'acct', select: ['Name'] }] },
        { at: ['n'], parts: [{ id: 'acct', select: ['n'] }] },
      ],
    });
    expect(batch.operations[1]!.headers).toEqual({ 'If-Match': '"e1"' });
    expect(decode({ compositeRequest: [{ method: 'GET', url: '/v1/a', referenceId: 'a' }] }).operations[0]!.group).toBeUndefined();
  });

  it('refuses what the format forbids, before anything runs', () => {
    const one = (r: Record<string, unknown>) => ({ compositeRequest: [{ method: 'GET', url: '/v1/a', referenceId: 'a', ...r }] });
    expect(refusal(() => decode(one({ method: 'get' }))).code).toBe('bad_request');
    expect(refusal(() => decode(one({ referenceId: 'a-b' }))).code).toBe('bad_request');
    expect(refusal(() => decode(one({ referenceId: undefined }))).code).toBe('bad_request');
    for (const name of ['Accept', 'authorization', 'CONTENT-TYPE']) expect(refusal(() => decode(one({ httpHeaders: { [name]: 'x' } }))).code).toBe('invalid_header');
    const two = (second: Record<string, unknown>) => ({ compositeRequest: [{ method: 'GET', url: '/v1/a/1', referenceId: 'a' }, { method: 'GET', url: '/v1/b/1', referenceId: 'b', ...second }] });
    expect(refusal(() => decode(two({ referenceId: 'a' }))).code).toBe('duplicate_id');
    expect(decode(two({ referenceId: 'A' })).operations).toHaveLength(2);
    expect(refusal(() => decode(two({ url: '/v1/b/@{zz.id}' }))).code).toBe('invalid_dependency');
    expect(refusal(() => decode(two({ url: '/v1/b/@{b.id}' }))).code).toBe('invalid_dependency');
    expect(refusal(() => decode({ compositeRequest: [{ method: 'GET', url: '/v1/a/@{b.id}', referenceId: 'a' }, { method: 'GET', url: '/v1/b/1', referenceId: 'b' }] })).code).toBe('invalid_dependency');
    expect(refusal(() => decode(two({ body: { x: ['@{a.id'] } }))).code).toBe('bad_request');
  });

  it('limits operations and, when configured, list GETs: 413 batch_too_large', () => {
    const gets = (n: number) => ({ compositeRequest: Array.from({ length: n }, (_, i) => ({ method: 'GET', url: i % 2 ? `/v1/c${i}` : `/services/data/v59.0/sobjects/c${i}`, referenceId: `g${i}` })) });
    expect(refusal(() => decode(gets(26))).code).toBe('batch_too_large');
    expect(decode(gets(25)).operations).toHaveLength(25);
    expect(refusal(() => decode(gets(3), { maxQueries: 2 })).code).toBe('batch_too_large');
    expect(decode(gets(2), { maxQueries: 2 }).operations).toHaveLength(2);
  });
});

describe('composite encode', () => {
  const batch = decode({
    allOrNone: true,
    compositeRequest: [
      { method: 'POST', url: '/v1/a', referenceId: 'a', body: {} },
      { method: 'GET', url: '/v1/a/@{a.id}', referenceId: 'b' },
      { method: 'DELETE', url: '/v1/a/x', referenceId: 'c' },
    ],
  });
  const outcome: BatchOutcome = {
    halted: false,
    results: [
      { index: 0, id: 'a', status: 201, headers: { 'content-type': 'application/json', 'content-length': '9', location: '/v1/a/k2', etag: '"e2"' }, body: { id: 'k2' }, ran: true },
      { index: 1, id: 'b', status: 424, headers: { 'content-type': 'application/problem+json' }, body: { code: 'transaction_rolled_back', detail: 'x' }, ran: false },
      { index: 2, id: 'c', status: 404, headers: { 'content-type': 'application/problem+json', 'retry-after': '1' }, body: { code: 'not_found', detail: 'No a/x.' }, ran: true },
    ],
  };

  it('answers compositeResponse in request order, canonical header names without Content-Type or Content-Length', () => {
    const encoded = compositeDialect.encode(batch, outcome, { baseUrl: 'http://h' });
    expect(encoded.status).toBe(200);
    expect(JSON.parse(encoded.body)).toEqual({
      compositeResponse: [
        { body: { id: 'k2' }, httpHeaders: { Location: '/v1/a/k2', ETag: '"e2"' }, httpStatusCode: 201, referenceId: 'a' },
        { body: [{ errorCode: 'PROCESSING_HALTED', message: expect.stringContaining('rolled back') }], httpHeaders: {}, httpStatusCode: 400, referenceId: 'b' },
        { body: [{ errorCode: 'NOT_FOUND', message: 'No a/x.' }], httpHeaders: { 'Retry-After': '1' }, httpStatusCode: 404, referenceId: 'c' },
      ],
    });
  });

  it('refuses with the status and an error array; 401 is INVALID_SESSION_ID', () => {
    const e = compositeDialect.encodeError(new ApiError(401, 'unauthorized', 'A valid token is required.'), {});
    expect([e.status, JSON.parse(e.body)]).toEqual([401, [{ errorCode: 'INVALID_SESSION_ID', message: 'Composite request refused: A valid token is required.' }]]);
    const t = compositeDialect.encodeError(new ApiError(413, 'batch_too_large', 'Too many.'), {});
    expect([t.status, JSON.parse(t.body)[0].errorCode]).toEqual([413, 'BATCH_TOO_LARGE']);
  });
});
