import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachBackend, startTestServer, TOKENS, type CallResult, type TestServer } from './support/server.js';

/**
 * Every resource-API case once directly over HTTP and once as an operation of
 * an `ops` batch, on two servers fed the same sequence: the status and body
 * must be the same (ETags and timestamps are random, so they are masked).
 * A malformed path is not a case here: a batch refuses it as a whole (SPEC 4.1).
 */
interface Case {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  json?: unknown;
  /** Use the ETag the previous case answered with. */
  ifMatchPrevious?: boolean;
  token?: string;
}

const CASES: Case[] = [
  { name: 'create by PUT', method: 'PUT', path: '/v1/par/a', json: { title: 'A', n: 1 } },
  { name: 'read', method: 'GET', path: '/v1/par/a' },
  { name: 'replace with current If-Match', method: 'PUT', path: '/v1/par/a', json: { title: 'A2' }, ifMatchPrevious: true },
  { name: 'replace with stale If-Match', method: 'PUT', path: '/v1/par/a', json: { title: 'A3' }, headers: { 'if-match': '"stale"' } },
  { name: 'merge patch', method: 'PATCH', path: '/v1/par/a', json: { extra: { x: 1 } } },
  { name: 'If-None-Match * on existing', method: 'PUT', path: '/v1/par/a', json: {}, headers: { 'if-none-match': '*' } },
  { name: 'If-None-Match * on absent', method: 'PUT', path: '/v1/par/b', json: { title: 'B', n: 2 }, headers: { 'if-none-match': '*' } },
  { name: 'list with filter and order', method: 'GET', path: `/v1/par?$filter=${encodeURIComponent('n ge 1')}&$orderby=n%20desc` },
  { name: 'list page', method: 'GET', path: '/v1/par?$top=1' },
  { name: 'bad filter', method: 'GET', path: `/v1/par?$filter=${encodeURIComponent('n gt')}` },
  { name: 'bad top', method: 'GET', path: '/v1/par?$top=5000' },
  { name: 'missing', method: 'GET', path: '/v1/par/zzz' },
  { name: 'patch missing', method: 'PATCH', path: '/v1/par/zzz', json: { a: 1 } },
  { name: 'not an object', method: 'PUT', path: '/v1/par/c', json: [1] },
  { name: 'method not allowed', method: 'DELETE', path: '/v1/par' },
  { name: 'forbidden for read-only', method: 'PUT', path: '/v1/par/ro', json: {}, token: TOKENS.acmeRead },
  { name: 'objects validation', method: 'POST', path: '/v1/objects', json: { attributes: [{ d: '', vt: 1, value: 'x' }] } },
  { name: 'objects ok', method: 'PUT', path: '/v1/objects/o1', json: { attributes: [{ d: 't', vt: 16, value: 'v' }] } },
  { name: 'unknown namespace', method: 'GET', path: '/v1/a/b/c' },
  { name: 'delete', method: 'DELETE', path: '/v1/par/b' },
  { name: 'delete again', method: 'DELETE', path: '/v1/par/b' },
];

describeEachBackend('direct and batched', () => {
  let direct: TestServer;
  let batched: TestServer;
  beforeAll(async () => {
    [direct, batched] = await Promise.all([startTestServer(), startTestServer()]);
  });
  afterAll(async () => {
    await Promise.all([direct.close(), batched.close()]);
  });

  function mask(value: unknown): unknown {
    return JSON.parse(
      JSON.stringify(value ?? null)
        .replace(/"_etag":"\\"[^"\\]+\\""/g, '"_etag":"*"')
        .replace(/"_updated":"[^"]+"/g, '"_updated":"*"'),
    );
  }

  describe('the same case directly and inside a batch', () => {
    it('answers every resource-API case with the same status and body both ways', async () => {
      let directEtag = '';
      let batchEtag = '';
      for (const c of CASES) {
        const headers = { ...c.headers };
        const d: CallResult = await direct.call(c.method, c.path, {
          json: c.json,
          token: c.token,
          headers: c.ifMatchPrevious ? { ...headers, 'if-match': directEtag } : headers,
        });
        const b = await batched.call('POST', '/batch', {
          token: c.token,
          json: {
            requests: [
              {
                method: c.method,
                path: c.path,
                headers: c.ifMatchPrevious ? { ...headers, 'if-match': batchEtag } : headers,
                ...(c.json !== undefined ? { body: c.json } : {}),
              },
            ],
          },
        });
        expect(b.status, c.name).toBe(200);
        const op = b.json.responses[0];
        expect(op.status, c.name).toBe(d.status);
        expect(mask(op.body), c.name).toEqual(mask(d.json));
        expect(op.headers['content-type'] ?? null, c.name).toBe(d.headers.get('content-type'));
        expect(Boolean(op.headers.etag), c.name).toBe(d.headers.has('etag'));
        if (d.headers.get('etag')) directEtag = d.headers.get('etag')!;
        if (op.headers.etag) batchEtag = op.headers.etag;
      }
    });
  });
});
