import type { Batch } from '../../engine/types.js';
import type { Dialect } from '../types.js';
import { decodeODataBatch, type ODataBatchInfo } from './decode.js';
import { encodeODataError, encodeODataResponse } from './encode.js';

/** What each decoded batch needs in `encode`: groups as written, the preference applied. */
const infos = new WeakMap<Batch, ODataBatchInfo>();

/**
 * OData 4.01 JSON batch, as Microsoft Graph's `$batch` speaks it:
 * `POST /v1/$batch` (also `/v1/%24batch`) with `{"requests":[{id, method,
 * url, headers?, body?, atomicityGroup?, dependsOn?}]}`. Requests run as a
 * dependency graph (independent ones concurrently), each `atomicityGroup` in
 * one transaction, `$<id>` references resolved from earlier results; the
 * answer is `{"responses":[...]}` in request order with `OData-Version: 4.01`,
 * and errors are OData error objects.
 */
export const odataJsonDialect: Dialect = {
  name: 'odata-json',
  endpoints: [{ path: '/v1/$batch' }, { path: '/v1/%24batch' }],
  maxOperations: (config) => config.maxOps,

  decode(input, limits) {
    const { batch, info } = decodeODataBatch(input, limits.maxOperations);
    infos.set(batch, info);
    return batch;
  },

  encode(batch, outcome) {
    return encodeODataResponse(batch, outcome, infos.get(batch));
  },

  encodeError: encodeODataError,
};
