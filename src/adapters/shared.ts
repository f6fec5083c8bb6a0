import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Principal } from '../auth/principal.js';
import { DEFAULTS } from '../config.js';
import { batchPathsOf, DIALECTS, mediaTypeOf, type Dialect } from '../dialects/index.js';
import type { ApiRequest, ApiResponse } from '../api/types.js';
import { batchPrincipal, fetchDispatcher } from '../engine/fetch-dispatcher.js';
import { endpointPattern } from '../engine/paths.js';
import type { Dispatcher, TransactionRunner } from '../engine/types.js';
import { ApiError } from '../errors.js';
import type { BatchEnvironment } from '../http/batch-handler.js';
import type { IdempotencyGuard } from '../idempotency/index.js';
import type { RateLimiter } from '../rate-limit/index.js';
import { tooLarge } from '../http/body.js';
import { requestToken } from '../http/web.js';

/**
 * What every framework entry takes (Hono's `omnibus()`, `omnibus/express`,
 * `omnibus/fastify`): the same options mean the same thing everywhere.
 */
export interface OmnibusCommonOptions {
  /** Resolves the batch request's token (Bearer or `?token=`) to a principal; undefined answers 401. */
  authenticate(token: string | undefined): Promise<Principal | undefined> | Principal | undefined;
  /**
   * Needed for transaction groups and the `parts` dialect; without it such
   * batches are refused. Anything with `transaction(fn)`: an Omnibus store, or
   * your own database through `transactionContext()`.
   */
  transactions?: TransactionRunner;
  /** The dialects to serve (default: all of `DIALECTS`). Operations may target none of any dialect's endpoints. */
  dialects?: readonly Dialect[];
  maxOps?: number;
  maxXmlOps?: number;
  maxBatchBytes?: number;
  batchDeadlineMs?: number;
  /** Independent units of a dependency-graph batch (odata-json) that may run at once (default 8). */
  batchConcurrency?: number;
  /** List GETs one Composite batch may carry (Salesforce allows 5); default 0, no limit beyond `maxOps`. */
  compositeMaxQueries?: number;
  /** Told of every error that made a batch or one of its operations answer 5xx (to log it). */
  onError?(err: unknown): void;
  /**
   * Idempotent retry of batches (`Idempotency-Key`, docs/idempotency.md):
   * `new IdempotencyGuard(store.idempotencyKeys, { ttlS, leaseS, transactions: store })`
   * with an Omnibus store. Without it the header is ignored.
   */
  idempotency?: IdempotencyGuard;
  /** A rate limit, each operation one token: `new RateLimiter({ limit: 600, windowS: 60 }, new MemoryBuckets())`. */
  rateLimit?: RateLimiter;
}

/** The engine's view of the options: limits with their defaults, the dispatcher, the batch paths. */
export function batchEnvironment(options: OmnibusCommonOptions, dispatch: Dispatcher): BatchEnvironment {
  const limits = {
    maxOps: options.maxOps ?? DEFAULTS.maxOps,
    maxXmlOps: options.maxXmlOps ?? DEFAULTS.maxXmlOps,
  };
  return {
    maxBatchBytes: options.maxBatchBytes ?? DEFAULTS.maxBatchBytes,
    batchDeadlineMs: options.batchDeadlineMs ?? DEFAULTS.batchDeadlineMs,
    maxOperations: (d: Dialect) => d.maxOperations({ ...DEFAULTS, ...limits }),
    // Every dialect's endpoints, served here or not: no operation may reach any batch endpoint.
    batchPaths: batchPathsOf(DIALECTS),
    authenticate: async (token: string | undefined) => options.authenticate(token),
    dispatch,
    transactions: options.transactions,
    batchConcurrency: options.batchConcurrency ?? DEFAULTS.batchConcurrency,
    maxQueries: options.compositeMaxQueries ?? DEFAULTS.compositeMaxQueries,
    onError: options.onError,
    idempotency: options.idempotency,
    rateLimit: options.rateLimit,
  };
}

