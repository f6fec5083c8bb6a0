import { ADF_BATCH_MEDIA_TYPE, partsBatchSchema } from '../dialects/parts.js';
import { compositeSchema } from '../dialects/composite/decode.js';
import { fhirBundleRequestSchema } from '../dialects/fhir/schema.js';
import { ATOMIC_MEDIA_TYPE } from '../dialects/jsonapi-atomic/media-type.js';
import { atomicOperationsRequestSchema } from '../dialects/jsonapi-atomic/schema.js';
import { odataBatchSchema } from '../dialects/odata-json/decode.js';
import { opsBatchSchema } from '../dialects/ops.js';
import { requestsBatchSchema } from '../dialects/requests.js';
import * as ex from './examples.js';
import * as res from './responses.js';
import { fromZod, problemSchema, stringMapSchema, type JsonSchema } from './schemas.js';

/** One request format an endpoint takes, and what it answers. */
export interface BatchExchange {
  /** The dialect that decodes it (`Dialect.name`). */
  dialect: string;
  /** Media types the request may be sent as (the OpenAPI `content` keys); the example is sent as `sendAs`. */
  requestTypes: string[];
  /** The exact Content-Type of the example (a multipart boundary, for one). */
  sendAs: string;
  requestSchema: JsonSchema;
  requestExample: unknown;
  responseType: string;
  responseSchema: JsonSchema;
  responseExample: unknown;
  /** How a refused batch (400, 401, 413, 415) is answered, in the format's own form. */
  errorType: string;
  errorSchema: JsonSchema;
}

export interface BatchEndpoint {
  /** The OpenAPI path (templated where the server takes any value). */
  path: string;
  /** A concrete path the examples are sent to. */
  examplePath: string;
  operationId: string;
  summary: string;
  description: string;
  parameters?: Record<string, unknown>[];
  exchanges: BatchExchange[];
}

const problemJson = 'application/problem+json';

const odataErrorSchema: JsonSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'array' } },
    },
  },
};

const compositeErrorSchema: JsonSchema = {
  type: 'array',
  items: { type: 'object', required: ['errorCode', 'message'], properties: { errorCode: { type: 'string' }, message: { type: 'string' } } },
};

const operationOutcomeSchema: JsonSchema = {
  type: 'object',
  required: ['resourceType', 'issue'],
  properties: {
    resourceType: { const: 'OperationOutcome' },
    issue: {
      type: 'array',
      items: {
        type: 'object',
        required: ['severity', 'code'],
        properties: {
          severity: { type: 'string' },
          code: { type: 'string' },
          diagnostics: { type: 'string' },
          expression: { type: 'array', items: { type: 'string' } },
          details: { type: 'object' },
        },
      },
    },
  },
};

const jsonApiErrorsSchema: JsonSchema = {
  type: 'object',
  required: ['errors'],
  properties: {
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['status', 'code'],
        properties: {
          status: { type: 'string' },
          code: { type: 'string' },
          title: { type: 'string' },
          detail: { type: 'string' },
          source: { type: 'object', properties: { pointer: { type: 'string' } } },
        },
      },
    },
  },
};

const xmlText = (description: string): JsonSchema => ({ type: 'string', description });

const opsResult: JsonSchema = {
  type: 'object',
  required: ['status', 'headers', 'body'],
  properties: { status: { type: 'integer' }, headers: stringMapSchema, body: { description: "The operation's answer: JSON, its text, or null." } },
};

const partsResponseSchema: JsonSchema = {
  type: 'object',
  required: ['parts'],
  properties: {
    parts: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'path', 'operation', 'payload'],
        properties: {
          id: { type: 'string' },
          path: { type: 'string' },
          operation: { enum: ['get', 'create', 'update', 'replace', 'delete'] },
          payload: { description: 'The record the part produced; on failure, its problem.' },
          preconditionSucceeded: { type: 'boolean' },
        },
      },
    },
  },
};

