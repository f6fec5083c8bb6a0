import { decodePathSegments, encodePath, invalidPath } from '../paths.js';
import { ApiError } from '../errors.js';

export interface OperationTarget {
  /** Canonical, percent-encoded absolute path. */
  path: string;
  /** The query without any `token` parameter. */
  query: URLSearchParams;
  /** A `?token=` the operation carried, for dialects that honour it. */
  token?: string;
}

const RAW_FORBIDDEN = /[\\\u0000-\u001f\u007f#]/;

/**
 * Checks an operation's path (SPEC 4.1) and splits off its query: it must be
 * an absolute path of this server (no scheme, no host, no `//`), with no dot,
 * empty, backslash or control-character segment before or after
 * percent-decoding, and must not route to any batch endpoint.
 */
export function resolveOperationPath(raw: string, batchPaths: ReadonlySet<string>): OperationTarget {
  if (typeof raw !== 'string' || raw.length === 0) throw invalidPath(String(raw), 'is empty');
  if (!raw.startsWith('/') || raw.startsWith('//')) throw invalidPath(raw, 'must be an absolute path of this server (no scheme or host)');
  if (RAW_FORBIDDEN.test(raw)) throw invalidPath(raw, 'contains a backslash, a control character or a fragment');
  const q = raw.indexOf('?');
  const pathPart = q < 0 ? raw : raw.slice(0, q);
  const segments = batchEndpointSegments(pathPart, batchPaths) ?? decodePathSegments(pathPart);
  const canonical = encodePath(segments);
  if (isBatchPath(segments, batchPaths)) {
    throw new ApiError(400, 'nested_batch', `The operation path ${canonical} is a batch endpoint; batches do not nest.`);
  }
  const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  const token = query.get('token') ?? undefined;
  if (token !== undefined) query.delete('token');
  return { path: canonical, query, token };
}

/**
 * A batch endpoint that is served with a trailing slash (`/fhir/`, where FHIR
 * clients post; `batchPaths` then holds that form too) is still that
 * endpoint, not an empty segment: its segments without the slash, so that it
 * is refused as a nested batch. Other paths with a trailing slash keep their
 * empty segment (400 invalid_path).
 */
function batchEndpointSegments(pathPart: string, batchPaths: ReadonlySet<string>): string[] | undefined {
  if (pathPart.length < 2 || !pathPart.endsWith('/') || pathPart.endsWith('//')) return undefined;
  const trimmed = pathPart.slice(0, -1);
  let segments: string[];
  try {
    segments = decodePathSegments(trimmed);
  } catch {
    return undefined;
  }
  return batchPaths.has(`${('/' + segments.join('/')).toLowerCase()}/`) ? segments : undefined;
}

function isBatchPath(segments: string[], batchPaths: ReadonlySet<string>): boolean {
  // Servers and proxies that take `;` for path parameters read `/batch;jsessionid=1` as `/batch`: so does this check.
  const bare = segments.map((segment) => segment.replace(/;.*$/s, ''));
  return [segments, bare].some((list) => {
    if (list.length > 0 && list[list.length - 1]!.toLowerCase() === '$batch') return true;
    const path = '/' + list.join('/');
    return batchPaths.has(path.toLowerCase()) || patternsOf(batchPaths).some((pattern) => pattern.test(path));
  });
}

/**
 * Normalises a batch endpoint path for `BatchLimits.batchPaths`: no trailing
 * slash, lower case but for parameter segments (see `endpointPattern`).
 */
export function batchPathKey(path: string): string {
  const trimmed = path.replace(/\/+$/, '') || '/';
  return trimmed
    .split('/')
    .map((segment) => (segment.startsWith(':') ? segment : segment.toLowerCase()))
    .join('/');
}

/**
 * An endpoint path that is a pattern, as a RegExp over a path of decoded
 * segments (case-insensitive, as batch paths are compared); undefined for a
 * plain path. A pattern has parameter segments in Hono's syntax, `:name`
 * (any segment) or `:name{regex}` (a segment the regex matches whole, as
 * `/services/data/:version{v[0-9]+\\.[0-9]+}/composite`), and may end in
 * `/*`: one or more segments below it.
 */
export function endpointPattern(path: string): RegExp | undefined {
  const segments = path.split('/').slice(1);
  if (!segments.some((s, i) => s.startsWith(':') || (s === '*' && i === segments.length - 1))) return undefined;
  const source = segments
    .map((segment, i) => {
      if (segment === '*' && i === segments.length - 1) return '(?:/[^/]+)+';
      if (!segment.startsWith(':')) return '/' + segment.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
      const brace = segment.indexOf('{');
      return brace < 0 ? '/[^/]+' : `/(?:${segment.slice(brace + 1, segment.lastIndexOf('}'))})`;
    })
    .join('');
  return new RegExp(`^${source}$`, 'i');
}

/** The patterns among a set of batch paths, compiled once per set (again if it grew). */
const compiled = new WeakMap<ReadonlySet<string>, { size: number; patterns: RegExp[] }>();

function patternsOf(batchPaths: ReadonlySet<string>): RegExp[] {
  let entry = compiled.get(batchPaths);
  if (!entry || entry.size !== batchPaths.size) {
    const patterns = [...batchPaths].map(endpointPattern).filter((p): p is RegExp => p !== undefined);
    entry = { size: batchPaths.size, patterns };
    compiled.set(batchPaths, entry);
  }
  return entry.patterns;
}