/** One batch path (or path pattern) and the dialects that answer it, told apart by media type (as Hono's fall-through does). */
export interface BatchRoute {
  path: string;
  /** For a pattern path (`:name`, `:name{regex}` segments, a trailing `/*`): what it matches, over decoded segments, case-sensitively as routers do. */
  pattern?: RegExp;
  dialects: Array<{ dialect: Dialect; mediaTypes?: readonly string[] }>;
}

/** The dialects' endpoints grouped by path, in registration order; endpoints that answer no media type (`[]`, a reserved path) are left out. */
export function batchRoutes(dialects: readonly Dialect[]): BatchRoute[] {
  const byPath = new Map<string, BatchRoute>();
  for (const dialect of dialects) {
    for (const endpoint of dialect.endpoints) {
      if (endpoint.mediaTypes?.length === 0) continue;
      let route = byPath.get(endpoint.path);
      if (!route) {
        const pattern = endpointPattern(endpoint.path);
        byPath.set(endpoint.path, (route = { path: endpoint.path, pattern: pattern && new RegExp(pattern.source), dialects: [] }));
      }
      route.dialects.push({ dialect, mediaTypes: endpoint.mediaTypes });
    }
  }
  return [...byPath.values()];
}

/** The route for a request path as sent (percent-encoded): plain paths compare exactly, patterns match the decoded segments. */
export function routeFor(routes: readonly BatchRoute[], rawPath: string): BatchRoute | undefined {
  let decoded: string | undefined;
  for (const route of routes) {
    if (!route.pattern) {
      if (route.path === rawPath) return route;
      continue;
    }
    try {
      decoded ??= rawPath.split('/').map(decodeURIComponent).join('/');
    } catch {
      return undefined;
    }
    if (route.pattern.test(decoded)) return route;
  }
  return undefined;
}

/**
 * OData clients (SAP Cloud SDK) send `HEAD /v1/$batch` for a CSRF token
 * before a batch; as in the server (src/http/app.ts), it answers 200 and
 * issues no token (Omnibus takes bearer tokens, not cookies). The paths, when
 * a served dialect answers `/v1/$batch`; none otherwise.
 */
export function headPaths(dialects: readonly Dialect[]): string[] {
  const served = dialects.some((d) => d.endpoints.some((e) => e.path === '/v1/$batch'));
  return served ? ['/v1/$batch', '/v1/$batch/', '/v1/%24batch', '/v1/%24batch/'] : [];
}

/** The dialect of `route` that takes a request of this content type, if any (others fall through). */
export function dialectFor(route: BatchRoute, contentType: string | undefined): Dialect | undefined {
  const type = mediaTypeOf(contentType);
  return route.dialects.find((d) => !d.mediaTypes || d.mediaTypes.includes(type))?.dialect;
}

/**
 * A batch endpoint reached from inside a batch operation: refused, whatever
 * path led there (an app mounted under a prefix has batch paths the engine's
 * path check cannot know). The async context says so; no header can.
 */
export function nestedBatchResponse(dialect: Dialect): Response | undefined {
  if (!batchPrincipal()) return undefined;
  const encoded = dialect.encodeError(new ApiError(400, 'nested_batch', 'A batch endpoint was reached from inside a batch; batches do not nest.'), {});
  return new Response(encoded.body, { status: encoded.status, headers: encoded.headers });
}

/** Node's parsed request headers as Web `Headers` (repeated values joined as Node would send them). */
export function webHeaders(headers: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.append(name, v);
    else out.set(name, value);
  }
  return out;
}

/** `scheme://host` of the request, for dialects that accept absolute URLs of this server; a bad Host falls back to localhost. */
export function requestOrigin(protocol: string | undefined, host: string | undefined): string {
  try {
    return new URL(`${protocol === 'https' ? 'https' : 'http'}://${host ?? 'localhost'}`).origin;
  } catch {
    return 'http://localhost';
  }
}

/**
 * Reads a Node request stream as UTF-8 within `limit` bytes (413
 * `body_too_large` past it, by Content-Length or while streaming).
 */