const partsExchange = (requestTypes: string[]): BatchExchange => ({
  dialect: 'parts',
  requestTypes,
  sendAs: requestTypes[0]!,
  requestSchema: fromZod(partsBatchSchema),
  requestExample: ex.partsExample,
  responseType: requestTypes[0]!,
  responseSchema: partsResponseSchema,
  responseExample: res.partsResponse,
  errorType: problemJson,
  errorSchema: problemSchema,
});

const batchFailure = 'A batch that ran answers 200 whatever its operations answered; each result carries its own status.';

/** Every batch endpoint, in the order the reference page lists them. */
export const BATCH_ENDPOINTS: BatchEndpoint[] = [
  {
    path: '/batch',
    examplePath: '/batch',
    operationId: 'opsBatch',
    summary: 'Batch of operations (ops)',
    description:
      `Operations run one at a time, in order; \`responses[i]\` answers \`requests[i]\`. With \`stop_on_error\` the list ends at the first operation answering >= 400. ${batchFailure}`,
    exchanges: [
      {
        dialect: 'ops',
        requestTypes: ['application/json'],
        sendAs: 'application/json',
        requestSchema: fromZod(opsBatchSchema),
        requestExample: ex.opsExample,
        responseType: 'application/json',
        responseSchema: { type: 'object', required: ['responses'], properties: { responses: { type: 'array', items: opsResult } } },
        responseExample: res.opsResponse,
        errorType: problemJson,
        errorSchema: problemSchema,
      },
    ],
  },
  {
    path: '/v1/batch',
    examplePath: '/v1/batch',
    operationId: 'requestsBatch',
    summary: 'Batch of requests with transactions (requests)',
    description:
      'A JSON array of requests; `headers` is one string of `Name: value` lines, `body` a string. Requests with the same `transaction` run in one transaction: if one fails, the others answer 424. ' +
      'A request without `headers` inherits the batch request\'s (credentials excepted); `?token=` in a request\'s path authenticates that request. ' +
      batchFailure,
    exchanges: [
      {
        dialect: 'requests',
        requestTypes: ['application/json'],
        sendAs: 'application/json',
        requestSchema: fromZod(requestsBatchSchema),
        requestExample: ex.requestsExample,
        responseType: 'application/json',
        responseSchema: {
          type: 'array',
          items: {
            type: 'object',
            required: ['id', 'code', 'headers', 'body'],
            properties: { id: { type: 'string' }, code: { type: 'integer' }, headers: { type: 'string' }, body: { type: 'string' } },
          },
        },
        responseExample: res.requestsResponse,
        errorType: problemJson,
        errorSchema: problemSchema,
      },
    ],
  },
  {
    path: '/batch/parts',
    examplePath: '/batch/parts',
    operationId: 'partsBatch',
    summary: 'All-or-none batch of parts (parts)',
    description:
      '`operation` is get, create, update (merge), replace or delete; `ifMatch`/`ifNoneMatch` a string, a list of ETags, or null for `*`. All parts run in one transaction, in order. ' +
      'On success 200 echoes every part with its result in `payload`; on failure nothing is kept and the answer has the failing part\'s status and lists only that part.',
    exchanges: [partsExchange(['application/json'])],
  },
  {
    path: '/v1',
    examplePath: '/v1',
    operationId: 'partsBatchAdf',
    summary: 'All-or-none batch of parts, Oracle ADF media type (parts)',
    description: `The parts batch, posted to the service root as \`${ADF_BATCH_MEDIA_TYPE}\` (as Oracle ADF clients send it); answered in the same media type.`,
    exchanges: [partsExchange([ADF_BATCH_MEDIA_TYPE])],
  },
  {
    path: '/api/object/batch',
    examplePath: '/api/object/batch',
    operationId: 'xmlObjectBatch',
    summary: 'XML object batch (xml)',
    description:
      'create, read, update and delete of objects (records of the `objects` collection whose body is an ordered attribute list), in an XML document that begins with the XML declaration (UTF-8). ' +
      'Operations run in order and fail individually. A refused batch is answered in XML too, `<response status="error">`.',
    exchanges: [
      {
        dialect: 'xml',
        requestTypes: ['application/xml', 'text/xml'],
        sendAs: 'application/xml',
        requestSchema: xmlText('`<request identifier="..."><operations>` of `<create>`, `<read ref>`, `<update ref>` (with `included_attrs` on `<attributes>`: only those descriptors change) and `<delete ref>`.'),
        requestExample: ex.xmlExample,
        responseType: 'application/xml',
        responseSchema: xmlText('`<response status="success" identifier="...">` with one element per operation (`index`, `url`, `ref`), or `<error index code><message>`.'),
        responseExample: res.xmlResponse,
        errorType: 'application/xml',
        errorSchema: xmlText('`<response status="error" identifier="..."><error code="..."><message>...</message></error></response>`'),
      },
    ],
  },
  {
    path: '/v1/$batch',
    examplePath: '/v1/$batch',
    operationId: 'odataBatch',
    summary: 'OData $batch: JSON (Microsoft Graph) or multipart with change sets',
    description:
      'JSON: requests form a dependency graph (`dependsOn` ids or atomicity groups earlier in the array); an `atomicityGroup` is one transaction; `$<id>` in `url` and in If-Match stands for what an earlier request created or returned. ' +
      'Errors continue unless `Prefer: odata.continue-on-error=false`. Multipart (`multipart/mixed; boundary=...`): one `application/http` part per request, a nested `multipart/mixed` part is a change set run as one transaction; ' +
      'parts run in order and stop at the first failure unless `Prefer: odata.continue-on-error`. Also served at `/v1/%24batch`. ' +
      batchFailure,
    parameters: [{ name: 'Prefer', in: 'header', required: false, schema: { type: 'string' }, example: 'odata.continue-on-error=false' }],
    exchanges: [
      {
        dialect: 'odata-json',
        requestTypes: ['application/json'],
        sendAs: 'application/json',
        requestSchema: fromZod(odataBatchSchema),
        requestExample: ex.odataJsonExample,
        responseType: 'application/json',
        responseSchema: {
          type: 'object',
          required: ['responses'],
          properties: {
            responses: {
              type: 'array',
              items: {
                type: 'object',
                required: ['id', 'status'],
                properties: {
                  id: { type: 'string' },
                  status: { type: 'integer' },
                  headers: stringMapSchema,
                  body: { description: 'The answer; errors as `{"error":{"code","message"}}`.' },
                  atomicityGroup: { type: 'string' },
                },
              },
            },
          },
        },
        responseExample: res.odataJsonResponse,
        errorType: 'application/json',
        errorSchema: odataErrorSchema,
      },
      {
        dialect: 'odata-multipart',
        requestTypes: ['multipart/mixed'],
        sendAs: `multipart/mixed; boundary=${ex.MULTIPART_EXAMPLE_BOUNDARY}`,
        requestSchema: { type: 'string', description: 'An RFC 2046 multipart body; send `Content-Type: multipart/mixed; boundary=<the boundary>` (the example uses `batch_1`).' },
        requestExample: ex.odataMultipartExample,
        responseType: 'multipart/mixed',
        responseSchema: { type: 'string', description: 'One `application/http` part per request part (a change set: a nested `multipart/mixed`), boundary `batchresponse_<uuid>`.' },
        responseExample: res.odataMultipartResponse,
        errorType: 'application/json',
        errorSchema: odataErrorSchema,
      },
    ],
  },
  {
    path: '/services/data/{version}/composite',
    examplePath: '/services/data/v59.0/composite',
    operationId: 'salesforceComposite',
    summary: 'Salesforce Composite',
    description:
      'Subrequests run one at a time, in order; `@{referenceId.path}` takes a value from an earlier subrequest\'s answer (in the url\'s id segment or a query value, and in body strings). ' +
      '`/services/data/v{NN.N}/sobjects/{collection}[/{id}]` is `/v1/{collection}[/{id}]`. `allOrNone: true` makes them one transaction (the others answer 400 PROCESSING_HALTED when one fails). ' +
      batchFailure,
    parameters: [{ name: 'version', in: 'path', required: true, schema: { type: 'string', pattern: '^v[0-9]+\\.[0-9]+$' }, example: 'v59.0' }],
    exchanges: [
      {
        dialect: 'composite',
        requestTypes: ['application/json'],
        sendAs: 'application/json',
        requestSchema: fromZod(compositeSchema),
        requestExample: ex.compositeExample,
        responseType: 'application/json',
        responseSchema: {
          type: 'object',
          required: ['compositeResponse'],
          properties: {
            compositeResponse: {
              type: 'array',
              items: {
                type: 'object',
                required: ['body', 'httpHeaders', 'httpStatusCode', 'referenceId'],
                properties: { body: {}, httpHeaders: stringMapSchema, httpStatusCode: { type: 'integer' }, referenceId: { type: 'string' } },
              },
            },
          },
        },
        responseExample: res.compositeResponse,
        errorType: 'application/json',
        errorSchema: compositeErrorSchema,
      },
    ],
  },
  {
    path: '/fhir',
    examplePath: '/fhir',
    operationId: 'fhirBundle',
    summary: 'FHIR R4 Bundle (batch or transaction)',
    description:
      'Each entry is an operation on `/v1/{Type}[/{id}]`, run in FHIR\'s order (DELETE, POST, PUT/PATCH, GET). A `transaction` is all or nothing and resolves `urn:uuid:` fullUrls to the records they stand for; ' +
      'on failure it answers the failing entry\'s status with one OperationOutcome. A `batch` runs each entry alone. Also served at `/fhir/`.',
    exchanges: [
      {
        dialect: 'fhir',
        requestTypes: ['application/fhir+json', 'application/json'],
        sendAs: 'application/fhir+json',
        requestSchema: fhirBundleRequestSchema as unknown as JsonSchema,
        requestExample: ex.fhirExample,
        responseType: 'application/fhir+json',
        responseSchema: {
          type: 'object',
          required: ['resourceType', 'type', 'entry'],
          properties: {
            resourceType: { const: 'Bundle' },
            type: { enum: ['transaction-response', 'batch-response'] },
            entry: {
              type: 'array',
              items: {
                type: 'object',
                required: ['response'],
                properties: {
                  fullUrl: { type: 'string' },
                  resource: { type: 'object' },
                  response: {
                    type: 'object',
                    required: ['status'],
                    properties: {
                      status: { type: 'string', pattern: '^[1-5][0-9][0-9]( .*)?$' },
                      location: { type: 'string' },
                      etag: { type: 'string' },
                      lastModified: { type: 'string' },
                      outcome: operationOutcomeSchema,
                    },
                  },
                },
              },
            },
          },
        },
        responseExample: res.fhirResponse,
        errorType: 'application/fhir+json',
        errorSchema: operationOutcomeSchema,
      },
    ],
  },
  {
    path: '/operations',
    examplePath: '/operations',
    operationId: 'jsonApiAtomic',
    summary: 'JSON:API Atomic Operations',
    description:
      '`add` (POST, or PUT of a client-generated id), `update` (merge PATCH of attributes and relationships) and `remove` (DELETE) of `/v1/{type}/{id}`; a `lid` stands for what an earlier add created. ' +
      'All operations run in one transaction: 200 with `atomic:results` in order, or the failing operation\'s status with an errors document pointing at it.',
    exchanges: [
      {
        dialect: 'jsonapi-atomic',
        requestTypes: [ATOMIC_MEDIA_TYPE],
        sendAs: ATOMIC_MEDIA_TYPE,
        requestSchema: atomicOperationsRequestSchema as unknown as JsonSchema,
        requestExample: ex.atomicExample,
        responseType: ATOMIC_MEDIA_TYPE,
        responseSchema: {
          type: 'object',
          required: ['atomic:results'],
          properties: {
            'atomic:results': {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  data: {
                    type: 'object',
                    required: ['type', 'id'],
                    properties: { type: { type: 'string' }, id: { type: 'string' }, lid: { type: 'string' }, attributes: { type: 'object' }, relationships: { type: 'object' }, links: { type: 'object' } },
                  },
                },
              },
            },
          },
        },
        responseExample: res.atomicResponse,
        errorType: ATOMIC_MEDIA_TYPE,
        errorSchema: jsonApiErrorsSchema,
      },
    ],
  },
];
