import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { batchPrincipal, fastifyPath, omnibus, type OmnibusFastifyOptions } from '../src/adapters/fastify/index.js';
import type { Principal } from '../src/auth/principal.js';
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

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

type Params = { collection: string; id: string };

/**
 * A user's own Fastify 5 app: the records API as a plugin under `/v1` with
 * its own auth hook and route schemas, a route that reads `batchPrincipal()`,
 * one that echoes its headers, a `POST /v1` of its own, and the Omnibus
 * plugin, listening on 127.0.0.1.
 */
async function userApp(options: Partial<OmnibusFastifyOptions> = {}) {
  const database = await openDatabase();
  cleanups.push(database.close);
  const api = recordsApi(database);
  const seen: Seen = { authRuns: 0, principals: [] };
  const echoed: Array<Record<string, unknown>> = [];
  const send = (reply: FastifyReply, r: UserResponse) => reply.code(r.status).headers(r.headers).send(r.body === undefined ? undefined : JSON.stringify(r.body));
  const auth = async (req: FastifyRequest, reply: FastifyReply) => {
    const r = userAuth(seen, req.method, req.headers.authorization);
    if ('status' in r) return send(reply, r);
    req.principal = r;
  };
  const p = (req: FastifyRequest) => req.principal!;

  const app = Fastify();
  app.decorateRequest('principal', null);
  app.addContentTypeParser('application/merge-patch+json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  await app.register(omnibus, { authenticate, transactions: database.tx, ...options });

  const collection = { type: 'string', pattern: '^[A-Za-z]+$' };
  const id = { type: 'string', maxLength: 20 };
  await app.register(
    async (v1) => {
      v1.addHook('onRequest', auth);
      v1.get<{ Params: Params }>('/:collection', { schema: { params: { type: 'object', properties: { collection } } } }, (req, reply) =>
        api.list(p(req), req.params.collection).then((r) => send(reply, r)),
      );
      v1.post<{ Params: Params }>('/:collection', { schema: { params: { type: 'object', properties: { collection } }, body: { type: 'object' } } }, (req, reply) =>
        api.create(p(req), req.params.collection, req.body).then((r) => send(reply, r)),
      );
      const item = { params: { type: 'object', properties: { collection, id } } };
      v1.get<{ Params: Params }>('/:collection/:id', { schema: item }, (req, reply) => api.get(p(req), req.params.collection, req.params.id).then((r) => send(reply, r)));
      v1.put<{ Params: Params }>('/:collection/:id', { schema: { ...item, body: { type: 'object' } } }, (req, reply) =>
        api.put(p(req), req.params.collection, req.params.id, req.body, req.headers['if-match']).then((r) => send(reply, r)),
      );
      v1.patch<{ Params: Params }>('/:collection/:id', { schema: { ...item, body: { type: 'object' } } }, (req, reply) =>
        api.patch(p(req), req.params.collection, req.params.id, req.body, req.headers['if-match']).then((r) => send(reply, r)),
      );
      v1.delete<{ Params: Params }>('/:collection/:id', { schema: item }, (req, reply) =>
        api.remove(p(req), req.params.collection, req.params.id, req.headers['if-match']).then((r) => send(reply, r)),
      );
    },
    { prefix: '/v1' },
  );
  app.post('/v1', async () => ({ usersOwnPostV1: true }));
  app.get<{ Params: { ref: string } }>('/api/object/:ref', { onRequest: auth }, (req, reply) => api.object(p(req), req.params.ref).then((r) => send(reply, r)));
  app.get('/whoami', { onRequest: auth }, async (req) => {
    const principal = batchPrincipal() ?? p(req);
    return { subject: principal.subject, tenant: principal.tenant };
  });
  app.get('/echo-headers', async (req) => {
    echoed.push({ ...req.headers });
    return { ok: true };
  });

  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => app.close());
  const call = async (path: string, init: RequestInit = {}): Promise<BatchAnswer> => {
    const res = await fetch(url + path, init);
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text() };
  };
  const batch = (b: BatchCall) =>
    call(b.path, { method: 'POST', headers: { 'content-type': b.contentType, authorization: `Bearer ${b.token ?? 'alice-token'}` }, body: b.body });
  const ops = async (requests: unknown[], token = 'alice-token') => {
    const r = await batch({ path: '/batch', contentType: 'application/json', body: JSON.stringify({ requests }), token });
    return { status: r.status, json: JSON.parse(r.text) as { responses: Array<{ status: number; headers: Record<string, string>; body: any }> } & Record<string, unknown> };
  };
  return { app, api, seen, echoed, call, batch, ops };
}

