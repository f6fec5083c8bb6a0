import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Principal } from '../auth/principal.js';
import { DEFAULTS } from '../config.js';
import { batchPathsOf, DIALECTS, mediaTypeOf, type Dialect } from '../dialects/index.js';
import { batchPrincipal } from '../engine/fetch-dispatcher.js';
import type { Dispatcher, TransactionRunner } from '../engine/types.js';
import { ApiError } from '../errors.js';
import type { BatchEnvironment } from '../http/batch-handler.js';
import { tooLarge } from '../http/body.js';

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
  /** Told of every error that made a batch or one of its operations answer 5xx (to log it). */
  onError?(err: unknown): void;
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
    onError: options.onError,
  };
}

/** One batch path and the dialects that answer it, told apart by media type (as Hono's fall-through does). */
export interface BatchRoute {
  path: string;
  dialects: Array<{ dialect: Dialect; mediaTypes?: readonly string[] }>;
}

/** The dialects' endpoints grouped by path, in registration order. */
export function batchRoutes(dialects: readonly Dialect[]): BatchRoute[] {
  const byPath = new Map<string, BatchRoute>();
  for (const dialect of dialects) {
    for (const endpoint of dialect.endpoints) {
      let route = byPath.get(endpoint.path);
      if (!route) byPath.set(endpoint.path, (route = { path: endpoint.path, dialects: [] }));
      route.dialects.push({ dialect, mediaTypes: endpoint.mediaTypes });
    }
  }
  return [...byPath.values()];
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

/** Headers a response to one operation carries that mean nothing inside a batch: hop-by-hop (RFC 9110 §7.6.1) and Node's own `Date`. */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'date']);

/** Status codes whose Web Response may not have a body. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * An in-process response (light-my-request's, or Fastify's inject) as the
 * Web Response the engine's fetch dispatcher reads.
 */
export function injectedResponse(status: number, headers: Record<string, string | string[] | number | undefined>, body: string): Response {
  const out = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || NOT_FORWARDED.has(name)) continue;
    if (Array.isArray(value)) for (const v of value) out.append(name, v);
    else out.set(name, String(value));
  }
  return new Response(NULL_BODY.has(status) || body === '' ? null : body, { status, headers: out });
}

/** The parts of a fetch `Request` an in-process injection needs: method, path with query, headers, body. */
export async function injectionOf(req: Request): Promise<{ method: string; url: string; headers: Record<string, string>; payload?: string }> {
  const url = new URL(req.url);
  const headers: Record<string, string> = {};
  req.headers.forEach((value, name) => (headers[name] = value));
  const payload = req.body ? await req.text() : undefined;
  return { method: req.method, url: url.pathname + url.search, headers, payload };
}
