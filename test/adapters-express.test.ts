import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { batchPrincipal, omnibus, type OmnibusExpressOptions } from '../src/adapters/express/index.js';
import { DIALECTS } from '../src/dialects/index.js';
import {
  authenticate,
  DIALECT_SCENARIOS,
  openDatabase,
  recordsApi,
  userAuth,
  type BatchAnswer,
  type BatchCall,
  type Seen,
  type UserResponse,
} from './support/adapter-app.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Mount = 'before-parser' | 'after-parser' | 'prefix';

/**
 * A user's own Express 5 app: an Express Router for the records API behind
 * the user's own auth middleware, a route that reads `batchPrincipal()`, one
 * that echoes the headers it got, and the Omnibus middleware, served over
 * real HTTP on 127.0.0.1.
 */
async function userApp(options: Partial<OmnibusExpressOptions> = {}, mount: Mount = 'before-parser') {
  const database = await openDatabase();
  cleanups.push(database.close);
  const api = recordsApi(database);
  const seen: Seen = { authRuns: 0, principals: [] };
  const echoed: Array<Record<string, unknown>> = [];
  const send = (res: Response, r: UserResponse) => {
    res.status(r.status).set(r.headers);
    if (r.body === undefined) res.end();
    else res.send(JSON.stringify(r.body));
  };
  const auth = (req: Request, res: Response, next: NextFunction) => {
    const r = userAuth(seen, req.method, req.headers.authorization);
    if ('status' in r) return send(res, r);
    res.locals['principal'] = r;
    next();
  };
  const wrap = (fn: (req: Request, res: Response) => Promise<UserResponse>) => (req: Request, res: Response, next: NextFunction) =>
    fn(req, res).then((r) => send(res, r), next);
  const p = (res: Response) => res.locals['principal'];
  const s = (req: Request, name: string) => String(req.params[name]);

  const app = express();
  const batches = omnibus({ authenticate, transactions: database.tx, ...options });
  if (mount === 'before-parser') app.use(batches);
  app.use(express.json({ type: ['application/json', 'application/merge-patch+json'] }));
  if (mount === 'after-parser') app.use(batches);
  if (mount === 'prefix') app.use('/api', batches);

  const v1 = express.Router();
  v1.use(auth);
  v1.get('/:collection', wrap((req, res) => api.list(p(res), s(req, 'collection'))));
  v1.post('/:collection', wrap((req, res) => api.create(p(res), s(req, 'collection'), req.body)));
  v1.get('/:collection/:id', wrap((req, res) => api.get(p(res), s(req, 'collection'), s(req, 'id'))));
  v1.put('/:collection/:id', wrap((req, res) => api.put(p(res), s(req, 'collection'), s(req, 'id'), req.body, req.get('if-match'))));
  v1.patch('/:collection/:id', wrap((req, res) => api.patch(p(res), s(req, 'collection'), s(req, 'id'), req.body, req.get('if-match'))));
  v1.delete('/:collection/:id', wrap((req, res) => api.remove(p(res), s(req, 'collection'), s(req, 'id'), req.get('if-match'))));
  app.use('/v1', v1);
  app.get('/api/object/:ref', auth, wrap((req, res) => api.object(p(res), s(req, 'ref'))));
  app.get('/whoami', auth, (_req, res) => {
    const principal = batchPrincipal() ?? p(res);
    res.json({ subject: principal.subject, tenant: principal.tenant });
  });
  app.get('/echo-headers', (req, res) => {
    echoed.push({ ...req.headers });
    res.json({ ok: true });
  });

  const server = await new Promise<Server>((resolve) => {
    const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
  });
  cleanups.push(() => new Promise((r) => server.close(r)));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call = async (path: string, init: RequestInit = {}): Promise<BatchAnswer> => {
    const res = await fetch(url + path, init);
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text() };
  };
  const batch = (b: BatchCall) =>
    call(b.path, { method: 'POST', headers: { 'content-type': b.contentType, authorization: `Bearer ${b.token ?? 'alice-token'}` }, body: b.body });
  const ops = async (requests: unknown[], token = 'alice-token', prefix = '') => {
    const r = await batch({ path: `${prefix}/batch`, contentType: 'application/json', body: JSON.stringify({ requests }), token });
    return { status: r.status, json: JSON.parse(r.text) as { responses: Array<{ status: number; headers: Record<string, string>; body: any }> } & Record<string, unknown> };
  };
  return { app, api, seen, echoed, call, batch, ops };
}

