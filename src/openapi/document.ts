import { objectBodySchema } from '../api/objects-model.js';
import { BATCH_ENDPOINTS, type BatchEndpoint } from './batch-endpoints.js';
import { fromZod, problemSchema, recordListSchema, recordSchema, type JsonSchema } from './schemas.js';

/** Where /openapi.json and the /docs page are served; neither takes a token (they hold no data). */
export const OPENAPI_PATH = '/openapi.json';
export const DOCS_PATH = '/docs';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: ref('Problem') } } });
const header = (description: string) => ({ description, schema: { type: 'string' } });

const idempotencyKey = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description: 'Sent again with the same request, the stored answer is replayed (`Idempotent-Replayed: true`) and nothing runs twice.',
  schema: { type: 'string', minLength: 1, maxLength: 255 },
};

/**
 * The OpenAPI 3.1 description of the server: the resource API and every
 * batch endpoint. Request schemas are the ones the decoders validate with
 * (zod schemas converted by `z.toJSONSchema`, or, for the two formats whose
 * decoders check by hand, the JSON Schema beside each decoder); see
 * docs/decisions.md. Built once; the document is the same for every caller.
 */
export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = { ...resourcePaths() };
  for (const endpoint of BATCH_ENDPOINTS) paths[endpoint.path] = { ...paths[endpoint.path], post: batchOperation(endpoint) };
  paths['/v1/$batch'] = {
    ...paths['/v1/$batch'],
    head: { tags: ['Batches'], operationId: 'odataBatchHead', summary: 'OData clients fetch a CSRF token first: answers 200 (none is needed)', responses: { 200: { description: 'OK' } } },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Omnibus',
      version,
      description:
        'A batch-operations API server: one HTTP request carries many operations against the resource API, run in-process through the same routes and checks, inside transactions where asked. ' +
        'Authenticate with `Authorization: Bearer <token>` (or `?token=`). Every batch format validates everything first: a refused batch runs nothing.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: [
      { name: 'Batches', description: 'One endpoint per batch format.' },
      { name: 'Resources', description: 'Collections of JSON records, per tenant.' },
      { name: 'Service' },
    ],
    security: [{ bearerAuth: [] }, { tokenQuery: [] }],
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'A token (`omnibus token create`, or OMNIBUS_TOKENS).' },
        tokenQuery: { type: 'apiKey', in: 'query', name: 'token' },
      },
      schemas: {
        Problem: problemSchema,
        Record: recordSchema,
        RecordList: recordListSchema,
        ObjectBody: fromZod(objectBodySchema),
      },
    },
  };
}

function batchOperation(endpoint: BatchEndpoint): Record<string, unknown> {
  const requestContent: Record<string, unknown> = {};
  const responseContent: Record<string, unknown> = {};
  const errorContent: Record<string, unknown> = {};
  for (const x of endpoint.exchanges) {
    for (const type of x.requestTypes) requestContent[type] = { schema: x.requestSchema, example: x.requestExample };
    responseContent[x.responseType] = { schema: x.responseSchema, example: x.responseExample };
    errorContent[x.errorType] ??= { schema: x.errorSchema };
  }
  const refused = (why: string) => ({ description: `${why} Nothing ran.`, content: errorContent });
  return {
    tags: ['Batches'],
    operationId: endpoint.operationId,
    summary: endpoint.summary,
    description: endpoint.description,
    parameters: [...(endpoint.parameters ?? []), idempotencyKey],
    requestBody: { required: true, content: requestContent },
    responses: {
      200: { description: 'The batch ran: one result per operation.', content: responseContent },
      400: refused('Malformed: not well-formed, an invalid path, a duplicate id, a nested batch, ...'),
      401: refused('No token, or an unknown one.'),
      413: refused('Too many operations or bytes.'),
      415: refused('Not one of the media types above.'),
    },
  };
}

