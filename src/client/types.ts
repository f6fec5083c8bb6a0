import type { DialectName } from './dialects/index.js';
import type { OmnibusApiError } from './errors.js';

export type { DialectName };

/** What every call resolves to. Header names are lower case. */
export interface ClientResponse<T = unknown> {
  status: number;
  headers: Record<string, string>;
  /** The parsed JSON body; a text body as a string; null when there is none (204, 304). */
  body: T;
}

export interface OperationSuccess<T = unknown> extends ClientResponse<T> {
  ok: true;
  error?: undefined;
}

export interface OperationFailure extends ClientResponse<unknown> {
  ok: false;
  /** The failure as a typed error: `code` is the server's code (`not_found`, `transaction_rolled_back`, …). */
  error: OmnibusApiError;
}

/** One operation's answer in an explicit batch: `ok` is true for status < 400. */
export type OperationResult<T = unknown> = OperationSuccess<T> | OperationFailure;

export interface RetryOptions {
  /** Retries of a request that got no answer or a 5xx, with backoff and the same Idempotency-Key (default 4). */
  retries?: number;
  /** First backoff delay; it doubles each retry, with jitter (default 200 ms). */
  baseDelayMs?: number;
  /** Longest backoff delay (default 5000 ms). */
  maxDelayMs?: number;
  /** Rounds of re-sending operations answered 429 after their Retry-After, and retries of a request answered 429 (default 5). */
  rateLimitRetries?: number;
  /** A Retry-After longer than this is not waited for: the 429 is the answer (default 60000 ms). */
  maxRetryAfterMs?: number;
  /** How long to keep retrying a request whose Idempotency-Key the server says is still in progress (409; default 120000 ms). */
  inProgressMs?: number;
}

/** Called after every HTTP request the client sends (attempts and retries included). */
export interface RequestEvent {
  method: string;
  url: string;
  /** Operations it carried (1 for a plain request). */
  operations: number;
  /** 0 when no answer came. */
  status: number;
  attempt: number;
  idempotencyKey?: string;
  /** The server answered from its idempotency record (`Idempotent-Replayed: true`): nothing ran again. */
  replayed: boolean;
  durationMs: number;
}

export interface ClientOptions {
  /** The server, as `http://127.0.0.1:3000` (a path prefix is kept: `https://host/omnibus`). */
  baseUrl: string;
  /** A bearer token. */
  token?: string;
  /** The batch format: `odata-json` (default: groups, dependsOn, references), `requests` (groups) or `ops`. */
  dialect?: DialectName;
  /** Operations per batch request, at most the server's OMNIBUS_MAX_OPS (default 100); a 413 naming a lower limit lowers it. */
  maxOperations?: number;
  /** Bytes per batch request, below the server's OMNIBUS_MAX_BATCH_BYTES (default 9 MiB). */
  maxBatchBytes?: number;
  /**
   * Auto-batching of get/post/put/patch/delete: calls made within `delayMs`
   * (default 0: the same tick) go out as one batch. `false` sends every call
   * as its own request.
   */
  autoBatch?: boolean | { delayMs?: number; maxConcurrentBatches?: number };
  retry?: RetryOptions;
  /** Per HTTP request, attempts counted apart (default 60000 ms). */
  timeoutMs?: number;
  /** Headers added to every HTTP request. */
  headers?: Record<string, string>;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
  /** Makes Idempotency-Keys for batches and writes that were not given one (default: a random UUID). */
  idempotencyKey?: () => string;
  onRequest?: (event: RequestEvent) => void;
  /** Resolve (instead of reject) get/post/… answered with status >= 400 (default false: they reject with OmnibusApiError). */
  resolveErrors?: boolean;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  ifMatch?: string;
  ifNoneMatch?: string;
  /** false: send this call alone and now, outside any auto-batch. */
  batch?: boolean;
  /** A plain write's Idempotency-Key (default: a fresh one, kept across its retries). */
  idempotencyKey?: string;
  /** Resolve even when the status is >= 400. */
  resolveErrors?: boolean;
  signal?: AbortSignal;
}

export interface BatchOptions {
  /** The batch's Idempotency-Key (default: a fresh one). A batch split into several requests uses `<key>.<round>.<n>` for the others. */
  idempotencyKey?: string;
  signal?: AbortSignal;
}
