import { ApiError } from './errors.js';

/** Control characters (C0, DEL, C1) never belong in a path, raw or percent-decoded. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * The one place that turns a path into its segments: splits an absolute path
 * (percent-encoded, no query) on `/`, percent-decodes each segment and refuses
 * empty, `.` and `..` segments, backslashes and control characters, before or
 * after decoding, with 400 `invalid_path`.
 */
export function decodePathSegments(path: string): string[] {
  if (!path.startsWith('/')) throw invalidPath(path, 'must be an absolute path starting with /');
  if (path === '/') return [];
  const raw = path.slice(1).split('/');
  return raw.map((segment) => {
    if (segment === '') throw invalidPath(path, 'has an empty segment');
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      throw invalidPath(path, 'has a malformed percent-escape');
    }
    if (decoded === '.' || decoded === '..') throw invalidPath(path, 'has a dot segment');
    if (decoded.includes('/')) throw invalidPath(path, 'has an encoded slash inside a segment');
    if (decoded.includes('\\')) throw invalidPath(path, 'has a backslash');
    if (CONTROL.test(decoded)) throw invalidPath(path, 'has a control character');
    return decoded;
  });
}

export function invalidPath(path: string, why: string): ApiError {
  return new ApiError(400, 'invalid_path', `The path ${JSON.stringify(truncate(path))} ${why}.`);
}

function truncate(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

export function encodePath(segments: readonly string[]): string {
  return '/' + segments.map(encodeURIComponent).join('/');
}
