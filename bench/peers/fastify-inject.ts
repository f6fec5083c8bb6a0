/**
 * Fastify 5 with a batch route on `fastify.inject` (light-my-request): every operation of
 * `POST /batch` is injected into the same app at once, with the batch's Authorization, and
 * answered with its status, headers and parsed body. No batch plugin for Fastify 5 is
 * maintained on npm; this is the few lines its documentation suggests.
 */
import Fastify from 'fastify';
import { runChild } from './child.js';
import { bearerCheck, openResource, type Answer } from './resource.js';

interface Op {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
}

type Params = { collection: string; id: string };

await runChild(async (s) => {
  const resource = await openResource(s.store, s.where);
  const check = bearerCheck(s.tokens);
  const app = Fastify({ bodyLimit: s.bodyLimit, logger: false });
  app.decorateRequest('who', null);
  app.addHook('onRequest', async (req, reply) => {
    const who = check(req.headers.authorization);
    if (!who) return reply.code(401).send({ status: 401, code: 'unauthorized' });
    (req as unknown as { who: unknown }).who = who;
  });
  const who = (req: object) => (req as { who: { tenant: string; subject: string } }).who;
  const send = (reply: { code(n: number): { headers(h: object): { send(b: unknown): unknown } } }, a: Answer) => reply.code(a.status).headers(a.headers).send(a.body);
  app.get<{ Params: Params }>('/v1/:collection/:id', async (req, reply) => send(reply, await resource.get(who(req).tenant, req.params.collection, req.params.id)));
  app.post<{ Params: Params }>('/v1/:collection', async (req, reply) =>
    send(reply, await resource.create(who(req).tenant, req.params.collection, req.body, who(req).subject)),
  );
  app.put<{ Params: Params }>('/v1/:collection/:id', async (req, reply) =>
    send(reply, await resource.put(who(req).tenant, req.params.collection, req.params.id, req.body, req.headers['if-match'], who(req).subject)),
  );
  app.get<{ Params: Params; Querystring: { ids?: string } }>('/bench/etags/:collection', async (req) =>
    resource.etags(who(req).tenant, req.params.collection, String(req.query.ids ?? '').split(',')),
  );

  app.post('/batch', async (req, reply) => {
    const ops = (req.body as { requests?: Op[] }).requests;
    if (!Array.isArray(ops)) return reply.code(400).send({ status: 400, code: 'invalid_batch' });
    const authorization = req.headers.authorization!;
    const responses = await Promise.all(
      ops.map(async (op) => {
        const payload = op.body === undefined ? undefined : JSON.stringify(op.body);
        const r = await app.inject({
          method: op.method as 'GET',
          url: op.path,
          headers: { ...op.headers, authorization, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
          payload,
        });
        return { status: r.statusCode, headers: r.headers, body: r.body ? (JSON.parse(r.body) as unknown) : null };
      }),
    );
    return { responses };
  });

  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: async () => {
      await app.close();
      await resource.close();
    },
  };
});