const collection = { name: 'collection', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_-]{0,63}$' }, example: 'books', description: 'A collection (configured collections may have several segments, e.g. time/projects).' };
const id = { name: 'id', in: 'path', required: true, schema: { type: 'string', maxLength: 256 }, example: 'dune', description: "A record id; the OData forms ('dune') and (id='dune') work too." };
const ifMatch = { name: 'If-Match', in: 'header', required: false, schema: { type: 'string' }, description: 'ETags or `*`: write only if the record is still this version (else 412).' };
const ifNoneMatch = { name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string' }, description: 'ETags or `*`; on PUT, `*` creates only if absent.' };
const recordBody = (types: string[]) => ({
  required: true,
  content: Object.fromEntries(types.map((t) => [t, { schema: { type: 'object' } as JsonSchema, example: { title: 'Dune', pages: 412 } }])),
});
const recordAnswer = (description: string) => ({
  description,
  headers: { ETag: header('The new version.'), 'Last-Modified': header('When it was last written.') },
  content: { 'application/json': { schema: ref('Record') } },
});

function resourcePaths(): Record<string, Record<string, unknown>> {
  return {
    '/healthz': {
      get: {
        tags: ['Service'],
        operationId: 'health',
        summary: 'Liveness for load balancers (no token)',
        security: [],
        responses: { 200: { description: 'Up.', content: { 'application/json': { schema: { type: 'object', properties: { status: { const: 'ok' } } } } } } },
      },
    },
    '/v1/{collection}': {
      parameters: [collection],
      get: {
        tags: ['Resources'],
        operationId: 'listRecords',
        summary: 'List records',
        parameters: [
          { name: '$filter', in: 'query', required: false, schema: { type: 'string' }, example: 'pages gt 300 and not (title eq null)', description: 'eq ne gt ge lt le, and or not, parentheses; nested fields as a/b.' },
          { name: '$top', in: 'query', required: false, schema: { type: 'integer', minimum: 0, maximum: 1000, default: 50 } },
          { name: '$skip', in: 'query', required: false, schema: { type: 'integer', minimum: 0 } },
          { name: '$orderby', in: 'query', required: false, schema: { type: 'string' }, example: 'pages desc' },
        ],
        responses: { 200: { description: 'A page of records.', content: { 'application/json': { schema: ref('RecordList') } } }, 400: problem('A malformed query (a `$filter` error carries `position`).') },
      },
      post: {
        tags: ['Resources'],
        operationId: 'createRecord',
        summary: 'Create a record (the server assigns its id)',
        parameters: [idempotencyKey],
        requestBody: recordBody(['application/json']),
        responses: {
          201: { ...recordAnswer('Created.'), headers: { ...recordAnswer('').headers, Location: header('The new record.') } },
          403: problem('Over the object limit.'),
          422: problem('Does not satisfy the collection schema.'),
        },
      },
    },
    '/v1/{collection}/{id}': {
      parameters: [collection, id],
      get: {
        tags: ['Resources'],
        operationId: 'readRecord',
        summary: 'Read a record',
        parameters: [ifNoneMatch],
        responses: { 200: recordAnswer('The record.'), 304: { description: 'Not modified (If-None-Match).' }, 404: problem('No such record.') },
      },
      put: {
        tags: ['Resources'],
        operationId: 'replaceRecord',
        summary: 'Replace (or create) a record',
        parameters: [ifMatch, ifNoneMatch, idempotencyKey],
        requestBody: recordBody(['application/json']),
        responses: { 200: recordAnswer('Replaced.'), 201: recordAnswer('Created.'), 412: problem('Precondition failed.'), 428: problem('If-Match required (requireIfMatch).') },
      },
      patch: {
        tags: ['Resources'],
        operationId: 'patchRecord',
        summary: 'Merge-patch a record (RFC 7386)',
        parameters: [ifMatch, idempotencyKey],
        requestBody: recordBody(['application/merge-patch+json', 'application/json']),
        responses: { 200: recordAnswer('Patched.'), 404: problem('No such record.'), 412: problem('Precondition failed.') },
      },
      delete: {
        tags: ['Resources'],
        operationId: 'deleteRecord',
        summary: 'Delete a record',
        parameters: [ifMatch, idempotencyKey],
        responses: { 204: { description: 'Deleted.' }, 404: problem('No such record.'), 412: problem('Precondition failed.') },
      },
    },
    '/api/object/{ref}': {
      get: {
        tags: ['Resources'],
        operationId: 'readObjectXml',
        summary: 'Read an object (a record of `objects`) in its XML form',
        parameters: [{ name: 'ref', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { 200: { description: 'One `<object>`.', content: { 'application/xml': { schema: { type: 'string' } } } }, 404: { description: 'No such object.' } },
      },
    },
  };
}
