import type { Batch } from '../../engine/types.js';
import type { Dialect } from '../types.js';
import { decodeMultipartBatch, type MultipartBatchInfo } from './decode.js';
import { encodeMultipartError, encodeMultipartResponse } from './encode.js';

/** What each decoded batch needs in `encode`: its parts and Content-IDs as written. */
const infos = new WeakMap<Batch, MultipartBatchInfo>();

/** The media type that sends a `POST /v1/$batch` here rather than to the OData JSON batch. */
export const MULTIPART_MIXED = 'multipart/mixed';

/**
 * OData multipart `$batch` with change sets (OData 4.0 §11.7, and v2/v3
 * clients): `POST /v1/$batch` (also `/v1/%24batch`) with `Content-Type:
 * multipart/mixed; boundary=...`. Each `application/http` part is one
 * request, each `multipart/mixed` part a change set run in one transaction;
 * parts run in order, `$<Content-ID>` references resolved from earlier
 * results; the answer is a `multipart/mixed` of responses in the same shape.
 */
export const odataMultipartDialect: Dialect = {
  name: 'odata-multipart',
  endpoints: [
    { path: '/v1/$batch', mediaTypes: [MULTIPART_MIXED] },
    { path: '/v1/%24batch', mediaTypes: [MULTIPART_MIXED] },
  ],
  maxOperations: (config) => config.maxOps,

  decode(input, limits) {
    const { batch, info } = decodeMultipartBatch(input, limits.maxOperations);
    infos.set(batch, info);
    return batch;
  },

  encode(batch, outcome) {
    const info = infos.get(batch);
    if (!info) throw new Error('An OData multipart batch was encoded without being decoded here.');
    return encodeMultipartResponse(outcome, info);
  },

  encodeError: encodeMultipartError,
};
