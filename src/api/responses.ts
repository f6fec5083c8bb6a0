import { problemHeaders, toApiError } from '../errors.js';
import type { ApiResponse } from './types.js';

export const JSON_CONTENT_TYPE = 'application/json';

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): ApiResponse {
  return { status, headers: { 'content-type': JSON_CONTENT_TYPE, ...headers }, body };
}

export function emptyResponse(status: number, headers: Record<string, string> = {}): ApiResponse {
  return { status, headers };
}

/** Renders anything thrown as problem+json; unknown errors become an opaque 500. */
export function errorResponse(err: unknown): ApiResponse {
  const e = toApiError(err);
  return { status: e.status, headers: problemHeaders(e), body: e.toProblem() };
}
