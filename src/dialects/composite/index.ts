import type { Dialect } from '../types.js';
import { decodeComposite } from './decode.js';
import { encodeCompositeError, encodeCompositeResponse } from './encode.js';

/** Salesforce's REST API versions, as they stand in a path: `v59.0`. */
const VERSION = ':version{v[0-9]+\\.[0-9]+}';

/** The Composite endpoint, for any API version. */
export const COMPOSITE_PATH = `/services/data/${VERSION}/composite`;

/**
 * Salesforce Composite (`POST /services/data/v{NN.N}/composite`, any
 * version): `{"allOrNone", "compositeRequest": [{method, url, referenceId,
 * body?, httpHeaders?}]}`. Subrequests run one at a time, in order, each
 * alone or, with `allOrNone: true`, all in one transaction; `@{refId.path}`
 * references take values of earlier responses, in the url's id segment or a
 * query value and in body strings; `sobjects/{collection}[/{id}]` urls are
 * `/v1/{collection}[/{id}]`. The answer is `{"compositeResponse": [...]}`,
 * errors Salesforce's `[{"errorCode","message"}]`, and a refused request an
 * error array with its status (401 `INVALID_SESSION_ID`).
 */
export const compositeDialect: Dialect = {
  name: 'composite',
  endpoints: [
    { path: COMPOSITE_PATH },
    // The rest of Salesforce's Composite family (batch, tree, graph, sobjects) is not served, but no
    // operation may reach it either: an endpoint that answers no media type only reserves its path.
    { path: `${COMPOSITE_PATH}/*`, mediaTypes: [] },
  ],
  maxOperations: (config) => config.maxOps,

  decode(input, limits) {
    return decodeComposite(input, limits);
  },

  encode(batch, outcome) {
    return encodeCompositeResponse(batch, outcome);
  },

  encodeError: encodeCompositeError,
};
