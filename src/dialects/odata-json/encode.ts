import type { Batch, BatchOutcome, OperationResult } from '../../engine/types.js';
import type { ApiError } from '../../errors.js';
import { canonicalHeaderName, isProblem, odataError, odataRefusal } from '../odata/responses.js';
import type { EncodedResponse } from '../types.js';
import type { ODataBatchInfo } from './decode.js';

export const ODATA_VERSION = '4.01';

export { canonicalHeaderName };

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

/** A refused batch: its status and `{"error":{"code","message"}}`, the message naming the format. */
export function encodeODataError(error: ApiError): EncodedResponse {
  return odataRefusal(error, 'OData JSON batch', ODATA_VERSION);
}
