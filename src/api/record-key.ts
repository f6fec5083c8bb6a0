import { decodePathSegments } from '../paths.js';
import type { RecordKey } from '../store/types.js';
import type { CollectionRegistry } from './collections.js';
import type { ApiRequest } from './types.js';

/**
 * The record a request names (`/v1/{collection}/{id}` in its principal's
 * tenant), resolved the way the router resolves it; undefined for anything
 * else (lists, other routes, bad paths: the route itself answers those).
 */
export function recordKeyResolver(collections: CollectionRegistry): (req: ApiRequest) => RecordKey | undefined {
  return (req) => {
    try {
      const segments = decodePathSegments(req.path);
      if (segments[0] !== 'v1' || segments.length < 3) return undefined;
      const target = collections.resolve(segments.slice(1));
      return target.id === undefined ? undefined : { tenant: req.principal.tenant, collection: target.collection, id: target.id };
    } catch {
      return undefined;
    }
  };
}

/**
 * Which operations may share a batch transaction side by side (see
 * TransactionRunner.openSharedCommit): a PATCH or DELETE of one record of the
 * resource API, whose whole effect is one compare-and-set statement. A PUT
 * may create, which takes more than one.
 */
export function sharedWriteFilter(collections: CollectionRegistry): (req: ApiRequest) => boolean {
  const recordKeyOf = recordKeyResolver(collections);
  return (req) => (req.method === 'PATCH' || req.method === 'DELETE') && recordKeyOf(req) !== undefined;
}
