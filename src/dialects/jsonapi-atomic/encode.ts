import type { BatchOutcome, OperationResult } from '../../engine/types.js';
import { refusedOperationIndex } from '../../engine/validate.js';
import { problem, type ApiError, type ErrorCode } from '../../errors.js';
import type { EncodedResponse } from '../types.js';
import type { AtomicOperationInfo } from './decode.js';
import { FORMAT, operationPointer, pointerOf } from './errors.js';
import { ATOMIC_MEDIA_TYPE } from './media-type.js';
import { resourceOf } from './resources.js';

/** A JSON:API error object, as Omnibus fills it. */
export interface AtomicError {
  status: string;
  code: string;
  title: string;
  detail: string;
  source?: { pointer: string };
  meta?: Record<string, unknown>;
}

/** Problem members an error object carries itself; any other goes to its `meta`. */
const PROBLEM_MEMBERS = new Set(['type', 'title', 'status', 'detail', 'code']);

/**
 * The answer to a document that ran: 200 `{"atomic:results":[...]}`, one
 * result per operation in order (an add's created resource, `{}` for an
 * update or a remove, never 204); or, when an operation failed and so
 * nothing was kept, that operation's status and one error pointing at it.
 */
export function encodeAtomicResponse(outcome: BatchOutcome, info: AtomicOperationInfo[]): EncodedResponse {
  const failure = failingResult(outcome.results);
  if (failure) return failureResponse(failure, info[failure.index], outcome.results);
  const results = info.map((op, i) => {
    const r = outcome.results[i];
    if (op.op !== 'add' || !r) return {};
    const data = resourceOf(op.type, r.body, r.headers['location'], op.lid);
    return data ? { data } : {};
  });
  return { status: 200, headers: { 'content-type': ATOMIC_MEDIA_TYPE }, body: JSON.stringify({ 'atomic:results': results }) };
}

/** A document refused before anything ran (400, 401, 409, 413, 415): its status and one error, pointing where it can. */
export function encodeAtomicRefusal(error: ApiError): EncodedResponse {
  const index = refusedOperationIndex(error);
  const pointer = pointerOf(error) ?? (index !== undefined ? operationPointer(index) : undefined);
  const detail = error.message.includes(FORMAT) ? error.message : `${FORMAT} refused: ${error.message}`;
  const p = error.toProblem();
  const headers: Record<string, string> = { ...error.headers, 'content-type': ATOMIC_MEDIA_TYPE };
  if (error.status === 401) headers['www-authenticate'] = 'Bearer';
  return errorsDocument(error.status, headers, errorObject(error.status, error.code, p.title, detail, pointer, p));
}

function failureResponse(r: OperationResult, op: AtomicOperationInfo | undefined, results: OperationResult[]): EncodedResponse {
  const p = isObject(r.body) ? r.body : {};
  let status = r.status;
  let code = typeof p['code'] === 'string' ? p['code'] : status >= 500 ? 'internal' : 'bad_request';
  let title = typeof p['title'] === 'string' ? p['title'] : problem(status, code as ErrorCode, '').title ?? 'Error';
  let cause = typeof p['detail'] === 'string' ? p['detail'] : `it answered ${status}`;
  if (op?.op === 'add' && op.clientId !== undefined && status === 412) {
    // The add's PUT carried If-None-Match: *, so a 412 means the id is taken: JSON:API's 409.
    status = 409;
    code = 'conflict';
    title = 'Conflict';
    cause = `a ${op.type} resource with the id ${JSON.stringify(op.clientId)} already exists`;
  }
  const what = op ? `operation ${r.index} (${op.op} ${op.type})` : `operation ${r.index}`;
  const detail = `${FORMAT}: ${what} failed, so none of the operations was kept: ${cause.replace(/\.$/, '')}.`;
  // When the transaction itself failed, every operation carries the same server error: no one operation is to blame.
  const whole = !r.ran && status >= 500 && results.every((x) => x.status === r.status);
  const headers: Record<string, string> = { 'content-type': ATOMIC_MEDIA_TYPE };
  const retryAfter = r.headers['retry-after'];
  if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
  return errorsDocument(status, headers, errorObject(status, code, title, detail, whole ? undefined : operationPointer(r.index), p));
}

function errorObject(status: number, code: string, title: string, detail: string, pointer: string | undefined, p: Record<string, unknown>): AtomicError {
  const error: AtomicError = { status: String(status), code, title, detail };
  if (pointer !== undefined) error.source = { pointer };
  const extra = Object.entries(p).filter(([k]) => !PROBLEM_MEMBERS.has(k));
  if (extra.length > 0) error.meta = Object.fromEntries(extra);
  return error;
}

function errorsDocument(status: number, headers: Record<string, string>, error: AtomicError): EncodedResponse {
  return { status, headers, body: JSON.stringify({ errors: [error] }) };
}

/**
 * The operation that made the document fail: the first result >= 400 that
 * is not the rollback notice the engine gives the others.
 */
function failingResult(results: OperationResult[]): OperationResult | undefined {
  let first: OperationResult | undefined;
  for (const r of results) {
    if (!r || r.status < 400) continue;
    if (!(isObject(r.body) && r.body['code'] === 'transaction_rolled_back')) return r;
    first ??= r;
  }
  return first;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
