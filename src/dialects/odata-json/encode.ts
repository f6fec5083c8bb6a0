import type { Batch, BatchOutcome, OperationResult } from '../../engine/types.js';
import { PROBLEM_CONTENT_TYPE, type ApiError } from '../../errors.js';
import type { EncodedResponse } from '../types.js';
import type { ODataBatchInfo } from './decode.js';

export const ODATA_VERSION = '4.01';

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

export function canonicalHeaderName(lower: string): string {
  let name = canonicalNames.get(lower);
  if (name === undefined) {
    name = lower.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
    if (canonicalNames.size < 1000) canonicalNames.set(lower, name);
  }
  return name;
}

interface ODataResponse {
  id: string;
  status: number;
  headers: Record<string, string>;
  body?: unknown;
  atomicityGroup?: string;
}

/**
 * `{"responses":[...]}` in request order (operations that never started,
 * after `continue-on-error=false`, are left out): each with its id, status,
 * headers in canonical case, the body as JSON (a non-JSON body as a string)
 * and, for members, the `atomicityGroup`. Problems become OData errors.
 */
export function encodeODataResponse(batch: Batch, outcome: BatchOutcome, info: ODataBatchInfo | undefined): EncodedResponse {
  const byIndex = new Map(outcome.results.map((r) => [r.index, r]));
  const responses: ODataResponse[] = [];
  for (const op of batch.operations) {
    const result = byIndex.get(op.index);
    if (!result) continue;
    const response = operationResponse(op.id ?? String(op.index), result);
    const group = info?.groups[op.index];
    if (group !== undefined) response.atomicityGroup = group;
    responses.push(response);
  }
  const headers: Record<string, string> = { 'content-type': 'application/json', 'odata-version': ODATA_VERSION };
  if (info?.preferenceApplied) headers['preference-applied'] = info.preferenceApplied;
  return { status: 200, headers, body: JSON.stringify({ responses }) };
}

function operationResponse(id: string, r: OperationResult): ODataResponse {
  // No body: a Fetch Response (what Graph clients build from this) may not have one for 204 or 304.
  const hasBody = r.status !== 204 && r.status !== 304 && (r.body !== undefined || r.text !== undefined);
  const problem = hasBody && r.text === undefined && isProblem(r);
  const headers: Record<string, string> = {};
  for (const name in r.headers) {
    const lower = name.toLowerCase();
    if (lower === 'content-type' && (!hasBody || problem)) continue;
    headers[canonicalHeaderName(lower)] = r.headers[name]!;
  }
  if (!hasBody) return { id, status: r.status, headers };
  if (problem) {
    headers['Content-Type'] = 'application/json';
    return { id, status: r.status, headers, body: odataError(r.body as Record<string, unknown>) };
  }
  return { id, status: r.status, headers, body: r.text ?? r.body };
}

function isProblem(r: OperationResult): boolean {
  const type = r.headers['content-type'];
  if (type === undefined || r.body === null || typeof r.body !== 'object' || Array.isArray(r.body)) return false;
  return type === PROBLEM_CONTENT_TYPE || type.split(';')[0]!.trim().toLowerCase() === PROBLEM_CONTENT_TYPE;
}

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

/** A refused batch: its status and `{"error":{"code","message"}}`, the message naming the format. */
export function encodeODataError(error: ApiError): EncodedResponse {
  const headers: Record<string, string> = { ...error.headers, 'content-type': 'application/json', 'odata-version': ODATA_VERSION };
  if (error.status === 401) headers['www-authenticate'] = 'Bearer';
  const message = /OData JSON batch/.test(error.message) ? error.message : `OData JSON batch refused: ${error.message}`;
  return { status: error.status, headers, body: JSON.stringify({ error: { code: error.code, message } }) };
}
