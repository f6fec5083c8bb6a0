import type { IncomingMessage } from 'node:http';
import { Hono } from 'hono';
import { batchEnvironment, type OmnibusCommonOptions } from './adapters/shared.js';
import { DIALECTS, mediaTypeOf } from './dialects/index.js';
import { fetchDispatcher, type FetchHandler } from './engine/fetch-dispatcher.js';
import type { Dispatcher } from './engine/types.js';
import { handleBatchRequest } from './http/batch-handler.js';
import { readRequestText } from './http/node-incoming.js';

/** The options of every framework entry (src/adapters/shared.ts), plus how to reach your Hono app. */
export interface OmnibusOptions extends OmnibusCommonOptions {
  /** Your app's fetch handler (`app.fetch`); every operation is dispatched through it. */
  fetch?: FetchHandler;
  /** Or a direct dispatcher (Omnibus's own resource API uses one). */
  dispatch?: Dispatcher;
}

/**
 * The batch endpoints for your own Hono app:
 *
 *     const app = new Hono();
 *     app.get('/hello/:name', (c) => c.json({ hi: c.req.param('name') }));
 *     app.route('/', omnibus({ fetch: (req, env) => app.fetch(req, env), authenticate }));
 *
 * Operations reach your routes in-process with the batch principal in
 * `c.env` (read it with `batchPrincipal(c.env)`), never as a header.
 */
export function omnibus(options: OmnibusOptions): Hono {
  const dialects = options.dialects ?? DIALECTS;
  const dispatch = options.dispatch ?? (options.fetch && fetchDispatcher(options.fetch));
  if (!dispatch) throw new Error('omnibus(): pass `fetch` (your app.fetch) or `dispatch`.');
  const env = batchEnvironment(options, dispatch);
  const app = new Hono();
  for (const dialect of dialects) {
    for (const endpoint of dialect.endpoints) {
      app.post(endpoint.path, async (c, next) => {
        if (endpoint.mediaTypes && !endpoint.mediaTypes.includes(mediaTypeOf(c.req.header('content-type')))) return next();
        // On Node (@hono/node-server) the socket's address, against which failed authentications count.
        const address = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket?.remoteAddress;
        return handleBatchRequest(dialect, c.req.raw, new URL(c.req.url).searchParams, env, (limit) => readRequestText(c, limit), { address });
      });
    }
  }
  return app;
}
