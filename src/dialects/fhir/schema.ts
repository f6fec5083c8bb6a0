const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** The methods in any case, as the decoder takes them (`post` is POST). */
const anyCase = (words: string[]) => `^(${words.map((w) => [...w].map((ch) => `[${ch}${ch.toLowerCase()}]`).join('')).join('|')})$`;

/**
 * The Bundle a batch or transaction is posted as, as JSON Schema (2020-12).
 * decode.ts checks it member by member, by hand, so that each refusal names
 * its entry (`Bundle.entry[i]`) in the OperationOutcome; this schema is the
 * same shape for /openapi.json, and test/openapi.test.ts holds the two to
 * agreement (every document the decoder accepts, the schema accepts; the
 * structural refusals tried there, both refuse).
 */
export const fhirBundleRequestSchema = {
  type: 'object',
  required: ['resourceType', 'type'],
  properties: {
    resourceType: { const: 'Bundle' },
    type: { enum: ['batch', 'transaction'], description: 'transaction: one all-or-nothing unit; batch: each entry on its own.' },
    entry: {
      type: ['array', 'null'],
      items: {
        type: 'object',
        required: ['request'],
        properties: {
          fullUrl: { type: ['string', 'null'], minLength: 1, description: 'In a transaction, a urn:uuid: other entries refer to this record by.' },
          resource: { type: 'object', description: "The record's JSON; its resourceType is the url's Type (a PATCH: a JSON Merge Patch)." },
          request: {
            type: 'object',
            required: ['method', 'url'],
            properties: {
              method: { type: 'string', pattern: anyCase(METHODS), description: `${METHODS.join(', ')} (any case).` },
              url: { type: 'string', description: 'Type (POST, GET), Type/id, Type?$filter=..., or an absolute URL under this server\'s /fhir/.' },
              ifMatch: { type: ['string', 'null'] },
              ifNoneMatch: { type: ['string', 'null'] },
              ifNoneExist: { type: ['string', 'null'], description: 'POST only: $filter=<expression>; a match creates nothing.' },
            },
          },
        },
      },
    },
  },
} as const;
