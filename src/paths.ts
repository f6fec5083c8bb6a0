import { ApiError } from './errors.js';

/** Control characters (C0, DEL, C1) never belong in a path, raw or percent-decoded. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * The one place that turns a path into its segments: splits an absolute path
 * (percent-encoded, no query) on `/`, percent-decodes each segment and refuses
 * empty, `.` and `..` segments, backslashes and control characters, before or
 * after decoding, with 400 `invalid_path`.
 *
 * The OData key-predicate form is read here too, so every route and every
 * dialect sees the same segments: a last segment `books('42')`, `books(42)`,
 * `books(id='42')` or `books(ID=42)` is the two segments `books`, `42`
 * (see `keyPredicate`).
 */
export function decodePathSegments(path: string): string[] {
  if (!path.startsWith('/')) throw invalidPath(path, 'must be an absolute path starting with /');
  if (path === '/') return [];
  const raw = path.slice(1).split('/');
  const segments: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const segment = raw[i]!;
    const open = segment.indexOf('(');
    if (open < 0) {
      segments.push(decodeSegment(path, segment));
      continue;
    }
    if (i !== raw.length - 1) throw invalidPath(path, 'has a key predicate that does not end the path');
    segments.push(decodeSegment(path, segment.slice(0, open)), keyPredicate(path, segment.slice(open)));
  }
  return segments;
}

function decodeSegment(path: string, segment: string): string {
  if (segment === '') throw invalidPath(path, 'has an empty segment');
  const decoded = percentDecode(path, segment);
  if (decoded === '.' || decoded === '..') throw invalidPath(path, 'has a dot segment');
  if (decoded.includes('/')) throw invalidPath(path, 'has an encoded slash inside a segment');
  if (decoded.includes('\\')) throw invalidPath(path, 'has a backslash');
  if (CONTROL.test(decoded)) throw invalidPath(path, 'has a control character');
  return decoded;
}

function percentDecode(path: string, text: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(text);
  } catch {
    throw invalidPath(path, 'has a malformed percent-escape');
  }
  // A lone surrogate (a JSON "\ud800" escape) is no character: it cannot be encoded again, nor stored.
  if (!decoded.isWellFormed()) throw invalidPath(path, 'has a lone surrogate, which is not Unicode text');
  return decoded;
}

/** `'text'` (`''` inside is one `'`) or an integer, alone or as `id=`/`ID=` (any case). */
const KEY_PREDICATE = /^\((?:id=)?(?:'((?:[^']|'')*)'|(-?[0-9]+))\)$/i;

/**
 * The record id named by an OData key predicate, `(...)` with its
 * parentheses, written literally. Its content is percent-decoded first (so
 * `%27` is a quote, as OData's grammar has it), then read as one single key:
 * a quoted string or an integer (kept as written: `(042)` is the id `042`),
 * optionally named `id`. Anything else (composite keys, functions, other
 * key names, an empty string) is 400 `invalid_path`; the id then passes the
 * checks of any other segment. A parenthesis sent percent-encoded (`%28`) is
 * data, so ids containing one stay reachable as `books/a%28b%29`.
 */
function keyPredicate(path: string, raw: string): string {
  const m = KEY_PREDICATE.exec(percentDecode(path, raw));
  if (!m) {
    throw invalidPath(path, "has a parenthesised part that is not a single key: use ('text'), (42), (id='text') or (id=42)");
  }
  const id = m[1] !== undefined ? m[1].replace(/''/g, "'") : m[2]!;
  if (id === '') throw invalidPath(path, 'has an empty key');
  return decodeSegment(path, encodeURIComponent(id));
}

export function invalidPath(path: string, why: string): ApiError {
  return new ApiError(400, 'invalid_path', `The path ${JSON.stringify(truncate(path))} ${why}.`);
}

function truncate(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

/**
 * The canonical, percent-encoded form of decoded segments. Parentheses are
 * encoded too (`encodeURIComponent` leaves them), so an id that contains one
 * is never read again as a key predicate.
 */
export function encodePath(segments: readonly string[]): string {
  return '/' + segments.map(encodeSegment).join('/');
}

function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/\(/g, '%28').replace(/\)/g, '%29');
}
