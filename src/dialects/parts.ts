import { z } from 'zod';
import type { RequestBody } from '../api/types.js';
import type { Batch, Operation, OperationResult } from '../engine/types.js';
import { ApiError } from '../errors.js';
import { encodeProblem } from './problem-error.js';
import { checkCount, parseJsonBatch, parseShape } from './json-input.js';
import type { Dialect } from './types.js';

/** Oracle ADF's batch media type: the only one `POST /v1` takes as a parts batch. */
export const ADF_BATCH_MEDIA_TYPE = 'application/vnd.oracle.adf.batch+json';

/** The transaction group every part joins: a parts batch is all-or-none. */
const PARTS_GROUP = 'parts';

const OPERATION_METHODS = {
  get: 'GET',
  create: 'POST',
  update: 'PATCH',
  replace: 'PUT',
  delete: 'DELETE',
} as const;

type PartOperation = keyof typeof OPERATION_METHODS;

const METHOD_OPERATIONS: Record<string, PartOperation> = Object.fromEntries(
  Object.entries(OPERATION_METHODS).map(([op, method]) => [method, op as PartOperation]),
);

/** One ETag (quoted or not), a list of them, or null meaning `*`. */
const conditionSchema = z.union([z.string().min(1).max(8192), z.array(z.string().min(1).max(8192)).min(1).max(100), z.null()]);

const partSchema = z.object({
  id: z.string().min(1).max(256),
  path: z.string().min(1).max(8192),
  operation: z.string().min(1).max(32),
  payload: z.unknown().optional(),
  ifMatch: conditionSchema.optional(),
  ifNoneMatch: conditionSchema.optional(),
});

/** The parts batch document, as decode checks it (and /openapi.json describes it). */
export const partsBatchSchema = z.object({ parts: z.array(partSchema) });

/** What `encode` needs to echo a part: the batch's operations carry the rest. */
interface PartEcho {
  id: string;
  path: string;
  operation: PartOperation;
  payload: unknown;
  preconditionSucceeded?: boolean;
}

/** The media type each decoded batch came in, so the answer comes back in the same one. */
const responseTypes = new WeakMap<Batch, string>();

/**
 * Seed 001: `{"parts":[{id, path, operation, payload?, ifMatch?, ifNoneMatch?}]}`
 * at `POST /batch/parts`, and at `POST /v1` when the body is
 * `application/vnd.oracle.adf.batch+json`. Every part joins one transaction
 * group, so the batch is all-or-none: on success every part is echoed with
 * its result; on failure only the failing part is listed, with its problem,
 * and the answer carries that part's status.
 */
export const partsDialect: Dialect = {
  name: 'parts',
  endpoints: [{ path: '/batch/parts' }, { path: '/v1', mediaTypes: [ADF_BATCH_MEDIA_TYPE] }],
  maxOperations: (config) => config.maxOps,

  decode(input, limits) {
    const raw = parseJsonBatch(input.text, input.contentType, ['application/json', ADF_BATCH_MEDIA_TYPE], 'parts batch');
    checkCount((raw as { parts?: unknown } | null)?.parts, limits.maxOperations);
    const doc = parseShape(partsBatchSchema, raw, 'parts batch');
    const operations: Operation[] = doc.parts.map((part, index) => {
      const method = (OPERATION_METHODS as Record<string, string>)[part.operation];
      if (method === undefined || !Object.hasOwn(OPERATION_METHODS, part.operation)) {
        throw new ApiError(
          400,
          'bad_request',
          `part ${JSON.stringify(part.id)}: unknown operation ${JSON.stringify(part.operation.slice(0, 32))}; expected one of ${Object.keys(OPERATION_METHODS).join(', ')}.`,
        );
      }
      const headers: Record<string, string> = {};
      if (part.ifMatch !== undefined) headers['If-Match'] = conditionHeader(part.ifMatch);
      if (part.ifNoneMatch !== undefined) headers['If-None-Match'] = conditionHeader(part.ifNoneMatch);
      return { index, id: part.id, method, path: part.path, headers, body: partBody(method, part.payload), group: PARTS_GROUP };
    });
    const batch: Batch = { operations };
    const type = (input.contentType ?? '').split(';')[0]!.trim().toLowerCase();
    responseTypes.set(batch, type === ADF_BATCH_MEDIA_TYPE ? ADF_BATCH_MEDIA_TYPE : 'application/json');
    return batch;
  },

  encode(batch, outcome) {
    const contentType = responseTypes.get(batch) ?? 'application/json';
    const failure = failingResult(outcome.results);
    if (failure) {
      const op = batch.operations[failure.index]!;
      // The batch answers with the failing part's status, so its Retry-After (429, 409) goes on the answer.
      const headers: Record<string, string> = { 'content-type': contentType };
      const retryAfter = failure.headers['retry-after'];
      if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
      return {
        status: failure.status,
        headers,
        body: JSON.stringify({ parts: [echo(op, failure)] }),
      };
    }
    const parts = batch.operations.map((op) => echo(op, outcome.results[op.index]));
    return { status: 200, headers: { 'content-type': contentType }, body: JSON.stringify({ parts }) };
  },

  encodeError: encodeProblem,
};

/**
 * `null` is `*`; a string is one ETag, quoted here when the client left the
 * quotes out (`W/"x"` and `"x"` pass as they are, and so does `*`); an array is
 * a list of them.
 */
function conditionHeader(value: string | string[] | null): string {
  if (value === null) return '*';
  if (Array.isArray(value)) return value.map(quoteEtag).join(', ');
  return value.trim() === '*' ? '*' : quoteEtag(value);
}

function quoteEtag(tag: string): string {
  const t = tag.trim();
  if (/^(W\/)?".*"$/.test(t)) return t;
  return `"${t}"`;
}

/** create / update / replace send the payload as JSON; get and delete send nothing. */
function partBody(method: string, payload: unknown): RequestBody {
  if (method === 'GET' || method === 'DELETE' || payload === undefined) return { kind: 'none' };
  return { kind: 'json', value: payload };
}

/**
 * The part that made the group fail: the first result >= 400 that is not the
 * rollback notice the engine gives the other members. When the transaction
 * itself failed every member carries the same problem, and the first stands.
 */
function failingResult(results: OperationResult[]): OperationResult | undefined {
  const failed = results.filter((r) => r && r.status >= 400);
  if (failed.length === 0) return undefined;
  return failed.find((r) => problemCode(r) !== 'transaction_rolled_back') ?? failed[0];
}

function problemCode(r: OperationResult): unknown {
  return r.body !== null && typeof r.body === 'object' ? (r.body as { code?: unknown }).code : undefined;
}

function echo(op: Operation, result: OperationResult | undefined): PartEcho {
  const operation = METHOD_OPERATIONS[op.method] ?? 'get';
  const part: PartEcho = {
    id: op.id ?? String(op.index),
    path: op.path,
    operation,
    payload: result ? (result.text ?? result.body ?? null) : null,
  };
  if ('If-Match' in op.headers || 'If-None-Match' in op.headers) {
    part.preconditionSucceeded = !(result && preconditionFailed(operation, result.status));
  }
  return part;
}

/** 412 for any part, and 304 for a get (its If-None-Match matched). */
function preconditionFailed(operation: PartOperation, status: number): boolean {
  return status === 412 || (status === 304 && operation === 'get');
}
