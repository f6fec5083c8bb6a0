import { ApiError } from '../errors.js';
import type { StoredRecord } from '../store/types.js';
import { matchesStrong, matchesWeak, parseEtagCondition, type EtagCondition } from './etag.js';
import type { ApiRequest } from './types.js';

/**
 * Conditional requests (RFC 9110 §13): the one place that evaluates
 * `If-Match` / `If-None-Match` against a stored record.
 */
export interface Conditions {
  ifMatch?: EtagCondition;
  ifNoneMatch?: EtagCondition;
}

export function requestConditions(req: ApiRequest): Conditions {
  return { ifMatch: condition(req, 'if-match'), ifNoneMatch: condition(req, 'if-none-match') };
}

function condition(req: ApiRequest, name: 'if-match' | 'if-none-match'): EtagCondition | undefined {
  const value = req.headers.get(name);
  if (value === undefined) return undefined;
  // A malformed list names no ETag, so it can match nothing.
  return parseEtagCondition(value) ?? { any: false, tags: [] };
}

/** For GET/HEAD: 412 when If-Match fails; 'not-modified' (answer 304) when If-None-Match matches. */
export function checkRead(c: Conditions, current: StoredRecord): 'not-modified' | undefined {
  if (c.ifMatch && !matchesStrong(c.ifMatch, current.etag)) throw preconditionFailed('If-Match does not match the current ETag.');
  if (c.ifNoneMatch && matchesWeak(c.ifNoneMatch, current.etag)) return 'not-modified';
  return undefined;
}

/** For writes to an existing record: 412 when If-Match fails or If-None-Match matches. */
export function checkWrite(c: Conditions, current: StoredRecord): void {
  if (c.ifMatch && !matchesStrong(c.ifMatch, current.etag)) throw preconditionFailed('If-Match does not match the current ETag.');
  if (c.ifNoneMatch && matchesWeak(c.ifNoneMatch, current.etag)) throw preconditionFailed('If-None-Match matches the current record.');
}

/** 428 when the server requires If-Match on modifications and none came (a PUT with If-None-Match: * is exempt). */
export function checkRequired(c: Conditions, requireIfMatch: boolean, isPut: boolean): void {
  if (requireIfMatch && !c.ifMatch && !(isPut && c.ifNoneMatch?.any)) {
    throw new ApiError(428, 'precondition_required', 'This server requires If-Match with the current ETag on modifications.');
  }
}

export function preconditionFailed(detail: string): ApiError {
  return new ApiError(412, 'precondition_failed', detail);
}
