import { AutoBatcher } from './auto-batch.js';
import { BatchBuilder, resolveValue, type BatchValue } from './builder.js';
import { WIRE_DIALECTS, type DialectName } from './dialects/index.js';
import { OmnibusApiError, OmnibusError, OmnibusUsageError } from './errors.js';
import { execute, type ExecContext, type OpOutcome } from './execute.js';
import type { PlannedOp } from './plan.js';
import { sendSingle } from './single.js';
import type { BatchOptions, ClientOptions, ClientResponse, OperationResult, RequestOptions, RetryOptions } from './types.js';
import { lowerCaseHeaders } from './wire.js';

/** A page of a collection, as `GET /v1/{collection}` answers it. */
export interface ListPage<T> {
  items: T[];
  next: string | null;
}

export interface OmnibusClient {
  readonly baseUrl: string;
  readonly dialect: DialectName;
  /** Operations per batch request now (lowered when the server names a lower limit). */
  readonly maxOperations: number;
  request<T = unknown>(method: string, path: string, body?: unknown, options?: RequestOptions): Promise<ClientResponse<T>>;
  get<T = unknown>(path: string, options?: RequestOptions): Promise<ClientResponse<T>>;
  post<T = unknown>(path: string, body?: unknown, options?: RequestOptions): Promise<ClientResponse<T>>;
  put<T = unknown>(path: string, body?: unknown, options?: RequestOptions): Promise<ClientResponse<T>>;
  patch<T = unknown>(path: string, body?: unknown, options?: RequestOptions): Promise<ClientResponse<T>>;
  delete<T = unknown>(path: string, options?: RequestOptions): Promise<ClientResponse<T>>;
  /**
   * An explicit batch. `build` adds operations (`b.post(...)`, groups with
   * `b.transaction(t => ...)`) and returns the refs it wants answers for;
   * the batch resolves to the same shape with each ref replaced by its
   * `OperationResult` (every result in order when build returns nothing).
   * It rejects only when the batch could not run (refused, no answer).
   */
  batch<R>(build: (b: BatchBuilder) => R, options?: BatchOptions): Promise<BatchValue<R>>;
  /** The pages of a list (`/v1/books?$filter=…`), following `next`. */
  pages<T = Record<string, unknown>>(path: string, options?: RequestOptions): AsyncGenerator<ListPage<T>>;
  /** The items of a list, page after page. */
  items<T = Record<string, unknown>>(path: string, options?: RequestOptions): AsyncGenerator<T>;
  /** Sends the calls waiting for auto-batching now. */
  flush(): Promise<void>;
}

const RETRY_DEFAULTS: Required<RetryOptions> = {
  retries: 4,
  baseDelayMs: 200,
  maxDelayMs: 5000,
  rateLimitRetries: 5,
  maxRetryAfterMs: 60_000,
  inProgressMs: 120_000,
};

const KEY = /^[\x21\x23-\x5b\x5d-\x7e]{1,200}$/;

/**
 * A client for an Omnibus server: `get/post/put/patch/delete` resolve to
 * `{status, headers, body}` (and reject with `OmnibusApiError` for status
 * >= 400 unless `resolveErrors`); calls made in the same tick go out as one
 * batch; `batch()` builds one explicitly. Every batch and every write
 * carries an Idempotency-Key, kept across retries. Works wherever `fetch`
 * does (Node 20+, browsers, Deno, Bun).
 */
