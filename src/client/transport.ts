import { OmnibusApiError, OmnibusNetworkError, retryAfterMs } from './errors.js';
import { parseBody } from './wire.js';
import type { RequestEvent, RetryOptions } from './types.js';

export interface TransportSettings {
  fetch: typeof fetch;
  headers: Record<string, string>;
  timeoutMs: number;
  retry: Required<RetryOptions>;
  onRequest?: (event: RequestEvent) => void;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  /** Sent as `Idempotency-Key`; a request with one (or a GET/HEAD) is retried after a lost answer or a 5xx. */
  idempotencyKey?: string;
  operations: number;
  signal?: AbortSignal;
}

export interface HttpAnswer {
  status: number;
  /** Names in lower case. */
  headers: Record<string, string>;
  text: string;
  /** `Idempotent-Replayed: true`: the server answered from its record of this key. */
  replayed: boolean;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Sends one HTTP request and retries it, always with the same body and
 * Idempotency-Key, when that is safe:
 * - no answer (connection refused or cut, timeout) and 5xx: backoff
 *   (exponential, jittered; a 503's Retry-After is honoured), `retries` times;
 * - 409 `idempotency_in_progress`: the first attempt is still running on the
 *   server; wait its Retry-After, for up to `inProgressMs`;
 * - 429 for the whole request: wait its Retry-After, `rateLimitRetries` times.
 * Any other answer is returned as it is.
 */
export async function sendHttp(settings: TransportSettings, request: HttpRequest): Promise<HttpAnswer> {
  const { retry } = settings;
  if (request.signal?.aborted) throw request.signal.reason;
  const retriable = request.idempotencyKey !== undefined || SAFE.has(request.method);
  const headers: Record<string, string> = { ...settings.headers, ...request.headers };
  if (request.idempotencyKey !== undefined) headers['idempotency-key'] = `"${request.idempotencyKey}"`;
  let failures = 0;
  let limited = 0;
  let inProgressSince: number | undefined;
  for (let attempt = 1; ; attempt++) {
    const started = Date.now();
    let answer: HttpAnswer;
    try {
      answer = await once(settings, request, headers);
    } catch (err) {
      if (request.signal?.aborted) throw request.signal.reason ?? err;
      emit(settings, request, attempt, started, 0, false);
      const timeout = err instanceof TimeoutSignal;
      if (!retriable || failures >= retry.retries) {
        const why = timeout ? `no answer within ${settings.timeoutMs} ms` : describeNetworkError(err);
        throw new OmnibusNetworkError(`${request.method} ${request.url}: ${why} (after ${attempt} attempt${attempt === 1 ? '' : 's'})`, attempt, {
          cause: timeout ? undefined : err,
          timeout,
        });
      }
      await sleep(backoff(retry, failures++), request.signal);
      continue;
    }
    emit(settings, request, attempt, started, answer.status, answer.replayed);
    const wait = retryAfterMs(answer.headers['retry-after']);
    if (answer.status === 409 && retriable && codeOf(answer) === 'idempotency_in_progress') {
      inProgressSince ??= started;
      const delay = wait ?? 1000;
      if (Date.now() + delay - inProgressSince <= retry.inProgressMs) {
        await sleep(delay, request.signal);
        continue;
      }
      return answer;
    }
    if (answer.status === 429 && limited < retry.rateLimitRetries && (wait ?? 1000) <= retry.maxRetryAfterMs) {
      limited++;
      await sleep(wait ?? 1000, request.signal);
      continue;
    }
    if (answer.status >= 500 && answer.status !== 501 && retriable && failures < retry.retries) {
      const delay = answer.status === 503 && wait !== undefined && wait <= retry.maxRetryAfterMs ? wait : backoff(retry, failures);
      failures++;
      await sleep(delay, request.signal);
      continue;
    }
    return answer;
  }
}

class TimeoutSignal extends Error {}

async function once(settings: TransportSettings, request: HttpRequest, headers: Record<string, string>): Promise<HttpAnswer> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new TimeoutSignal('timeout')), settings.timeoutMs);
  const onAbort = () => controller.abort(request.signal?.reason);
  request.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const res = await settings.fetch(request.url, {
      method: request.method,
      headers,
      body: request.body,
      signal: controller.signal,
    });
    const text = await res.text();
    const out: Record<string, string> = {};
    res.headers.forEach((value, name) => {
      out[name.toLowerCase()] = value;
    });
    return { status: res.status, headers: out, text, replayed: /^\s*true\s*$/i.test(out['idempotent-replayed'] ?? '') };
  } catch (err) {
    if (controller.signal.reason instanceof TimeoutSignal) throw controller.signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
    request.signal?.removeEventListener('abort', onAbort);
  }
}

function emit(settings: TransportSettings, request: HttpRequest, attempt: number, started: number, status: number, replayed: boolean): void {
  settings.onRequest?.({
    method: request.method,
    url: request.url,
    operations: request.operations,
    status,
    attempt,
    idempotencyKey: request.idempotencyKey,
    replayed,
    durationMs: Date.now() - started,
  });
}

/** The error an answer stands for, its body parsed. */
export function answerError(answer: HttpAnswer): OmnibusApiError {
  return new OmnibusApiError(answer.status, answer.headers, parseBody(answer.text, answer.headers['content-type']));
}

function codeOf(answer: HttpAnswer): string {
  return answerError(answer).code;
}

function backoff(retry: Required<RetryOptions>, failures: number): number {
  const ceiling = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** failures);
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

function describeNetworkError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  return err instanceof Error ? err.message : String(err);
}

/** Waits `ms`; an abort ends the wait with the signal's reason. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
