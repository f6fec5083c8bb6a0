import { z } from 'zod';

/** A JSON Schema object as OpenAPI 3.1 embeds it (JSON Schema 2020-12). */
export type JsonSchema = Record<string, unknown>;

/**
 * The JSON Schema of a zod schema a decoder validates with: the request
 * side (`io: 'input'`, what a client sends, before transforms), without the
 * `$schema` member (the document's dialect is 2020-12 already). Checks zod
 * cannot express (refinements) are left to the descriptions.
 */
export function fromZod(schema: z.ZodType): JsonSchema {
  const { $schema: _, ...json } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return json;
}

/** RFC 9457 problem details, as every JSON error of the resource API and of the ops, requests and parts batches. */
export const problemSchema: JsonSchema = {
  type: 'object',
  required: ['type', 'title', 'status', 'code'],
  properties: {
    type: { type: 'string', format: 'uri' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string', description: 'A stable machine code: not_found, precondition_failed, batch_too_large, ...' },
  },
};

/** A stored record as the resource API answers it: the JSON object plus `id`. */
export const recordSchema: JsonSchema = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string' } },
  additionalProperties: true,
};

/** `GET /v1/{collection}`: a page of records, each with its `_etag` and `_updated`. */
export const recordListSchema: JsonSchema = {
  type: 'object',
  required: ['items', 'next'],
  properties: {
    items: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', '_etag', '_updated'],
        properties: { id: { type: 'string' }, _etag: { type: 'string' }, _updated: { type: 'string', format: 'date-time' } },
        additionalProperties: true,
      },
    },
    next: { type: ['string', 'null'], description: 'The URL of the next page, or null on the last one.' },
  },
};

/** Header maps of operation results: canonical or lower-case names to string values. */
export const stringMapSchema: JsonSchema = { type: 'object', additionalProperties: { type: 'string' } };
