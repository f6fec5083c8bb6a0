import type { OperationResult } from '../../engine/types.js';
import { PROBLEM_CONTENT_TYPE, type ApiError } from '../../errors.js';
import type { EncodedResponse } from '../types.js';

/** Header names as HTTP writes them; Graph clients read `Content-Type` by that exact key. */
const CANONICAL: Record<string, string> = {
  etag: 'ETag',
  'www-authenticate': 'WWW-Authenticate',
  'odata-version': 'OData-Version',
  'odata-entityid': 'OData-EntityId',
  'odata-maxversion': 'OData-MaxVersion',
  'content-md5': 'Content-MD5',
};

/** Names seen before, canonicalised once: a batch repeats the same few header names. */
const canonicalNames = new Map<string, string>(Object.entries(CANONICAL));

/** A lower-case header name as HTTP writes it: `content-type` is `Content-Type`, `etag` is `ETag`. */
export function canonicalHeaderName(lower: string): string {
  let name = canonicalNames.get(lower);
  if (name === undefined) {
    name = lower.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
    if (canonicalNames.size < 1000) canonicalNames.set(lower, name);
  }
  return name;
}

/** Whether a result carries an RFC 9457 problem (to be answered as an OData error). */
export function isProblem(r: OperationResult): boolean {
  const type = r.headers['content-type'];
  if (type === undefined || r.body === null || typeof r.body !== 'object' || Array.isArray(r.body)) return false;
  return type === PROBLEM_CONTENT_TYPE || PROBLEM_TYPE.test(type);
}

/** `application/problem+json` with any case, spacing or parameters (tested without splitting: every result passes here). */
const PROBLEM_TYPE = /^\s*application\/problem\+json\s*(;|$)/i;

const PROBLEM_MEMBERS = new Set(['type', 'title', 'status', 'detail', 'code', 'errors']);

/**
 * An RFC 9457 problem as an OData error: `code` is the problem's code,
 * `message` its detail, `details` one entry per listed validation error;
 * any other member (a filter's `position`) goes to `innererror`.
 */
export function odataError(p: Record<string, unknown>): { error: Record<string, unknown> } {
  const code = typeof p['code'] === 'string' ? p['code'] : 'internal';
  const message = typeof p['detail'] === 'string' ? p['detail'] : String(p['title'] ?? 'The operation failed.');
  const listed = Array.isArray(p['errors']) ? p['errors'] : [];
  const error: Record<string, unknown> = { code, message, details: listed.map((e) => ({ code, message: String(e) })) };
  const inner = Object.fromEntries(Object.entries(p).filter(([k]) => !PROBLEM_MEMBERS.has(k)));
  if (Object.keys(inner).length > 0) error['innererror'] = inner;
  return { error };
}

/**
 * A refused OData batch, in either format: its status and
 * `{"error":{"code","message"}}` as JSON, the message naming the format, the
 * error's own headers kept (`Retry-After`).
 */
export function odataRefusal(error: ApiError, format: string, odataVersion: string): EncodedResponse {
  const headers: Record<string, string> = { ...error.headers, 'content-type': 'application/json', 'odata-version': odataVersion };
  if (error.status === 401) headers['www-authenticate'] = 'Bearer';
  const message = error.message.includes(format) ? error.message : `${format} refused: ${error.message}`;
  return { status: error.status, headers, body: JSON.stringify({ error: { code: error.code, message } }) };
}
