import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { ApiResponse } from '../api/types.js';
import { ApiError, problemHeaders } from '../errors.js';

/**
 * The request target exactly as the client sent it. The WHATWG URL parser
 * behind `Request.url` silently resolves `..` and `%2e%2e`, which would hide
 * a traversal attempt from path validation, so on Node the raw target wins.
 */
export function rawTarget(c: Context): { path: string; query: URLSearchParams } {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  let target = incoming?.url;
  if (!target || !target.startsWith('/')) {
    const url = new URL(c.req.url);
    target = url.pathname + url.search;
  }
  const q = target.indexOf('?');
  return q < 0
    ? { path: target, query: new URLSearchParams() }
    : { path: target.slice(0, q), query: new URLSearchParams(target.slice(q + 1)) };
}

export function headerMap(headers: Headers): Map<string, string> {
  return new Map(headers);
}

/** Bearer token from `Authorization`, else `?token=` (seed 002). */
export function requestToken(headers: Headers, query: URLSearchParams): string | undefined {
  const auth = headers.get('authorization');
  if (auth !== null) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (!m) throw new ApiError(401, 'unauthorized', 'Authorization must be "Bearer <token>".');
    return m[1];
  }
  return query.get('token') ?? undefined;
}

export function toWebResponse(res: ApiResponse, omitBody = false): Response {
  const headers = new Headers(res.headers);
  let body: string | null = null;
  if (res.text !== undefined) body = res.text;
  else if (res.body !== undefined) body = JSON.stringify(res.body);
  if (omitBody || res.status === 204 || res.status === 304) body = null;
  return new Response(body, { status: res.status, headers });
}

export function problemWebResponse(err: ApiError): Response {
  const headers = problemHeaders(err);
  if (err.status === 401) headers['www-authenticate'] = 'Bearer';
  return new Response(JSON.stringify(err.toProblem()), { status: err.status, headers });
}
