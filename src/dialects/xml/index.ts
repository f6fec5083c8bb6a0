import type { Batch } from '../../engine/types.js';
import { ApiError } from '../../errors.js';
import type { Dialect } from '../types.js';
import { checkXmlContentType, parseXmlRequest, toBatch, type XmlRequest } from './decode.js';
import { encodeXmlError, encodeXmlResponse } from './encode.js';
import { readRoot } from './parser.js';

export { escapeXml } from './writer.js';
export type { XmlOperation, XmlRequest } from './decode.js';

/** The parsed request behind each decoded batch: its identifier and operation kinds, for `encode`. */
const requests = new WeakMap<Batch, XmlRequest>();

/**
 * Seed 003: an XML document of create / read / update / delete operations on
 * objects at `POST /api/object/batch`, answered in XML. Operations run in
 * order and fail individually; a refused batch is answered in XML too.
 */
export const xmlDialect: Dialect = {
  name: 'xml',
  endpoints: [{ path: '/api/object/batch' }],
  maxOperations: (config) => config.maxXmlOps,

  decode(input, limits) {
    checkXmlContentType(input.contentType);
    const request = parseXmlRequest(input.text, limits.maxOperations);
    const batch = toBatch(request);
    requests.set(batch, request);
    return batch;
  },

  /** The object limit: a batch with creates that would pass it is refused whole, before anything runs. */
  async precheck(batch, env) {
    const creates = batch.operations.filter((op) => op.method === 'POST').length;
    if (creates === 0 || env.maxObjects <= 0) return;
    const count = await env.countObjects();
    if (count + creates > env.maxObjects) {
      throw new ApiError(
        403,
        'object_limit_exceeded',
        `This batch creates ${creates} object(s); with ${count} stored that passes the limit of ${env.maxObjects}. Nothing was run.`,
      );
    }
  },

  encode(batch, outcome, ctx) {
    const request = requests.get(batch);
    if (!request) throw new ApiError(500, 'internal', 'The XML batch lost its request.');
    return encodeXmlResponse(request, outcome.results, ctx.baseUrl);
  },

  encodeError(error, input) {
    return encodeXmlError(error, identifierOf(input.text));
  },
};

/** The refused request's identifier when it can be read safely, else empty. */
function identifierOf(text: string | undefined): string {
  if (text === undefined) return '';
  const root = readRoot(text);
  return root?.name === 'request' ? (root.attributes['identifier'] ?? '') : '';
}