describe('omnibus/express on a real Express 5 app', () => {
  describe('every dialect registered in src/dialects/index.ts runs against the user’s own routes', () => {
    for (const dialect of DIALECTS) {
      it(dialect.name, async () => {
        const scenario = DIALECT_SCENARIOS[dialect.name];
        if (!scenario) throw new Error(`no adapter scenario for the ${dialect.name} dialect: add one to test/support/adapter-app.ts`);
        const u = await userApp();
        await scenario.check(await u.batch(scenario.batch), u.api);
        // The user's own routes still answer ordinary HTTP, with bodies, after in-process dispatch.
        const put = await u.call('/v1/plain/x1', { method: 'PUT', headers: { authorization: 'Bearer alice-token', 'content-type': 'application/json' }, body: JSON.stringify({ big: 'y'.repeat(50_000) }) });
        expect(put.status).toBe(201);
      });
    }
  });

  it('the batch principal reaches routes through batchPrincipal(); credential, identity and routing headers inside operations are stripped', async () => {
    const u = await userApp();
    const r = await u.ops([
      {
        method: 'GET',
        path: '/echo-headers',
        headers: {
          Authorization: 'Bearer bob-token',
          Cookie: 'sid=1',
          'Proxy-Authorization': 'Basic eA==',
          'X-API-Key': 'k',
          'Api-Key': 'k',
          Host: 'evil.example',
          'X-Forwarded-For': '10.0.0.1',
          'X-Forwarded-Host': 'evil.example',
          Forwarded: 'for=10.0.0.1',
          'X-HTTP-Method-Override': 'DELETE',
          'X-Trace': 'kept',
        },
      },
      { method: 'GET', path: '/whoami', headers: { Authorization: 'Bearer bob-token' } },
    ]);
    expect(r.json.responses.map((x) => x.status)).toEqual([200, 200]);
    const got = u.echoed[0]!;
    for (const h of ['authorization', 'cookie', 'proxy-authorization', 'x-api-key', 'api-key', 'x-forwarded-for', 'x-forwarded-host', 'forwarded', 'x-http-method-override']) {
      expect(got, h).not.toHaveProperty(h);
    }
    expect(got['host']).not.toBe('evil.example');
    expect(got['x-trace']).toBe('kept');
    expect(r.json.responses[1]!.body).toEqual({ subject: 'alice', tenant: 't1' });
    // Outside a batch there is no batch principal, whatever the request's headers say.
    const plain = await u.call('/whoami', { headers: { authorization: 'Bearer bob-token', 'x-omnibus-principal': 'alice', omnibusPrincipal: 'alice' } });
    expect(JSON.parse(plain.text)).toEqual({ subject: 'bob', tenant: 't2' });
  });

  it('the route’s own auth middleware runs for every operation, with the batch principal’s scopes', async () => {
    const u = await userApp();
    const r = await u.ops(
      [
        { method: 'GET', path: '/v1/books' },
        { method: 'PUT', path: '/v1/books/x', body: { t: 1 } },
        { method: 'GET', path: '/v1/books/x' },
      ],
      'reader-token',
    );
    expect(r.status).toBe(200);
    expect(r.json.responses.map((x) => x.status)).toEqual([200, 403, 404]);
    expect(r.json.responses[1]!.body.code).toBe('forbidden');
    expect(u.seen.authRuns).toBe(3);
    expect(u.seen.principals).toEqual(['reader', 'reader', 'reader']);
  });

  it('a failing transaction group rolls back the user’s own writes in their database; operations outside it stay', async () => {
    const u = await userApp();
    const answer = await u.batch({
      path: '/v1/batch',
      contentType: 'application/json',
      body: JSON.stringify([
        { id: 'solo', method: 'PUT', path: '/v1/books/solo', body: '{"kept":true}' },
        { id: 'g1', method: 'PUT', path: '/v1/books/g1', body: '{"n":1}', transaction: 'T' },
        { id: 'g2', method: 'POST', path: '/v1/books', body: '{"n":2}', transaction: 'T' },
        { id: 'g3', method: 'PATCH', path: '/v1/books/g1', headers: 'If-Match: "stale"', body: '{"n":3}', transaction: 'T' },
      ]),
    });
    const json = JSON.parse(answer.text) as Array<{ id: string; code: number }>;
    expect(json.map((r) => [r.id, r.code])).toEqual([['solo', 201], ['g1', 424], ['g2', 424], ['g3', 412]]);
    expect(await u.api.stored('t1', 'books')).toEqual([{ kept: true, id: 'solo' }]);

    // The parts dialect is all or nothing: a failing part undoes the parts before it.
    const parts = await u.batch({
      path: '/batch/parts',
      contentType: 'application/json',
      body: JSON.stringify({
        parts: [
          { id: 'p1', path: '/v1/books/p1', operation: 'replace', payload: { a: 1 } },
          { id: 'p2', path: '/v1/books/none', operation: 'delete' },
        ],
      }),
    });
    expect(parts.status).toBe(404);
    expect(JSON.parse(parts.text).parts.map((p: { id: string }) => p.id)).toEqual(['p2']);
    expect(await u.api.stored('t1', 'books')).toEqual([{ kept: true, id: 'solo' }]);
  });

  it('without a transactions hook, groups are refused rather than run without atomicity', async () => {
    const u = await userApp({ transactions: undefined });
    const answer = await u.batch({
      path: '/v1/batch',
      contentType: 'application/json',
      body: JSON.stringify([
        { id: '1', method: 'PUT', path: '/v1/books/a', body: '{}', transaction: 'T' },
        { id: '2', method: 'PUT', path: '/v1/books/b', body: '{}', transaction: 'T' },
      ]),
    });
    expect((JSON.parse(answer.text) as Array<{ code: number }>).map((r) => r.code)).toEqual([400, 424]);
    expect(await u.api.stored('t1', 'books')).toEqual([]);
  });

  it('validates everything before anything runs: size, paths, nesting, token, body limit', async () => {
    const u = await userApp({ maxOps: 3, maxBatchBytes: 2000 });
    const get = { method: 'GET', path: '/v1/books' };
    const tooMany = await u.ops([get, get, get, get]);
    expect([tooMany.status, tooMany.json['code']]).toEqual([413, 'batch_too_large']);
    const nested = await u.ops([get, { method: 'POST', path: '/batch', body: { requests: [] } }]);
    expect([nested.status, nested.json['code']]).toEqual([400, 'nested_batch']);
    const dotdot = await u.ops([get, { method: 'GET', path: '/v1/../batch' }]);
    expect([dotdot.status, dotdot.json['code']]).toEqual([400, 'invalid_path']);
    const noToken = await u.ops([get], 'wrong-token');
    expect([noToken.status, noToken.json['code']]).toEqual([401, 'unauthorized']);
    const big = await u.ops([{ method: 'PUT', path: '/v1/books/big', body: { s: 'x'.repeat(3000) } }]);
    expect([big.status, big.json['code']]).toEqual([413, 'body_too_large']);
    expect(u.seen.authRuns).toBe(0);
    // Refused in the dialect's own form: the XML batch answers XML.
    const xml = await u.batch({ path: '/api/object/batch', contentType: 'application/xml', body: '<request/>' });
    expect(xml.status).toBe(400);
    expect(xml.text).toMatch(/<response status="error"/);
  });

  it('serves only the dialects it is given, and passes other requests on with next()', async () => {
    const u = await userApp({ dialects: DIALECTS.filter((d) => d.name === 'ops') });
    expect((await u.ops([{ method: 'GET', path: '/whoami' }])).status).toBe(200);
    const requests = await u.batch({ path: '/v1/batch', contentType: 'application/json', body: '[]' });
    // /v1/batch is then the user's own route: POST /v1/:collection creates a record in "batch".
    expect(requests.status).toBe(201);
  });

  it('mounted after express.json(), it takes the body the parser left', async () => {
    const u = await userApp({}, 'after-parser');
    const r = await u.ops([{ method: 'PUT', path: '/v1/books/j', body: { a: 1 } }, { method: 'GET', path: '/v1/books/j' }]);
    expect(r.json.responses.map((x) => x.status)).toEqual([201, 200]);
  });

  it('mounted under a prefix, an operation that reaches the batch endpoint is refused as nested', async () => {
    const u = await userApp({}, 'prefix');
    const r = await u.ops([{ method: 'GET', path: '/whoami' }, { method: 'POST', path: '/api/batch', body: { requests: [] } }], 'alice-token', '/api');
    expect(r.status).toBe(200);
    expect(r.json.responses.map((x) => x.status)).toEqual([200, 400]);
    expect(r.json.responses[1]!.body.code).toBe('nested_batch');
  });
});