export async function readStreamText(stream: Readable, declaredLength: string | undefined, limit: number): Promise<string> {
  if (declaredLength !== undefined && Number(declaredLength) > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > limit) {
      stream.resume();
      throw tooLarge(limit);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/** Headers a response to one operation carries that mean nothing inside a batch: hop-by-hop (RFC 9110 §7.6.1), framing, and Node's own `Date`. */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding', 'date']);

/** What an in-process injection takes (light-my-request's options; Fastify's `inject` takes the same). */
export interface Injection {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string;
  /** Skips light-my-request's schema check of options that are built here. */
  validate: false;
}

/** What an in-process injection answers. */
export interface Injected {
  statusCode: number;
  headers: Record<string, string | string[] | number | undefined>;
  payload: string;
}

/**
 * The dispatcher of an adapter: each operation, already validated and with
 * its headers filtered by the engine, becomes a fake request injected into
 * the user's app (no socket), and the fake response becomes the operation's
 * result, read the way the engine's fetch dispatcher reads a Response (JSON
 * bodies parsed, anything else kept as text). No Web Request or Response is
 * built on the way, which halves the cost of an operation.
 */
export function injectDispatcher(inject: (injection: Injection) => Promise<Injected>): Dispatcher {
  // Inside `asBatch` the batch principal's context is already entered; only another principal (a per-operation token) enters its own.
  return (req) => (batchPrincipal() === req.principal ? injectOne(inject, req) : asBatchPrincipal(req.principal, () => injectOne(inject, req)));
}

/**
 * Runs one batch request (`handle`, which calls the batch handler) inside the
 * async context of its principal, entered once for the whole batch rather
 * than once per operation. The token is authenticated here, once: the
 * handler's own `authenticate` gets the same answer for the same token. A
 * malformed Authorization header or a refused token runs the handler as it
 * is, which answers 401 in the dialect's form.
 */
export async function asBatch(env: BatchEnvironment, req: Request, query: URLSearchParams, handle: (env: BatchEnvironment) => Promise<Response>): Promise<Response> {
  let token: string | undefined;
  try {
    token = requestToken(req.headers, query);
  } catch {
    return handle(env);
  }
  const answer = env.authenticate(token);
  const once: BatchEnvironment = { ...env, authenticate: (t) => (t === token ? answer : env.authenticate(t)) };
  const principal = await answer.catch(() => undefined);
  return principal ? asBatchPrincipal(principal, () => handle(once)) : handle(once);
}

async function injectOne(inject: (injection: Injection) => Promise<Injected>, req: ApiRequest): Promise<ApiResponse> {
  const headers: Record<string, string> = {};
  for (const [name, value] of req.headers) headers[name] = value;
  let payload: string | undefined;
  if (req.body.kind === 'json') {
    payload = JSON.stringify(req.body.value);
    headers['content-type'] = 'application/json';
  } else if (req.body.kind === 'text') {
    payload = req.body.text;
    if (req.body.contentType !== undefined) headers['content-type'] = req.body.contentType;
  }
  const query = req.query.toString();
  const res = await inject({ method: req.method, url: query ? `${req.path}?${query}` : req.path, headers, payload, validate: false });
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined || NOT_FORWARDED.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  const text = res.payload;
  if (text === '' || res.statusCode === 204 || res.statusCode === 304) return { status: res.statusCode, headers: out };
  if (/^application\/([\w.+-]+\+)?json\b/i.test(out['content-type'] ?? '')) {
    try {
      return { status: res.statusCode, headers: out, body: JSON.parse(text) };
    } catch {
      // Not JSON after all: hand it on as text.
    }
  }
  return { status: res.statusCode, headers: out, text };
}

/**
 * Runs `fn` with `principal` as the batch principal that `batchPrincipal()`
 * reads. The engine sets that async context only around a fetch handler, so
 * this enters it through `fetchDispatcher` with an empty request and runs
 * `fn` as the handler; the Request and Response it builds carry nothing.
 * An engine export that runs a function as the batch principal would replace
 * this (and save the empty Request).
 */
function asBatchPrincipal<T>(principal: Principal, fn: () => Promise<T>): Promise<T> {
  let result: T;
  return fetchDispatcher(async () => {
    result = await fn();
    return new Response(null, { status: 204 });
  })({ method: 'GET', path: '/', query: new URLSearchParams(), headers: EMPTY_HEADERS, body: { kind: 'none' }, principal }).then(() => result);
}

const EMPTY_HEADERS: ReadonlyMap<string, string> = new Map();
