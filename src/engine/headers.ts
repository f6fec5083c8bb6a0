import { ApiError } from '../errors.js';

/** RFC 9110 token characters: what a field name may be made of. */
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/**
 * CR, LF and NUL would split or truncate a header; other controls but tab are refused too, and so is
 * any character above U+00FF (a lone surrogate included): a field value is bytes, and such a value
 * cannot be one (Web `Headers` throw on it, so a user's own fetch handler would fail with a 5xx).
 */
const BAD_VALUE = /[\u0000-\u0008\u000a-\u001f\u007f]|[^\u0000-\u00ff]/;

/**
 * The one place that decides which headers an operation may carry (SPEC 4.2).
 * Credentials never pass: identity comes from the batch principal. Routing
 * and identity headers, method overrides and hop-by-hop headers never pass
 * either, so no header can change who or where an operation is.
 */
const DROPPED = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'x-api-key',
  'api-key',
  'apikey',
  'host',
  'forwarded',
  'x-real-ip',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'accept-encoding',
  'expect',
]);

export function isDroppedHeader(lowerName: string): boolean {
  return DROPPED.has(lowerName) || lowerName.startsWith('x-forwarded-');
}

/** Throws 400 `invalid_header` for a name or value that is not a valid header. */
export function checkHeader(name: string, value: string, where: string): void {
  if (!FIELD_NAME.test(name)) throw new ApiError(400, 'invalid_header', `${where}: ${JSON.stringify(name.slice(0, 100))} is not a valid header name.`);
  if (BAD_VALUE.test(value)) throw new ApiError(400, 'invalid_header', `${where}: the value of header ${name} contains CR, LF, NUL, another control character or a character above U+00FF.`);
}

/** Lower-cases names and keeps only the headers an operation may carry. Assumes `checkHeader` passed. */
export function operationHeaders(headers: Record<string, string> | Iterable<[string, string]>): Map<string, string> {
  const out = new Map<string, string>();
  const entries = Symbol.iterator in headers ? (headers as Iterable<[string, string]>) : Object.entries(headers);
  for (const [name, value] of entries) {
    const lower = name.toLowerCase();
    if (!isDroppedHeader(lower)) out.set(lower, value.trim());
  }
  return out;
}
