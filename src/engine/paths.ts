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
  const segments = decodePathSegments(pathPart);
  const canonical = encodePath(segments);
  if (isBatchPath(segments, batchPaths)) {
    throw new ApiError(400, 'nested_batch', `The operation path ${canonical} is a batch endpoint; batches do not nest.`);
  }
  const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  const token = query.get('token') ?? undefined;
  if (token !== undefined) query.delete('token');
  return { path: canonical, query, token };
}

function isBatchPath(segments: string[], batchPaths: ReadonlySet<string>): boolean {
  if (segments.length > 0 && segments[segments.length - 1]!.toLowerCase() === '$batch') return true;
  return batchPaths.has(('/' + segments.join('/')).toLowerCase());
}

/** Normalises a batch endpoint path for `BatchLimits.batchPaths`. */
export function batchPathKey(path: string): string {
  return path.replace(/\/+$/, '').toLowerCase() || '/';
}
