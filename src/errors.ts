/**
 * The one error type of Omnibus. Anything that should reach a client as an
 * RFC 9457 problem (`application/problem+json`) is thrown as an `ApiError`.
 */
export type ErrorCode =
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

const TITLES: Record<ErrorCode, string> = {
  bad_request: 'Bad Request',
  invalid_json: 'Invalid JSON',
  invalid_xml: 'Invalid XML',
  unsupported_media_type: 'Unsupported Media Type',
  batch_too_large: 'Batch Too Large',
  body_too_large: 'Body Too Large',
  nested_batch: 'Nested Batch',
  invalid_path: 'Invalid Path',
  duplicate_id: 'Duplicate Id',
  invalid_header: 'Invalid Header',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  not_found: 'Not Found',
  method_not_allowed: 'Method Not Allowed',
  precondition_failed: 'Precondition Failed',
  precondition_required: 'Precondition Required',
  conflict: 'Conflict',
  validation_failed: 'Validation Failed',
  object_limit_exceeded: 'Object Limit Exceeded',
  transaction_rolled_back: 'Transaction Rolled Back',
  batch_halted: 'Batch Halted',
  deadline_exceeded: 'Deadline Exceeded',
  internal: 'Internal Server Error',
  invalid_dependency: 'Invalid Dependency',
  failed_dependency: 'Failed Dependency',
  invalid_multipart: 'Invalid Multipart',
  idempotency_key_reused: 'Idempotency Key Reused',
  idempotency_in_progress: 'Idempotency In Progress',
  rate_limited: 'Rate Limited',
};

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  [extension: string]: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  /** Extra problem members, e.g. `position` for a malformed `$filter`. */
  readonly extensions: Record<string, unknown>;
  /** Response headers that belong to this error (`Retry-After`, `Allow`), lower-case names. */
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    code: ErrorCode,
    detail: string,
    extensions: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) {
    // A client error needs no stack trace, and capturing one costs more than a
    // batch operation's whole route: a batch of 100 failing reads would pay it 100 times.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(detail);
    Error.stackTraceLimit = limit;
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.extensions = extensions;
    this.headers = headers;
  }

  toProblem(): Problem {
    return problem(this.status, this.code, this.message, this.extensions);
  }
}

export function problem(
  status: number,
  code: ErrorCode,
  detail: string,
  extensions: Record<string, unknown> = {},
): Problem {
  return {
    type: `https://omnibus.dev/problems/${code.replace(/_/g, '-')}`,
    title: TITLES[code],
    status,
    detail,
    code,
    ...extensions,
  };
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The headers of a problem response: its content type plus the error's own (`Allow`, `Retry-After`). */
export function problemHeaders(err: ApiError): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': PROBLEM_CONTENT_TYPE, ...err.headers };
  const allow = err.extensions['allow'];
  if (typeof allow === 'string') headers['allow'] = allow;
  return headers;
}

/** Turns anything thrown into a problem; unknown errors become a 500 that reveals nothing. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return new ApiError(500, 'internal', 'The server failed to complete the operation.');
}

export const badRequest = (detail: string, ext?: Record<string, unknown>) =>
  new ApiError(400, 'bad_request', detail, ext);
export const notFound = (detail: string) => new ApiError(404, 'not_found', detail);
