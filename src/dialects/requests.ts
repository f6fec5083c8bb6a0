import { z } from 'zod';
import type { RequestBody } from '../api/types.js';
import { isDroppedHeader } from '../engine/headers.js';
import type { Operation, OperationResult } from '../engine/types.js';
import { ApiError } from '../errors.js';
import { encodeProblem } from './problem-error.js';
import { checkCount, parseJsonBatch, parseShape } from './json-input.js';
import type { Dialect } from './types.js';

const idSchema = z.union([z.string().min(1).max(256), z.number().int()]).transform(String);

const requestSchema = z.object({
  id: idSchema,
  method: z.string().min(1).max(16),
  path: z.string().min(1).max(8192),
  headers: z.string().max(65536).optional(),
  body: z.string().optional(),
  transaction: idSchema.optional(),
});

/** The requests batch document, as decode checks it (and /openapi.json describes it). */
export const requestsBatchSchema = z.array(requestSchema);

/**
 * Seed 002: `POST /v1/batch` with a JSON array of `{id, method, path,
 * headers?, body?, transaction?}`; headers and bodies are strings. Answered by
 * an array of `{id, code, headers, body}`.
 */
export const requestsDialect: Dialect = {
  name: 'requests',
  endpoints: [{ path: '/v1/batch' }],
  perOperationToken: true,
  maxOperations: (config) => config.maxOps,

  decode(input, limits) {
    const raw = parseJsonBatch(input.text, input.contentType, ['application/json'], 'requests batch');
    checkCount(raw, limits.maxOperations);
    const list = parseShape(requestsBatchSchema, raw, 'requests batch');
    const inherited = inheritedHeaders(input.headers);
    const operations: Operation[] = list.map((r, index) => {
      const headers = r.headers === undefined ? inherited : parseHeaderString(r.headers, r.id);
      return {
        index,
        id: r.id,
        method: r.method.toUpperCase(),
        path: r.path,
        headers,
        body: operationBody(r.body, headers),
        group: r.transaction,
      };
    });
    return { operations };
  },

  encode(_batch, outcome) {
    return {
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(outcome.results.map(response)),
    };
  },

  encodeError: encodeProblem,
};

/** An operation without `headers` takes the batch request's, less credentials, hop-by-hop and routing headers. */
function inheritedHeaders(batchHeaders: ReadonlyMap<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of batchHeaders) if (!isDroppedHeader(name)) out[name] = value;
  return out;
}

/** `Name: value` lines separated by `\n` (a trailing `\r` is tolerated); spaces around names and values are trimmed. */
export function parseHeaderString(text: string, id: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const trimmed = line.replace(/\r$/, '').trim();
    if (trimmed === '') continue;
    const colon = trimmed.indexOf(':');
    if (colon <= 0) throw new ApiError(400, 'invalid_header', `operation ${JSON.stringify(id)}: header line ${JSON.stringify(trimmed.slice(0, 100))} is not "Name: value".`);
    out[trimmed.slice(0, colon).trim()] = trimmed.slice(colon + 1).trim();
  }
  return out;
}

export function formatHeaderString(headers: Record<string, string>): string {
  return Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');
}

/** A body without a Content-Type of its own is taken as JSON, the format of every route here. */
function operationBody(body: string | undefined, headers: Record<string, string>): RequestBody {
  if (body === undefined) return { kind: 'none' };
  const contentType = Object.entries(headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1] ?? 'application/json';
  return { kind: 'text', text: body, contentType };
}

function response(r: OperationResult) {
  let body = '';
  if (r.text !== undefined) body = r.text;
  else if (r.body !== undefined) body = JSON.stringify(r.body);
  return { id: r.id, code: r.status, headers: formatHeaderString(r.headers), body };
}