describe('omnibus/fastify on a real Fastify 5 app', () => {
  describe('every dialect registered in src/dialects/index.ts runs against the user’s own routes', () => {
    for (const dialect of DIALECTS) {
      it(dialect.name, async () => {
        const scenario = DIALECT_SCENARIOS[dialect.name];
        if (!scenario) throw new Error(`no adapter scenario for the ${dialect.name} dialect: add one to test/support/adapter-app.ts`);
        const u = await userApp();
        await scenario.check(await u.batch(scenario.batch), u.api);
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
          Forwarded: 'for=10.0.0.1',
          'X-HTTP-Method-Override': 'DELETE',
          'X-Trace': 'kept',
        },
      },
      { method: 'GET', path: '/whoami', headers: { Authorization: 'Bearer bob-token' } },
    ]);
    expect(r.json.responses.map((x) => x.status)).toEqual([200, 200]);
    const got = u.echoed[0]!;
    for (const h of ['authorization', 'cookie', 'proxy-authorization', 'x-api-key', 'api-key', 'x-forwarded-for', 'forwarded', 'x-http-method-override']) {
      expect(got, h).not.toHaveProperty(h);
    }
    expect(got['host']).not.toBe('evil.example');
    expect(got['x-trace']).toBe('kept');
    expect(r.json.responses[1]!.body).toEqual({ subject: 'alice', tenant: 't1' });
    const plain = await u.call('/whoami', { headers: { authorization: 'Bearer bob-token', 'x-omnibus-principal': 'alice', omnibusPrincipal: 'alice' } });
    expect(JSON.parse(plain.text)).toEqual({ subject: 'bob', tenant: 't2' });
  });

  it('the route’s own auth hook and schemas run for every operation', async () => {
    const u = await userApp();
    const r = await u.ops(
      [
        { method: 'GET', path: '/v1/books' },
        { method: 'PUT', path: '/v1/books/x', body: { t: 1 } },
        { method: 'GET', path: `/v1/books/${'z'.repeat(21)}` },
      ],
      'reader-token',
    );
    expect(r.json.responses.map((x) => x.status)).toEqual([200, 403, 400]);
    expect(u.seen.principals).toEqual(['reader', 'reader', 'reader']);
    // Fastify's own schema validation answers inside the batch, in Fastify's own error form.
    expect(r.json.responses[2]!.body).toMatchObject({ statusCode: 400, code: 'FST_ERR_VALIDATION' });
    const w = await u.ops([{ method: 'PUT', path: '/v1/books/y', body: [1, 2] }]);
    expect(w.json.responses[0]!.status).toBe(400);
    expect(u.seen.authRuns).toBe(4);
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
        { id: 'g3', method: 'PATCH', path: '/v1/books/g1', headers: 'If-Match: "stale"\nContent-Type: application/json', body: '{"n":3}', transaction: 'T' },
      ]),
    });
    const json = JSON.parse(answer.text) as Array<{ id: string; code: number }>;
    expect(json.map((r) => [r.id, r.code])).toEqual([['solo', 201], ['g1', 424], ['g2', 424], ['g3', 412]]);
    expect(await u.api.stored('t1', 'books')).toEqual([{ kept: true, id: 'solo' }]);
  });

  it('validates everything before anything runs: size, paths, nesting, token, body limit', async () => {
    const u = await userApp({ maxOps: 3, maxBatchBytes: 2000 });
    const get = { method: 'GET', path: '/v1/books' };
    const tooMany = await u.ops([get, get, get, get]);
    expect([tooMany.status, tooMany.json['code']]).toEqual([413, 'batch_too_large']);
    const nested = await u.ops([get, { method: 'POST', path: '/v1/%24batch', body: {} }]);
    expect([nested.status, nested.json['code']]).toEqual([400, 'nested_batch']);
    const dotdot = await u.ops([get, { method: 'GET', path: '/v1/%2e%2e/batch' }]);
    expect([dotdot.status, dotdot.json['code']]).toEqual([400, 'invalid_path']);
    const noToken = await u.ops([get], 'wrong-token');
    expect([noToken.status, noToken.json['code']]).toEqual([401, 'unauthorized']);
    const big = await u.ops([{ method: 'PUT', path: '/v1/books/big', body: { s: 'x'.repeat(3000) } }]);
    expect([big.status, big.json['code']]).toEqual([413, 'body_too_large']);
    expect(u.seen.authRuns).toBe(0);
  });

  it('routes /v1/%24batch like /v1/$batch, and keeps the user’s own POST /v1 for every type but the parts batch’s', async () => {
    const u = await userApp();
    const odata = (path: string) =>
      u.batch({ path, contentType: 'application/json', body: JSON.stringify({ requests: [{ id: '1', method: 'GET', url: '/whoami' }] }) });
    for (const path of ['/v1/$batch', '/v1/%24batch']) {
      const r = await odata(path);
      expect(r.status, path).toBe(200);
      expect(JSON.parse(r.text).responses[0].body).toEqual({ subject: 'alice', tenant: 't1' });
    }
    const own = await u.batch({ path: '/v1', contentType: 'application/json', body: '{}' });
    expect(JSON.parse(own.text)).toEqual({ usersOwnPostV1: true });
    const parts = await u.batch({ path: '/v1', contentType: 'application/vnd.oracle.adf.batch+json', body: JSON.stringify({ parts: [{ id: 'a', path: '/v1/books/q', operation: 'get' }] }) });
    expect(parts.status).toBe(404);
    expect(JSON.parse(parts.text).parts[0].id).toBe('a');
  });

  it('answers HEAD /v1/$batch with 200, as OData clients expect before a batch', async () => {
    const u = await userApp();
    for (const path of ['/v1/$batch', '/v1/$batch/', '/v1/%24batch']) expect((await u.call(path, { method: 'HEAD' })).status, path).toBe(200);
  });

  it('turns a percent-encoded reserved segment into a parameter that matches exactly its decoded value', () => {
    expect(fastifyPath('/v1/%24batch')).toBe('/v1/:omnibus0(^\\$batch$)');
    expect(fastifyPath('/batch/parts')).toBe('/batch/parts');
    expect(fastifyPath('/services/data/:version{v[0-9]+\\.[0-9]+}/composite')).toBe('/services/data/:version(^v[0-9]+\\.[0-9]+$)/composite');
    expect(fastifyPath('/services/data/:version{v[0-9]+\\.[0-9]+}/composite/*')).toBe('/services/data/:version(^v[0-9]+\\.[0-9]+$)/composite/*');
  });
});
