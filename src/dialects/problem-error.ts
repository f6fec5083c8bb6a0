import { PROBLEM_CONTENT_TYPE, type ApiError } from '../errors.js';
import type { EncodedResponse } from './types.js';

/** The JSON dialects refuse a batch with a problem+json document. */
export function encodeProblem(error: ApiError): EncodedResponse {
  // The error's own headers too: Retry-After of a 409 or 429.
  const headers: Record<string, string> = { ...error.headers, 'content-type': PROBLEM_CONTENT_TYPE };
  if (error.status === 401) headers['www-authenticate'] = 'Bearer';
  return { status: error.status, headers, body: JSON.stringify(error.toProblem()) };
}
