import { ApiError } from '../errors.js';
import { checkHeader, operationHeaders } from './headers.js';
import { resolveOperationPath, type OperationTarget } from './paths.js';
import type { Batch, BatchLimits, Operation } from './types.js';

export const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** An operation that passed validation, with its path resolved and headers filtered. */
export interface PreparedOperation {
  op: Operation;
  target: OperationTarget;
  headers: Map<string, string>;
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
    const target = resolveOperationPath(op.path, limits.batchPaths);
    for (const [name, value] of Object.entries(op.headers)) checkHeader(name, value, where);
    return { op, target, headers: operationHeaders(op.headers) };
  });
}

export function tooManyOperations(max: number, count: number): ApiError {
  return new ApiError(413, 'batch_too_large', `A batch may carry at most ${max} operations; this one has ${count}.`);
}
