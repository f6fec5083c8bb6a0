import type { Batch, BatchOutcome, Operation, OperationResult, ResultValue } from '../../engine/types.js';
import type { ApiError } from '../../errors.js';
import { canonicalHeaderName, isProblem } from '../odata/responses.js';
import type { EncodedResponse } from '../types.js';

/** One error as Salesforce writes it: `{"errorCode":"NOT_FOUND","message":"..."}`. */
export interface CompositeError {
  errorCode: string;
  message: string;
}

interface SubrequestResponse {
  body: unknown;
  httpHeaders: Record<string, string>;
  httpStatusCode: number;
  referenceId: string;
}

/** Salesforce's code for a subrequest that did not run, or was rolled back, because of another one. */
export const PROCESSING_HALTED = 'PROCESSING_HALTED';

const ROLLED_BACK = 'The transaction was rolled back since another operation in the same transaction failed.';

/** Never in `httpHeaders`: the answer is JSON, and its length is the batch's business. */
const LEFT_OUT = new Set(['content-type', 'content-length']);

/**
 * `{"compositeResponse":[{body, httpHeaders, httpStatusCode, referenceId}]}`
 * in request order. `body` is the resource API's (null when there is none);
 * header names in canonical case, without Content-Type or Content-Length.
 * A problem becomes `[{"errorCode":"NOT_FOUND","message":"..."}]` (its code
 * in upper case); a subrequest rolled back with its group, or not run because
 * a reference of it had no value, answers 400 `PROCESSING_HALTED`.
 */
export function encodeCompositeResponse(batch: Batch, outcome: BatchOutcome): EncodedResponse {
  const byIndex = new Map(outcome.results.map((r) => [r.index, r]));
  const compositeResponse: SubrequestResponse[] = [];
  for (const op of batch.operations) {
    const result = byIndex.get(op.index);
    if (result) compositeResponse.push(subrequestResponse(op, result, byIndex, batch));
  }
  return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ compositeResponse }) };
}

function subrequestResponse(op: Operation, r: OperationResult, results: Map<number, OperationResult>, batch: Batch): SubrequestResponse {
  const httpHeaders: Record<string, string> = {};
  for (const name in r.headers) {
    const lower = name.toLowerCase();
    if (!LEFT_OUT.has(lower)) httpHeaders[canonicalHeaderName(lower)] = r.headers[name]!;
  }
  const referenceId = op.id ?? String(op.index);
  const problem = isProblem(r) ? (r.body as Record<string, unknown>) : undefined;
  if (!problem) {
    const hasBody = r.status !== 204 && r.status !== 304 && (r.text !== undefined || r.body !== undefined);
    return { body: hasBody ? (r.text ?? r.body) : null, httpHeaders, httpStatusCode: r.status, referenceId };
  }
  const code = typeof problem['code'] === 'string' ? problem['code'] : 'internal';
  const detail = typeof problem['detail'] === 'string' ? problem['detail'] : String(problem['title'] ?? 'The subrequest failed.');
  if (code === 'transaction_rolled_back') return halted(ROLLED_BACK, httpHeaders, referenceId);
  if (code === 'failed_dependency') return halted(unresolved(op, results, batch) ?? detail, httpHeaders, referenceId);
  return { body: [{ errorCode: code.toUpperCase(), message: detail }], httpHeaders, httpStatusCode: r.status, referenceId };
}

function halted(message: string, httpHeaders: Record<string, string>, referenceId: string): SubrequestResponse {
  return { body: [{ errorCode: PROCESSING_HALTED, message }], httpHeaders, httpStatusCode: 400, referenceId };
}

/**
 * Why a subrequest was not run: the first of its references that had no
 * string, number or boolean to stand for, and why (its subrequest failed or
 * did not run, or has no such value).
 */
function unresolved(op: Operation, results: Map<number, OperationResult>, batch: Batch): string | undefined {
  const refs = op.references;
  const values: ResultValue[] = [
    ...(refs?.url ?? []).filter((p): p is ResultValue => typeof p !== 'string'),
    ...(refs?.body ?? []).flatMap((b) => b.parts.filter((p): p is ResultValue => typeof p !== 'string')),
  ];
  for (const ref of values) {
    const source = batch.operations.find((o) => o.id === ref.id);
    const result = source && results.get(source.index);
    const written = `@{${ref.id}${ref.select.map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`)).join('')}}`;
    if (!result || result.status >= 400) {
      return `Not run: ${written} has no value, because subrequest ${JSON.stringify(ref.id)} ${result?.ran === false ? 'did not run' : 'failed'}.`;
    }
    let value: unknown = result.body;
    for (const step of ref.select) value = value !== null && typeof value === 'object' && Object.hasOwn(value, step) ? (value as Record<string | number, unknown>)[step] : undefined;
    if (!(typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value)))) {
      return `Not run: ${written} has no value; the response of subrequest ${JSON.stringify(ref.id)} has no string, number or boolean there.`;
    }
  }
  return undefined;
}

/**
 * A refused Composite request: its status and an error array, the message
 * naming the format; 401 is `INVALID_SESSION_ID`, the code on which
 * Salesforce clients (jsforce) renew their session. The error's own headers
 * are kept (`Retry-After`).
 */
export function encodeCompositeError(error: ApiError): EncodedResponse {
  const headers: Record<string, string> = { ...error.headers, 'content-type': 'application/json' };
  if (error.status === 401) headers['www-authenticate'] = 'Bearer';
  const message = error.message.includes('Composite request') ? error.message : `Composite request refused: ${error.message}`;
  const errorCode = error.status === 401 ? 'INVALID_SESSION_ID' : error.code.toUpperCase();
  const body: CompositeError[] = [{ errorCode, message }];
  return { status: error.status, headers, body: JSON.stringify(body) };
}
