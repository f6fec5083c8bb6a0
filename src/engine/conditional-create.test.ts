import { describe, expect, it } from 'vitest';
import type { ApiRequest, ApiResponse } from '../api/types.js';
import type { Principal } from '../auth/principal.js';
import { executeBatch } from './execute.js';
import { resolveOperationPath } from './paths.js';
import type { ExecutionContext, Operation } from './types.js';
import { validateBatch } from './validate.js';

const principal: Principal = { subject: 's', tenant: 't', scopes: new Set(['read', 'write']) };

/** A resource API holding `items` in `/v1/people`, recording what it was asked. */
function api(items: Record<string, unknown>[]) {
  const seen: string[] = [];
  const dispatch = async (req: ApiRequest): Promise<ApiResponse> => {
    seen.push(`${req.method} ${req.path}${req.query.size ? `?${req.query}` : ''}`);
    if (req.method === 'GET' && req.path === '/v1/people') {
      if (req.query.get('$filter') === 'bad') return { status: 400, headers: { 'content-type': 'application/problem+json' }, body: { code: 'bad_request' } };
      return { status: 200, headers: {}, body: { items: items.slice(0, Number(req.query.get('$top'))), next: null } };
    }
    if (req.method === 'GET') return { status: 200, headers: { etag: '"e1"', 'last-modified': 'x' }, body: { id: req.path.split('/').pop(), n: 1 } };
    return { status: 201, headers: { location: '/v1/people/new', etag: '"e2"' }, body: { id: 'new' } };
  };
  return { dispatch, seen };
}

async function create(items: Record<string, unknown>[], ifNoneExist: string) {
  const { dispatch, seen } = api(items);
  const op: Operation = { index: 0, id: 'c', method: 'POST', path: '/v1/people', headers: {}, body: { kind: 'json', value: { n: 1 } }, ifNoneExist };
  const ctx: ExecutionContext = { principal, dispatch, deadline: Date.now() + 10_000 };
  const outcome = await executeBatch(validateBatch({ operations: [op] }, { maxOperations: 10, batchPaths: new Set() }), ctx);
  return { result: outcome.results[0]!, seen };
}

describe('a conditional create (ifNoneExist)', () => {
  it('looks through a list GET of its own path with the filter, and creates when nothing matches', async () => {
    const { result, seen } = await create([], "$filter=name eq 'x'&token=t");
    expect(seen).toEqual(["GET /v1/people?%24filter=name+eq+%27x%27&%24top=2", 'POST /v1/people']);
    expect(result.status).toBe(201);
  });

  it('creates nothing when one record matches, and answers 200 with it, its ETag and its Location', async () => {
    const { result, seen } = await create([{ id: 'k7' }], "$filter=name eq 'x'");
    expect(seen).toEqual(["GET /v1/people?%24filter=name+eq+%27x%27&%24top=2", 'GET /v1/people/k7']);
    expect(result).toMatchObject({ status: 200, headers: { etag: '"e1"', location: '/v1/people/k7' }, body: { id: 'k7' }, ran: true });
  });

  it('answers 412 precondition_failed when several match, and the list’s own error when it fails', async () => {
    const many = await create([{ id: 'a' }, { id: 'b' }], '$filter=n eq 1');
    expect([many.result.status, (many.result.body as { code: string }).code]).toEqual([412, 'precondition_failed']);
    expect(many.seen).toHaveLength(1);
    const bad = await create([], '$filter=bad');
    expect(bad.result.status).toBe(400);
    expect(bad.seen).toHaveLength(1);
  });
});

describe('a batch endpoint with a trailing slash', () => {
  it('is refused as a nested batch where the endpoint is served with the slash, else as an empty segment', () => {
    // batchPathsOf keeps '/fhir/' beside '/fhir' because the FHIR Bundle is served at both.
    const batchPaths = new Set(['/fhir', '/fhir/', '/batch']);
    for (const path of ['/fhir/', '/FHIR/']) {
      expect(() => resolveOperationPath(path, batchPaths), path).toThrow(expect.objectContaining({ code: 'nested_batch' }));
    }
    for (const path of ['/fhir//', '/batch/', '/v1/books/']) {
      expect(() => resolveOperationPath(path, batchPaths), path).toThrow(expect.objectContaining({ code: 'invalid_path' }));
    }
  });
});
