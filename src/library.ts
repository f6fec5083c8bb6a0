import { Hono } from 'hono';
import type { Principal } from './auth/principal.js';
import { DEFAULTS } from './config.js';
import { batchPathsOf, DIALECTS, mediaTypeOf, type Dialect } from './dialects/index.js';
import { fetchDispatcher, type FetchHandler } from './engine/fetch-dispatcher.js';
import type { Dispatcher, TransactionRunner } from './engine/types.js';
import { handleBatchRequest } from './http/batch-handler.js';
import { readRequestText } from './http/node-incoming.js';

export interface OmnibusOptions {
  /** Your app's fetch handler (`app.fetch`); every operation is dispatched through it. */
  fetch?: FetchHandler;
  /** Or a direct dispatcher (Omnibus's own resource API uses one). */
  dispatch?: Dispatcher;
  /** Resolves the batch request's token (Bearer or `?token=`) to a principal; undefined answers 401. */
  authenticate(token: string | undefined): Promise<Principal | undefined> | Principal | undefined;
  /** Needed for transaction groups and the `parts` dialect; without it such batches are refused. */
  transactions?: TransactionRunner;
  dialects?: readonly Dialect[];
  maxOps?: number;
  maxXmlOps?: number;
  maxBatchBytes?: number;
  batchDeadlineMs?: number;
  /** Independent units of a dependency-graph batch (odata-json) that may run at once (default 8). */
  batchConcurrency?: number;
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
  const limits = {
    maxOps: options.maxOps ?? DEFAULTS.maxOps,
    maxXmlOps: options.maxXmlOps ?? DEFAULTS.maxXmlOps,
  };
  const env = {
    maxBatchBytes: options.maxBatchBytes ?? DEFAULTS.maxBatchBytes,
    batchDeadlineMs: options.batchDeadlineMs ?? DEFAULTS.batchDeadlineMs,
    maxOperations: (d: Dialect) => d.maxOperations({ ...DEFAULTS, ...limits }),
    batchPaths: batchPathsOf(DIALECTS),
    authenticate: async (token: string | undefined) => options.authenticate(token),
    dispatch,
    transactions: options.transactions,
    batchConcurrency: options.batchConcurrency ?? DEFAULTS.batchConcurrency,
  };
  const app = new Hono();
  for (const dialect of dialects) {
    for (const endpoint of dialect.endpoints) {
      app.post(endpoint.path, async (c, next) => {
        if (endpoint.mediaTypes && !endpoint.mediaTypes.includes(mediaTypeOf(c.req.header('content-type')))) return next();
        return handleBatchRequest(dialect, c.req.raw, new URL(c.req.url).searchParams, env, (limit) => readRequestText(c, limit));
      });
    }
  }
  return app;
}