export function createClient(options: ClientOptions): OmnibusClient {
  const dialectName = options.dialect ?? 'odata-json';
  const dialect = WIRE_DIALECTS[dialectName];
  if (!dialect) throw new OmnibusUsageError(`unknown dialect ${JSON.stringify(dialectName)} (odata-json, requests or ops)`);
  let baseUrl: string;
  try {
    baseUrl = new URL(options.baseUrl).href.replace(/\/+$/, '');
  } catch {
    throw new OmnibusUsageError(`baseUrl ${JSON.stringify(options.baseUrl)} is not a URL (as http://127.0.0.1:3000)`);
  }
  const maxOperations = options.maxOperations ?? 100;
  if (!Number.isInteger(maxOperations) || maxOperations < 1) throw new OmnibusUsageError('maxOperations must be a whole number >= 1');
  const headers = lowerCaseHeaders(options.headers);
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  const auto = options.autoBatch ?? true;
  const ctx: ExecContext = {
    baseUrl,
    dialect,
    limits: { maxOperations, maxBatchBytes: options.maxBatchBytes ?? 9 * 1024 * 1024 },
    maxConcurrentBatches: (typeof auto === 'object' ? auto.maxConcurrentBatches : undefined) ?? 4,
    transport: {
      fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
      headers,
      timeoutMs: options.timeoutMs ?? 60_000,
      retry: { ...RETRY_DEFAULTS, ...options.retry },
      onRequest: options.onRequest,
    },
  };
  const newKey = options.idempotencyKey ?? randomKey;
  const batcher = auto === false ? undefined : new AutoBatcher(ctx, typeof auto === 'object' ? (auto.delayMs ?? 0) : 0, newKey);

  const request = async <T>(method: string, path: string, body: unknown, o: RequestOptions = {}): Promise<ClientResponse<T>> => {
    if (typeof path !== 'string' || !path.startsWith('/')) throw new OmnibusUsageError(`a path starts with "/" (as /v1/books/1), not ${JSON.stringify(String(path).slice(0, 60))}`);
    if (o.idempotencyKey !== undefined) checkKey(o.idempotencyKey);
    const op: PlannedOp = { method: method.toUpperCase(), path, headers: lowerCaseHeaders(o.headers), dependsOn: [] };
    if (o.ifMatch !== undefined) op.headers['if-match'] = o.ifMatch;
    if (o.ifNoneMatch !== undefined) op.headers['if-none-match'] = o.ifNoneMatch;
    if (body !== undefined) op.body = body;
    const alone = !batcher || o.batch === false || o.signal !== undefined || o.idempotencyKey !== undefined;
    const outcome: OpOutcome = alone ? await sendSingle(ctx, op, o.idempotencyKey ?? newKey(), o.signal) : await batcher.add(op);
    if (outcome instanceof OmnibusError) throw outcome;
    if (outcome.status >= 400 && !(o.resolveErrors ?? options.resolveErrors)) throw new OmnibusApiError(outcome.status, outcome.headers, outcome.body);
    return { status: outcome.status, headers: outcome.headers, body: outcome.body as T };
  };

  async function* pages<T>(path: string, o?: RequestOptions): AsyncGenerator<ListPage<T>> {
    let next: string | null = path;
    while (next !== null) {
      const res: ClientResponse<ListPage<T>> = await request<ListPage<T>>('GET', next, undefined, { ...o, batch: false });
      const page = res.body;
      if (!page || !Array.isArray(page.items)) throw new OmnibusError('bad_answer', `GET ${next}: the answer is not a list page ({"items":[...],"next":...})`);
      yield page;
      next = typeof page.next === 'string' && page.next !== '' ? page.next : null;
    }
  }

  return {
    baseUrl,
    dialect: dialectName,
    get maxOperations() {
      return ctx.limits.maxOperations;
    },
    request: (method, path, body, o) => request(method, path, body, o),
    get: (path, o) => request('GET', path, undefined, o),
    post: (path, body, o) => request('POST', path, body, o),
    put: (path, body, o) => request('PUT', path, body, o),
    patch: (path, body, o) => request('PATCH', path, body, o),
    delete: (path, o) => request('DELETE', path, undefined, o),

    async batch<R>(build: (b: BatchBuilder) => R, o: BatchOptions = {}): Promise<BatchValue<R>> {
      if (o.idempotencyKey !== undefined) checkKey(o.idempotencyKey);
      const b = new BatchBuilder({ dialect: dialectName, groups: dialect.groups, graph: dialect.graph });
      const value = build(b);
      if (value instanceof Promise) throw new OmnibusUsageError('batch(build): build must add its operations synchronously (it returned a promise)');
      const outcomes = b.ops.length === 0 ? [] : await execute(ctx, b.ops, { key: o.idempotencyKey ?? newKey(), parallel: false, signal: o.signal });
      const results = outcomes.map((outcome): OperationResult => {
        if (outcome instanceof OmnibusError) throw outcome;
        if (outcome.status < 400) return { ok: true, status: outcome.status, headers: outcome.headers, body: outcome.body };
        return { ok: false, status: outcome.status, headers: outcome.headers, body: outcome.body, error: new OmnibusApiError(outcome.status, outcome.headers, outcome.body) };
      });
      return (value === undefined ? results : resolveValue(value, results)) as BatchValue<R>;
    },

    pages,
    async *items<T>(path: string, o?: RequestOptions): AsyncGenerator<T> {
      for await (const page of pages<T>(path, o)) yield* page.items;
    },
    flush: () => batcher?.flush() ?? Promise.resolve(),
  };
}

function checkKey(key: string): void {
  if (!KEY.test(key)) throw new OmnibusUsageError('an Idempotency-Key is 1 to 200 visible ASCII characters, without quotes or backslashes');
}

/** A random UUID (crypto.randomUUID, in browsers and Node), or 128 random bits where it is missing. */
function randomKey(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string; getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (c?.getRandomValues) c.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
