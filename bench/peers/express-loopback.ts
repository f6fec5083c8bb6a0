/**
 * Express 5 with the loopback batch pattern of the Express batch middlewares on npm
 * (`batch-request` is the model: it fires every operation at once over HTTP to the app's own
 * address, forwarding the batch's Authorization, and answers each operation's status, headers
 * and parsed body). Written here in ~30 lines rather than installed: see docs/dependencies.md.
 * One difference in the peer's favour: sub-requests share a keep-alive agent (batch-request's
 * `request` opened a connection per operation).
 */
import { Agent, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Request, type Response } from 'express';
import { runChild } from './child.js';
import { bearerCheck, openResource, type Answer } from './resource.js';

interface Op {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
}

await runChild(async (s) => {
  const resource = await openResource(s.store, s.where);
  const check = bearerCheck(s.tokens);
  const app = express();
  app.set('etag', false);
  app.set('x-powered-by', false);
  app.use(express.json({ limit: s.bodyLimit }));
  app.use((req, res, next) => {
    const who = check(req.headers.authorization);
    if (!who) return void res.status(401).json({ status: 401, code: 'unauthorized' });
    res.locals.who = who;
    next();
  });
  const send = (res: Response, a: Answer) => void res.status(a.status).set(a.headers).json(a.body);
  const who = (res: Response) => res.locals.who as { tenant: string; subject: string };
  app.get('/v1/:collection/:id', async (req: Request<{ collection: string; id: string }>, res) =>
    send(res, await resource.get(who(res).tenant, req.params.collection, req.params.id)),
  );
  app.post('/v1/:collection', async (req: Request<{ collection: string }>, res) =>
    send(res, await resource.create(who(res).tenant, req.params.collection, req.body, who(res).subject)),
  );
  app.put('/v1/:collection/:id', async (req: Request<{ collection: string; id: string }>, res) =>
    send(res, await resource.put(who(res).tenant, req.params.collection, req.params.id, req.body, req.headers['if-match'], who(res).subject)),
  );
  app.get('/bench/etags/:collection', async (req: Request<{ collection: string }>, res) =>
    void res.json(await resource.etags(who(res).tenant, req.params.collection, String(req.query.ids ?? '').split(','))),
  );

  // The loopback batch route.
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  let port = 0;
  const loopback = (op: Op, authorization: string) =>
    new Promise<{ status: number; headers: unknown; body: unknown }>((resolve, reject) => {
      const body = op.body === undefined ? undefined : JSON.stringify(op.body);
      const headers = { ...op.headers, authorization, ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
      const req = httpRequest({ host: '127.0.0.1', port, method: op.method, path: op.path, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const json = /json/.test(res.headers['content-type'] ?? '');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: json && text ? JSON.parse(text) : text });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  app.post('/batch', async (req, res) => {
    const ops = (req.body as { requests?: Op[] }).requests;
    if (!Array.isArray(ops)) return void res.status(400).json({ status: 400, code: 'invalid_batch' });
    try {
      res.json({ responses: await Promise.all(ops.map((op) => loopback(op, req.headers.authorization!))) });
    } catch (err) {
      res.status(502).json({ status: 502, code: 'loopback_failed', detail: (err as Error).message });
    }
  });

  const server = await new Promise<ReturnType<typeof app.listen>>((resolve) => {
    const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
  });
  port = (server.address() as AddressInfo).port;
  return {
    port,
    close: async () => {
      agent.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await resource.close();
    },
  };
});
