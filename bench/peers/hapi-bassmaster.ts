/**
 * hapi with its batch plugin bassmaster: `POST /batch` with `{requests:[{method, path, payload?, query?}]}`,
 * each request run through `server.inject` (bassmaster runs requests without references in
 * parallel) and answered as an array of the operations' bodies. bassmaster sends every
 * operation with the batch's own headers and has no per-operation headers, so the If-Match of
 * an update travels as the query parameter `ifMatch`, which the PUT route reads like the header.
 */
import Hapi from '@hapi/hapi';
import bassmaster from 'bassmaster';
import { runChild } from './child.js';
import { bearerCheck, openResource, type Answer } from './resource.js';

await runChild(async (s) => {
  const resource = await openResource(s.store, s.where);
  const check = bearerCheck(s.tokens);
  const server = Hapi.server({ host: '127.0.0.1', port: 0, routes: { payload: { maxBytes: s.bodyLimit } } });
  server.ext('onRequest', (req, h) => {
    const who = check(req.headers.authorization as string | undefined);
    if (!who) return h.response({ status: 401, code: 'unauthorized' }).code(401).takeover();
    req.app = who;
    return h.continue;
  });
  await server.register(bassmaster as unknown as Hapi.Plugin<unknown>);
  const who = (req: Hapi.Request) => req.app as { tenant: string; subject: string };
  const reply = (h: Hapi.ResponseToolkit, a: Answer) => {
    const r = h.response(a.body as object).code(a.status);
    for (const [k, v] of Object.entries(a.headers)) r.header(k, v);
    return r;
  };
  server.route({
    method: 'GET',
    path: '/v1/{collection}/{id}',
    handler: async (req, h) => reply(h, await resource.get(who(req).tenant, String(req.params.collection), String(req.params.id))),
  });
  server.route({
    method: 'POST',
    path: '/v1/{collection}',
    handler: async (req, h) => reply(h, await resource.create(who(req).tenant, String(req.params.collection), req.payload, who(req).subject)),
  });
  server.route({
    method: 'PUT',
    path: '/v1/{collection}/{id}',
    handler: async (req, h) => {
      const ifMatch = (req.headers['if-match'] as string | undefined) ?? (typeof req.query.ifMatch === 'string' ? req.query.ifMatch : undefined);
      return reply(h, await resource.put(who(req).tenant, String(req.params.collection), String(req.params.id), req.payload, ifMatch, who(req).subject));
    },
  });
  server.route({
    method: 'GET',
    path: '/bench/etags/{collection}',
    handler: (req) => resource.etags(who(req).tenant, String(req.params.collection), String(req.query.ids ?? '').split(',')),
  });
  await server.start();
  return {
    port: server.info.port as number,
    close: async () => {
      await server.stop();
      await resource.close();
    },
  };
});
