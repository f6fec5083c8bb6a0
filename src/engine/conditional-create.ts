import type { ApiResponse } from '../api/types.js';
import type { Principal } from '../auth/principal.js';
import { ApiError, problemHeaders } from '../errors.js';
import type { Dispatcher, OperationResult } from './types.js';
import type { PreparedOperation } from './validate.js';

/**
 * The record that makes a conditional create (`Operation.ifNoneExist`) stand
 * down, found through the routes like any read: a list GET of the
 * operation's own path with its `$filter` (two items are enough to tell one
 * from many), then a GET of the one it found, for its representation and
 * validators. Undefined when nothing matches (the create goes ahead); the
 * answer to give instead otherwise: 200 with the record, its `ETag` and its
 * `Location`; 412 `precondition_failed` when several match; the list's own
 * error when it failed (a malformed filter is 400).
 */
export async function existingRecord(p: PreparedOperation, principal: Principal, dispatch: Dispatcher): Promise<OperationResult | undefined> {
  const query = new URLSearchParams(p.op.ifNoneExist);
  query.delete('token');
  query.delete('$skip');
  query.set('$top', '2');
  const none = { kind: 'none' } as const;
  const list = await dispatch({ method: 'GET', path: p.target.path, query, headers: new Map(), body: none, principal });
  if (list.status !== 200) return answer(p, list);
  const items = (list.body as { items?: unknown } | undefined)?.items;
  if (!Array.isArray(items)) return failure(p, new ApiError(500, 'internal', 'The list GET of a conditional create did not answer a list.'));
  if (items.length === 0) return undefined;
  if (items.length > 1) {
    return failure(p, new ApiError(412, 'precondition_failed', `More than one record matches ${p.op.ifNoneExist}, so the conditional create made none.`));
  }
  const id = (items[0] as { id?: unknown } | null)?.id;
  if (typeof id !== 'string') return failure(p, new ApiError(500, 'internal', 'The record matching a conditional create has no id.'));
  const location = `${p.target.path}/${encodeURIComponent(id)}`;
  const read = await dispatch({ method: 'GET', path: location, query: new URLSearchParams(), headers: new Map(), body: none, principal });
  if (read.status !== 200) return answer(p, read);
  return { ...answer(p, read), headers: { ...read.headers, location } };
}

function answer(p: PreparedOperation, res: ApiResponse): OperationResult {
  return { index: p.op.index, id: p.op.id, status: res.status, headers: res.headers, body: res.body, text: res.text, ran: true };
}

function failure(p: PreparedOperation, err: ApiError): OperationResult {
  return { index: p.op.index, id: p.op.id, status: err.status, headers: problemHeaders(err), body: err.toProblem(), ran: true };
}
