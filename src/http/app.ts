import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Hono, type Context } from 'hono';
import type { RequestBody } from '../api/types.js';
import { hasScope, type Principal } from '../auth/principal.js';
import { batchPathsOf, DIALECTS, mediaTypeOf, type Dialect } from '../dialects/index.js';
import { ApiError, toApiError } from '../errors.js';
import { IDEMPOTENCY_KEY_HEADER, parseIdempotencyKey, requestFingerprint, runKeyedWrite } from '../idempotency/index.js';
import { withLogFields } from '../log-context.js';
import { RouteMatcher } from '../metrics/index.js';
import type { Services } from '../services.js';
import { adminTokenRoutes } from './admin-tokens.js';
import { docsRoutes, packageVersion } from './docs-routes.js';
import { handleBatchRequest, type BatchEnvironment } from './batch-handler.js';
import { serverBatchObserver } from './batch-observer.js';
import { readRequestText } from './node-incoming.js';
import { headerMap, problemWebResponse, rawTarget, requestToken, toWebResponse } from './web.js';

/** `dialect`: set by a batch endpoint that took the request (for metrics and the request's log line). */
export type OmnibusEnv = { Variables: { requestId: string; principal: Principal; dialect?: string } };

/**
 * The HTTP adapter: Hono in front of the framework-free resource API. It
 * authenticates, reads bodies within the size limit, and turns ApiResponses
 * into Web Responses. No resource logic lives here.
 */
