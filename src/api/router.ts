import { hasScope, type Scope } from '../auth/principal.js';
import { ApiError } from '../errors.js';
import { decodePathSegments } from '../paths.js';
import type { Store } from '../store/types.js';
import { CollectionRegistry } from './collections.js';
import { RecordsApi, type RecordsOptions } from './records.js';
import { errorResponse } from './responses.js';
import type { ApiHandler, ApiRequest, ApiResponse } from './types.js';

const MAX_ID_LENGTH = 256;
const READ_METHODS = new Set(['GET', 'HEAD']);
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** A route outside `/v1` that the resource API also serves (for example `GET /api/object/{ref}`). */
export interface ExtraRoute {
  /** Returns a handler when this route owns the decoded segments, else undefined. */
  match(segments: string[], method: string): ((req: ApiRequest, segments: string[]) => Promise<ApiResponse>) | undefined;
}

export interface ApiOptions extends RecordsOptions {
  store: Store;
  collections: CollectionRegistry;
  extraRoutes?: ExtraRoute[];
  /** Told of every error that is not a client's mistake (the request answers 5xx). */
  onUnexpectedError?: (err: unknown) => void;
}

/**
 * The resource API as one framework-free function. Never throws: every
 * failure becomes a problem+json response, exactly as over HTTP.
 */
export function createApiHandler(options: ApiOptions): ApiHandler {
  const records = new RecordsApi(options.store, options.collections, options);
  const extra = options.extraRoutes ?? [];

  return async function handleApiRequest(req: ApiRequest): Promise<ApiResponse> {
    const res = await route(req);
    // HEAD answers GET's status and headers without its body, in a batch as over HTTP.
    return req.method === 'HEAD' ? { status: res.status, headers: res.headers } : res;
  };

  async function route(req: ApiRequest): Promise<ApiResponse> {
    try {
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      requireScope(req, method);
      const segments = decodePathSegments(req.path);
      if (segments[0] !== 'v1' || segments.length < 2) {
        for (const route of extra) {
          const handler = route.match(segments, method);
          if (handler) return await handler(req, segments);
        }
        throw new ApiError(404, 'not_found', `Nothing at ${req.path}.`);
      }
      const target = options.collections.resolve(segments.slice(1));
      if (target.id === undefined) {
        if (method === 'GET') return await records.list(req, target.collection);
        if (method === 'POST') return await records.create(req, target.collection);
        throw notAllowed(method, 'GET, HEAD, POST');
      }
      if (target.id.length > MAX_ID_LENGTH) throw new ApiError(400, 'invalid_path', `Record ids are at most ${MAX_ID_LENGTH} characters.`);
      const key = { tenant: req.principal.tenant, collection: target.collection, id: target.id };
      switch (method) {
        case 'GET':
          return await records.read(req, key);
        case 'PUT':
          return await records.replace(req, key);
        case 'PATCH':
          return await records.patch(req, key);
        case 'DELETE':
          return await records.remove(req, key);
        default:
          throw notAllowed(method, 'GET, HEAD, PUT, PATCH, DELETE');
      }
    } catch (err) {
      if (!(err instanceof ApiError)) options.onUnexpectedError?.(err);
      return errorResponse(err);
    }
  }
}

function requireScope(req: ApiRequest, method: string): void {
  let scope: Scope;
  if (READ_METHODS.has(method)) scope = 'read';
  else if (WRITE_METHODS.has(method)) scope = 'write';
  else throw notAllowed(method, 'GET, HEAD, POST, PUT, PATCH, DELETE');
  if (!hasScope(req.principal, scope)) {
    throw new ApiError(403, 'forbidden', `This token lacks the ${scope} scope.`);
  }
}

function notAllowed(method: string, allow: string): ApiError {
  return new ApiError(405, 'method_not_allowed', `${method} is not allowed here.`, { allow });
}
