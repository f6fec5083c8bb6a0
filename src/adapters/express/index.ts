import type { IncomingMessage, ServerResponse } from 'node:http';
import { DIALECTS } from '../../dialects/index.js';
import { handleBatchRequest, type BatchEnvironment } from '../../http/batch-handler.js';
import { tooLarge } from '../../http/body.js';
import {
  asBatch,
  batchEnvironment,
  batchRoutes,
  dialectFor,
  headPaths,
  injectDispatcher,
  nestedBatchResponse,
  readStreamText,
  requestOrigin,
  routeFor,
  webHeaders,
  type OmnibusCommonOptions,
} from '../shared.js';
import { expressInjector, type ExpressApp } from './inject.js';

export { batchPrincipal } from '../../engine/fetch-dispatcher.js';
export { transactionContext, type TransactionContext } from '../transactions.js';
export type { OmnibusCommonOptions } from '../shared.js';
export type { Principal, Scope } from '../../auth/principal.js';

type Next = (err?: unknown) => void;

export type { ExpressApp } from './inject.js';

/** The parts of Express's request the middleware reads; plain Node requests work too. */
type ExpressRequest = IncomingMessage & {
  app?: ExpressApp;
  originalUrl?: string;
  protocol?: string;
  body?: unknown;
  _body?: boolean;
};

export interface OmnibusExpressOptions extends OmnibusCommonOptions {
  /**
   * The app operations are dispatched through. Default: the app the
   * middleware is mounted on (`req.app`); pass the top-level app when you
   * mount the middleware on a sub-app whose routes are not the whole API.
   */
  app?: ExpressApp;
}

/**
 * Every batch endpoint as Express middleware, for your own Express 5 app:
 *
 *     import express from 'express';
 *     import { omnibus, batchPrincipal } from 'omnibus/express';
 *
 *     const app = express();
 *     app.use(omnibus({ authenticate }));   // before express.json(): it reads the batch body itself
 *     app.use(express.json());
 *     app.get('/hello/:name', (req, res) => res.json({ hi: req.params.name, who: batchPrincipal()?.subject }));
 *
 * Each operation runs through the app in-process, as a fake request and
 * response (light-my-request): no socket, no loopback HTTP. Your middleware
 * and routes run for every operation as for any request; the batch principal
 * is readable with `batchPrincipal()` (async context), never from a header,
 * and credential headers inside operations are dropped. Requests that are no
 * batch call `next()`.
 */
export function omnibus(options: OmnibusExpressOptions): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  const dialects = options.dialects ?? DIALECTS;
  const routes = batchRoutes(dialects);
  // One environment per app dispatched into (the middleware may be mounted on several).
  const environments = new WeakMap<ExpressApp, BatchEnvironment>();
  const environmentOf = (app: ExpressApp) => {
    let env = environments.get(app);
    if (!env) environments.set(app, (env = batchEnvironment(options, injectDispatcher(expressInjector(app)))));
    return env;
  };

  const heads = new Set(headPaths(dialects));

  return (req: ExpressRequest, res: ServerResponse, next: Next): void => {
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    if (req.method === 'HEAD' && heads.has(path)) {
      res.writeHead(200);
      res.end();
      return;
    }
    if (req.method !== 'POST') return next();
    const route = routeFor(routes, path);
    const dialect = route && dialectFor(route, req.headers['content-type']);
    if (!dialect) return next();
    const app = options.app ?? req.app;
    if (!app) return next(new Error('omnibus/express: no app to dispatch operations to; mount the middleware on an Express app or pass `app`.'));
    const raw = req.originalUrl ?? target;
    const rq = raw.indexOf('?');
    const query = new URLSearchParams(rq < 0 ? '' : raw.slice(rq + 1));
    const web = batchRequest(req, raw);
    const answer =
      nestedBatchResponse(dialect) ??
      asBatch(environmentOf(app), web, query, (env) =>
        handleBatchRequest(dialect, web, query, env, (limit) => readBody(req, limit), { address: req.socket?.remoteAddress }),
      );
    Promise.resolve(answer)
      .then(async (response) => {
        const body = await response.text();
        const headers: Record<string, string> = {};
        response.headers.forEach((value, name) => (headers[name] = value));
        res.writeHead(response.status, headers);
        res.end(body);
      })
      .catch(next);
  };
}

/** The batch request as the batch handler reads it (its URL, headers); the body is read from the stream. */
function batchRequest(req: ExpressRequest, raw: string): Request {
  const origin = requestOrigin(req.protocol, req.headers.host);
  const headers = webHeaders(req.headers);
  try {
    return new Request(origin + raw, { method: 'POST', headers });
  } catch {
    return new Request(origin + '/', { method: 'POST', headers });
  }
}

/**
 * The batch body: from the request stream, or, when a body parser mounted
 * before this middleware already consumed it, from what that parser left in
 * `req.body` (a parsed JSON value is serialised again; mount the middleware
 * before `express.json()` so the batch limit, not the parser's, applies).
 */
async function readBody(req: ExpressRequest, limit: number): Promise<string> {
  if (!req._body && !req.readableEnded) return readStreamText(req, req.headers['content-length'], limit);
  const body = req.body;
  const text = typeof body === 'string' ? body : Buffer.isBuffer(body) ? body.toString('utf8') : body === undefined ? '' : JSON.stringify(body);
  if (Buffer.byteLength(text) > limit) throw tooLarge(limit);
  return text;
}