export function createHttpApp(services: Services, dialects: readonly Dialect[] = DIALECTS): Hono<OmnibusEnv> {
  const { logger, config } = services;
  const app = new Hono<OmnibusEnv>();

  app.onError((err) => {
    if (!(err instanceof ApiError)) services.logUnexpected(err);
    return problemWebResponse(toApiError(err));
  });

  // The app's own routes, for the `route` label; built at the first request, once every route is registered.
  let routes: RouteMatcher | undefined;
  const routeOf = (path: string): string =>
    (routes ??= new RouteMatcher(app.routes.map((r) => r.path))).match(path) ?? services.resourceRoute(path);

  app.use('*', async (c, next) => {
    const requestId = acceptedRequestId(c.req.header('x-request-id')) ?? randomUUID();
    c.set('requestId', requestId);
    const started = performance.now();
    await withLogFields({ reqId: requestId, method: c.req.method, route: c.req.path }, next);
    c.res.headers.set('x-request-id', requestId);
    const ms = performance.now() - started;
    const dialect = c.get('dialect');
    services.meter.httpRequest(dialect ?? 'none', c.req.method, routeOf(c.req.path), c.res.status, ms / 1000);
    logger.info(
      { reqId: requestId, method: c.req.method, path: c.req.path, ...(dialect ? { dialect } : {}), status: c.res.status, ms: +ms.toFixed(2) },
      'request',
    );
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  // The OpenAPI document and the reference page on it take no token: they describe the API and hold no data.
  app.route('/', docsRoutes(packageVersion()));

  // OData clients (SAP Cloud SDK) send HEAD to the batch endpoint for a CSRF token before a batch.
  // Omnibus takes bearer tokens, not cookies, so it needs none and issues none: HEAD answers 200.
  for (const path of ['/v1/$batch', '/v1/$batch/', '/v1/%24batch', '/v1/%24batch/']) {
    app.get(path, (c, next) => (c.req.method === 'HEAD' ? c.body(null, 200) : next()));
  }

  // Batch endpoints authenticate for themselves, so that a refusal comes in the dialect's own form.
  const batchEnv = serverBatchEnvironment(services);
  for (const dialect of dialects) {
    for (const endpoint of dialect.endpoints) {
      app.post(endpoint.path, async (c, next) => {
        if (endpoint.mediaTypes && !endpoint.mediaTypes.includes(mediaTypeOf(c.req.header('content-type')))) return next();
        c.set('dialect', dialect.name);
        return handleBatchRequest(dialect, c.req.raw, rawTarget(c).query, batchEnv, (limit) => readRequestText(c, limit), {
          address: clientAddress(c),
        });
      });
    }
  }

  app.use('*', async (c, next) => {
    const { query } = rawTarget(c);
    const limiter = services.rateLimiter;
    const address = clientAddress(c);
    // Failed authentications count against the address; an address over the limit is refused before its token is read.
    const blocked = limiter?.blockedFor(address);
    if (limiter && blocked !== undefined) throw limiter.blockedError(blocked);
    let principal: Principal | undefined;
    let failure: unknown;
    try {
      principal = await services.auth.authenticate(requestToken(c.req.raw.headers, query));
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) throw err;
      failure = err;
    }
    if (!principal) {
      const wait = await limiter?.failedAuthentication(address);
      if (limiter && wait !== undefined) throw limiter.blockedError(wait);
      throw failure ?? new ApiError(401, 'unauthorized', 'A valid token is required (Authorization: Bearer <token> or ?token=).');
    }
    if (limiter) {
      const grant = await limiter.reserve(principal, 1);
      if (grant.granted < 1) throw limiter.error(grant.retryAfterS);
    }
    c.set('principal', principal);
    await next();
  });

  // With OMNIBUS_METRICS_PORT the metrics are served on that port only (src/metrics/metrics-server.ts).
  if (config.metricsPort === undefined) {
    app.get('/metrics', async (c) => {
      if (!hasScope(c.get('principal'), 'admin')) throw new ApiError(403, 'forbidden', 'Metrics need the admin scope.');
      return c.body(await services.meter.render(), 200, { 'content-type': services.meter.contentType });
    });
  }

  app.route('/admin/tokens', adminTokenRoutes(services));

  app.all('*', async (c) => {
    const { path, query } = rawTarget(c);
    const method = c.req.method.toUpperCase();
    // A key on a single write makes it idempotent; on a read (GET, HEAD) it is ignored.
    const key = services.idempotency && WRITE_METHODS.has(method) ? parseIdempotencyKey(c.req.header(IDEMPOTENCY_KEY_HEADER)) : undefined;
    const req = {
      method,
      path,
      query,
      headers: headerMap(c.req.raw.headers),
      body: await readRequestBody(c, config.maxBatchBytes),
      principal: c.get('principal'),
    };
    if (key === undefined || !services.idempotency) return toWebResponse(await services.api(req), method === 'HEAD');
    const fingerprint = requestFingerprint(method, path, query, req.body.kind === 'text' ? req.body.text : '');
    return services.idempotency.run({ tenant: req.principal.tenant, key, fingerprint }, (attempt) =>
      runKeyedWrite(services.store, services.api, req, attempt),
    );
  });

  return app;
}

async function readRequestBody(c: Context, limit: number): Promise<RequestBody> {
  if (c.req.method === 'GET' || c.req.method === 'HEAD') return { kind: 'none' };
  const text = await readRequestText(c, limit);
  const contentType = c.req.header('content-type');
  if (text === '' && contentType === undefined) return { kind: 'none' };
  return { kind: 'text', text, contentType };
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The client's address as the socket gives it (never a forwarding header: those are the client's to write). */
function clientAddress(c: Context): string | undefined {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket?.remoteAddress;
}

/**
 * A client's `X-Request-Id`, kept when it is 1 to 128 characters of letters,
 * digits and `-_.:+/=@~` (UUIDs, ULIDs, hex, base64 and base64url ids, a
 * proxy's `host:counter`); anything else is replaced by a fresh UUID, never
 * echoed, so that what lands in logs and headers is always plain.
 */
export function acceptedRequestId(id: string | undefined): string | undefined {
  return id !== undefined && REQUEST_ID.test(id) ? id : undefined;
}

const REQUEST_ID = /^[A-Za-z0-9._:+/=@~-]{1,128}$/;

function serverBatchEnvironment(services: Services): BatchEnvironment {
  const { config, store, auth, logger } = services;
  return {
    maxBatchBytes: config.maxBatchBytes,
    batchDeadlineMs: config.batchDeadlineMs,
    operationsStopAt: () => services.operationsStopAt,
    maxOperations: (dialect) => dialect.maxOperations(config),
    // Every dialect's endpoints, registered here or not: no operation may reach any batch endpoint.
    batchPaths: batchPathsOf(DIALECTS),
    authenticate: (token) => auth.authenticate(token),
    dispatch: services.api,
    transactions: store,
    readAhead: services.readAhead,
    lockAhead: services.lockAhead,
    sharesCommit: services.sharesCommit,
    // SQLite has one writer: there a graph batch runs one unit at a time and shares the batch commit.
    batchConcurrency: store.kind === 'sqlite' ? 1 : config.batchConcurrency,
    maxQueries: config.compositeMaxQueries,
    precheck: (principal) => ({
      countObjects: () => store.countRecords(principal.tenant),
      maxObjects: config.tenantMaxObjects[principal.tenant] ?? config.maxObjects,
    }),
    onError: (err) => services.logUnexpected(err),
    idempotency: services.idempotency,
    rateLimit: services.rateLimiter,
    observer: serverBatchObserver(services.meter, logger, services.resourceRoute),
  };
}
