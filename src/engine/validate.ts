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
    const ref = op.references?.path;
    if (ref === undefined) return { op, target: resolveOperationPath(op.path, limits.batchPaths), headers };
    // What follows the reference is checked now, the whole path again once the reference is resolved.
    if (ref.rest !== '' && !ref.rest.startsWith('/') && !ref.rest.startsWith('?')) {
      throw invalidPath(op.path, 'continues a reference with something other than / or ?');
    }
    resolveOperationPath(`/reference${ref.rest}`, limits.batchPaths);
    const resolvePath = (path: string) => resolveOperationPath(path, limits.batchPaths);
    return { op, target: { path: op.path, query: new URLSearchParams() }, headers, resolvePath };
  });
}

export function tooManyOperations(max: number, count: number): ApiError {
  return new ApiError(413, 'batch_too_large', `A batch may carry at most ${max} operations; this one has ${count}.`);
}
