import type { Batch } from '../../engine/types.js';
import type { Dialect } from '../types.js';
import { decodeAtomicBatch, type AtomicOperationInfo } from './decode.js';
import { encodeAtomicRefusal, encodeAtomicResponse } from './encode.js';

export { ATOMIC_EXT, ATOMIC_MEDIA_TYPE } from './media-type.js';

/** What each decoded document needs in `encode`: each operation's op, type and lid. */
const infos = new WeakMap<Batch, AtomicOperationInfo[]>();

/**
 * JSON:API Atomic Operations (https://jsonapi.org/ext/atomic): `POST
 * /operations` with `Content-Type: application/vnd.api+json;
 * ext="https://jsonapi.org/ext/atomic"` (any other type is 415, as JSON:API
 * requires, so the endpoint takes every request and refuses in its own
 * form). `add`, `update` and `remove` of resources map onto the resource
 * API, lids resolve to what earlier adds created, and every operation runs
 * in one transaction: `{"atomic:results":[...]}` in order, or the failing
 * operation's status with a JSON:API error document pointing at it.
 */
export const jsonapiAtomicDialect: Dialect = {
  name: 'jsonapi-atomic',
  endpoints: [{ path: '/operations' }],
  maxOperations: (config) => config.maxOps,

  decode(input, limits) {
    const { batch, info } = decodeAtomicBatch(input, limits.maxOperations);
    infos.set(batch, info);
    return batch;
  },

  encode(batch, outcome) {
    const info = infos.get(batch);
    if (!info) throw new Error('A JSON:API atomic operations document was encoded without being decoded here.');
    return encodeAtomicResponse(outcome, info);
  },

  encodeError: encodeAtomicRefusal,
};
