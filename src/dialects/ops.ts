import { z } from 'zod';
import type { RequestBody } from '../api/types.js';
import type { Operation, OperationResult } from '../engine/types.js';
import { encodeProblem } from './problem-error.js';
import { checkCount, parseJsonBatch, parseShape } from './json-input.js';
import type { Dialect } from './types.js';

const requestSchema = z.object({
  method: z.string().min(1).max(16),
  path: z.string().min(1).max(8192),
  headers: z.record(z.string(), z.string()).optional(),
  body: z.unknown().optional(),
});

/** The ops batch document, as decode checks it (and /openapi.json describes it). */
export const opsBatchSchema = z.object({
  requests: z.array(requestSchema),
  stop_on_error: z.boolean().optional(),
});

/**
 * Seed 000: `POST /batch` with `{"requests":[...], "stop_on_error"}`, answered
 * by `{"responses":[...]}` where index i answers request i.
 */
export const opsDialect: Dialect = {
  name: 'ops',
  endpoints: [{ path: '/batch' }],
  maxOperations: (config) => config.maxOps,

  decode(input, limits) {
    const raw = parseJsonBatch(input.text, input.contentType, ['application/json'], 'ops batch');
    checkCount((raw as { requests?: unknown } | null)?.requests, limits.maxOperations);
    const doc = parseShape(opsBatchSchema, raw, 'ops batch');
    const operations: Operation[] = doc.requests.map((r, index) => ({
      index,
      method: r.method.toUpperCase(),
      path: r.path,
      headers: r.headers ?? {},
      body: operationBody(r.body, r.headers),
    }));
    return { operations, stopOnError: doc.stop_on_error ?? false };
  },

  encode(_batch, outcome) {
    return {
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ responses: outcome.results.map(response) }),
    };
  },

  encodeError: encodeProblem,
};

/** A JSON value is sent as application/json; a string with a non-JSON Content-Type of its own is sent verbatim. */
function operationBody(body: unknown, headers: Record<string, string> | undefined): RequestBody {
  if (body === undefined) return { kind: 'none' };
  const contentType = headers && Object.entries(headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1];
  if (typeof body === 'string' && contentType !== undefined && !/^application\/([\w.+-]+\+)?json\b/i.test(contentType.trim())) {
    return { kind: 'text', text: body, contentType };
  }
  return { kind: 'json', value: body };
}

function response(r: OperationResult): { status: number; headers: Record<string, string>; body: unknown } {
  return { status: r.status, headers: r.headers, body: r.text ?? r.body ?? null };
}
