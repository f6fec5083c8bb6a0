import type { Batch } from '../../engine/types.js';
import type { Dialect } from '../types.js';
import { decodeBundle, type FhirBundleInfo } from './decode.js';
import { encodeBundleError, encodeBundleResponse } from './encode.js';
import { FHIR_BASE } from './urls.js';

/** What each decoded Bundle needs in `encode`: its type, and which entry each operation runs. */
const infos = new WeakMap<Batch, FhirBundleInfo>();

/**
 * HL7 FHIR R4 `Bundle` of type `batch` or `transaction` (`POST /fhir`, also
 * `/fhir/`, as FHIR clients post to their base): each entry is an operation
 * on `/v1/Type[/id]`, run in FHIR's order (DELETE, POST, PUT/PATCH, GET). A
 * transaction is one all-or-nothing group whose `fullUrl` references
 * (`urn:uuid:...`) are resolved to the records they stand for; it answers a
 * `transaction-response` Bundle, or the failing entry's status with one
 * OperationOutcome. A batch runs each entry alone and answers a
 * `batch-response` Bundle. Answers are `application/fhir+json`.
 */
export const fhirDialect: Dialect = {
  name: 'fhir',
  endpoints: [{ path: FHIR_BASE }, { path: `${FHIR_BASE}/` }],
  maxOperations: (config) => config.maxOps,

  decode(input, limits) {
    const { batch, info } = decodeBundle(input, limits.maxOperations);
    infos.set(batch, info);
    return batch;
  },

  encode(batch, outcome, ctx) {
    const info = infos.get(batch);
    if (!info) throw new Error('A FHIR Bundle was encoded without being decoded here.');
    return encodeBundleResponse(batch, outcome, info, ctx.baseUrl);
  },

  encodeError: (error) => encodeBundleError(error),
};
