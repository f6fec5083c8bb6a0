import { ApiError } from '../errors.js';
import { checkHeader, operationHeaders } from './headers.js';
import { invalidPath } from '../paths.js';
import { resolveOperationPath, type OperationTarget } from './paths.js';
import type { Batch, BatchLimits, Operation } from './types.js';

export const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** An operation that passed validation, with its path resolved and headers filtered. */
export interface PreparedOperation {
  op: Operation;
  target: OperationTarget;
  headers: Map<string, string>;
  /**
   * For an operation whose path is a reference (`op.references.path`): checks
   * and splits the path it stands for once known (engine/references.ts).
   * Until then `target` holds the path as written.
   */
  resolvePath?: (path: string) => OperationTarget;
}

/**
 * Validates the whole batch before anything runs (SPEC 4.1). The first
 * violation throws an ApiError and the batch is refused as a whole.
 */
export function validateBatch(batch: Batch, limits: BatchLimits): PreparedOperation[] {
  const ops = batch.operations;
  if (ops.length > limits.maxOperations) throw tooManyOperations(limits.maxOperations, ops.length);
  const ids = new Set<string>();
  return ops.map((op) => {
    try {
      return prepareOperation(op, ids, limits);
    } catch (err) {
      if (err instanceof ApiError) refusals.set(err, op.index);
      throw err;
    }
  });
}

/** Which operation made `validateBatch` refuse a batch, by error. */
const refusals = new WeakMap<ApiError, number>();

/**
 * The index of the operation that `validateBatch` refused the batch for
 * (its path, method, headers or id), so a dialect can point at it in its
 * own error form; undefined for an error about the batch as a whole.
 */
export function refusedOperationIndex(err: ApiError): number | undefined {
  return refusals.get(err);
}

function prepareOperation(op: Operation, ids: Set<string>, limits: BatchLimits): PreparedOperation {
  const where = op.id !== undefined ? `operation ${JSON.stringify(op.id)}` : `operation ${op.index}`;
  if (op.id !== undefined) {
    if (ids.has(op.id)) throw new ApiError(400, 'duplicate_id', `The id ${JSON.stringify(op.id)} is used by more than one operation.`);
    ids.add(op.id);
  }
  if (!METHODS.has(op.method)) {
    throw new ApiError(400, 'bad_request', `${where}: unknown method ${JSON.stringify(op.method)}.`);
  }
  for (const [name, value] of Object.entries(op.headers)) checkHeader(name, value, where);
  const headers = operationHeaders(op.headers);
  const resolvePath = (path: string) => resolveOperationPath(path, limits.batchPaths);
  const url = op.references?.url;
  if (url !== undefined) {
    // Checked now with a plain segment or query value in place of each value, and again once they are known.
    resolvePath(url.map((part) => (typeof part === 'string' ? part : 'x')).join(''));
    return { op, target: { path: op.path, query: new URLSearchParams() }, headers, resolvePath };
  }
  const ref = op.references?.path;
  if (ref === undefined) return { op, target: resolveOperationPath(op.path, limits.batchPaths), headers };
  // What follows the reference is checked now, the whole path again once the reference is resolved.
  if (ref.rest !== '' && !ref.rest.startsWith('/') && !ref.rest.startsWith('?')) {
    throw invalidPath(op.path, 'continues a reference with something other than / or ?');
  }
  resolveOperationPath(`/reference${ref.rest}`, limits.batchPaths);
  return { op, target: { path: op.path, query: new URLSearchParams() }, headers, resolvePath };
}

export function tooManyOperations(max: number, count: number): ApiError {
  return new ApiError(413, 'batch_too_large', `A batch may carry at most ${max} operations; this one has ${count}.`);
}
