/**
 * A document of JSON:API atomic operations, as JSON Schema (2020-12).
 * decode.ts checks it member by member, by hand, so that each refusal
 * carries a `source.pointer` at the member it is about; this schema is the
 * same shape for /openapi.json, and test/openapi.test.ts holds the two to
 * agreement (every document the decoder accepts, the schema accepts; the
 * structural refusals tried there, both refuse).
 */
const identifier = {
  type: 'object',
  required: ['type'],
  properties: {
    type: { type: 'string', pattern: '^[A-Za-z0-9_-]+$' },
    id: { type: 'string', minLength: 1 },
    lid: { type: 'string', minLength: 1 },
    meta: { type: 'object' },
  },
  additionalProperties: false,
} as const;

const resource = {
  type: 'object',
  required: ['type'],
  properties: {
    type: { type: 'string', pattern: '^[A-Za-z0-9_-]+$', description: 'The collection: the record is /v1/{type}/{id}.' },
    id: { type: 'string', minLength: 1, description: 'A client-generated id (an add then creates exactly this record).' },
    lid: { type: 'string', minLength: 1, description: 'A local id later operations of the document refer to this resource by.' },
    attributes: { type: 'object' },
    relationships: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        minProperties: 1,
        properties: {
          data: { anyOf: [{ type: 'null' }, identifier, { type: 'array', items: identifier }] },
          links: { type: 'object' },
          meta: { type: 'object' },
        },
        additionalProperties: false,
      },
    },
    links: { type: 'object' },
    meta: { type: 'object' },
  },
  additionalProperties: false,
} as const;

export const atomicOperationsRequestSchema = {
  type: 'object',
  required: ['atomic:operations'],
  properties: {
    'atomic:operations': {
      type: 'array',
      items: {
        type: 'object',
        required: ['op'],
        properties: {
          op: { enum: ['add', 'update', 'remove'] },
          ref: {
            type: 'object',
            required: ['type'],
            properties: { type: { type: 'string', pattern: '^[A-Za-z0-9_-]+$' }, id: { type: 'string', minLength: 1 }, lid: { type: 'string', minLength: 1 } },
            additionalProperties: false,
          },
          href: { type: 'string', description: '/v1/{type} or /v1/{type}/{id}' },
          data: resource,
          meta: { type: 'object' },
        },
        additionalProperties: false,
        not: { required: ['ref', 'href'] },
      },
    },
    jsonapi: { type: 'object' },
    meta: { type: 'object' },
    links: { type: 'object' },
  },
  additionalProperties: false,
} as const;
