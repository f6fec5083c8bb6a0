/**
 * The errors of `omnibus/client`. Every one is an `OmnibusError` with a
 * machine `code`: the server's own code (`not_found`, `rate_limited`, …) for
 * an answer, `network_error` / `timeout` when no answer came, or a
 * `usage_*` code for a call the client refuses before sending anything.
 */

/** The codes an Omnibus server answers with (problem+json `code`, OData `error.code`); any other string may come from elsewhere. */
export type ServerErrorCode =
  | 'bad_request'
  | 'invalid_json'
  | 'invalid_xml'
  | 'unsupported_media_type'
  | 'batch_too_large'
  | 'body_too_large'
  | 'nested_batch'
  | 'invalid_path'
  | 'duplicate_id'
  | 'invalid_header'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'precondition_failed'
  | 'precondition_required'
  | 'conflict'
  | 'validation_failed'
  | 'object_limit_exceeded'
  | 'transaction_rolled_back'
  | 'batch_halted'
  | 'deadline_exceeded'
  | 'internal'
  | 'invalid_dependency'
  | 'failed_dependency'
  | 'invalid_multipart'
  | 'idempotency_key_reused'
  | 'idempotency_in_progress'
  | 'rate_limited';

// `string & {}` keeps the known codes in editor completion while allowing any other.
export type ErrorCode = ServerErrorCode | 'network_error' | 'timeout' | 'usage_error' | (string & {});

export class OmnibusError extends Error {
  override name = 'OmnibusError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The server answered with a failure: an operation's result (status >= 400)
 * or a whole request it refused. `code` is the problem's `code` (or the
 * OData error's), `detail` its human explanation.
 */
export class OmnibusApiError extends OmnibusError {
  override name = 'OmnibusApiError';
  readonly status: number;
  readonly title: string | undefined;
  readonly detail: string | undefined;
  /** Response headers, names in lower case. */
  readonly headers: Record<string, string>;
  /** The parsed body as it came (problem+json, OData error, or anything else). */
  readonly body: unknown;
  /** `Retry-After` in milliseconds, when the answer had one. */
  readonly retryAfterMs: number | undefined;

  constructor(status: number, headers: Record<string, string>, body: unknown) {
    const info = describe(status, body);
    super(info.code, info.message);
    this.status = status;
    this.title = info.title;
    this.detail = info.detail;
    this.headers = headers;
    this.body = body;
    this.retryAfterMs = retryAfterMs(headers['retry-after']);
  }
}

/** No answer: the connection failed or was cut, after every retry. */
export class OmnibusNetworkError extends OmnibusError {
  override name = 'OmnibusNetworkError';
  constructor(
    message: string,
    readonly attempts: number,
    options?: { cause?: unknown; timeout?: boolean },
  ) {
    super(options?.timeout ? 'timeout' : 'network_error', message, options);
  }
}

/** A call the client cannot send as asked (a feature the chosen dialect lacks, a group larger than a batch): nothing was sent. */
export class OmnibusUsageError extends OmnibusError {
  override name = 'OmnibusUsageError';
  constructor(message: string) {
    super('usage_error', message);
  }
}

const DEFAULT_CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  412: 'precondition_failed',
  413: 'body_too_large',
  415: 'unsupported_media_type',
  422: 'validation_failed',
  424: 'failed_dependency',
  428: 'precondition_required',
  429: 'rate_limited',
  504: 'deadline_exceeded',
};

/** Reads problem+json (`{code, title, detail}`) and OData errors (`{"error":{code, message}}`). */
function describe(status: number, body: unknown): { code: string; message: string; title?: string; detail?: string } {
  const fallback = DEFAULT_CODES[status] ?? (status >= 500 ? 'internal' : `http_${status}`);
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const b = body as Record<string, unknown>;
    const odata = b['error'];
    if (odata !== null && typeof odata === 'object' && !Array.isArray(odata)) {
      const e = odata as Record<string, unknown>;
      const code = typeof e['code'] === 'string' && e['code'] ? e['code'] : fallback;
      const detail = typeof e['message'] === 'string' ? e['message'] : undefined;
      return { code, message: `${status} ${code}${detail ? `: ${detail}` : ''}`, detail };
    }
    const code = typeof b['code'] === 'string' && b['code'] ? b['code'] : fallback;
    const title = typeof b['title'] === 'string' ? b['title'] : undefined;
    const detail = typeof b['detail'] === 'string' ? b['detail'] : undefined;
    return { code, message: `${status} ${code}${detail ? `: ${detail}` : title ? `: ${title}` : ''}`, title, detail };
  }
  // Salesforce-style error arrays and text bodies carry no code of ours.
  const text = typeof body === 'string' && body.length > 0 ? body.slice(0, 200) : undefined;
  return { code: fallback, message: `${status} ${fallback}${text ? `: ${text}` : ''}`, detail: text };
}

/** `Retry-After` (delay-seconds or an HTTP-date, RFC 9110 §10.2.3) in milliseconds. */
export function retryAfterMs(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}
