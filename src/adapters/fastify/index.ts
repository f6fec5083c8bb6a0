import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, InjectOptions } from 'fastify';
import { DIALECTS, mediaTypeOf, type Dialect } from '../../dialects/index.js';
import { handleBatchRequest, type BatchEnvironment } from '../../http/batch-handler.js';
import {
  asBatch,
  batchEnvironment,
  batchRoutes,
  headPaths,
  injectDispatcher,
  nestedBatchResponse,
  readStreamText,
  requestOrigin,
  webHeaders,
  type OmnibusCommonOptions,
} from '../shared.js';

export { batchPrincipal } from '../../engine/fetch-dispatcher.js';
export { transactionContext, type TransactionContext } from '../transactions.js';
export type { OmnibusCommonOptions } from '../shared.js';
export type { Principal, Scope } from '../../auth/principal.js';

export type OmnibusFastifyOptions = OmnibusCommonOptions;

/** The route constraint that tells apart endpoints sharing a path by media type (parts' `POST /v1`). */
const MEDIA_TYPE_CONSTRAINT = 'omnibusMediaType';

/**
 * Every batch endpoint as a Fastify 5 plugin, for your own Fastify app:
 *
 *     import Fastify from 'fastify';
 *     import { omnibus, batchPrincipal } from 'omnibus/fastify';
 *
 *     const app = Fastify();
 *     await app.register(omnibus, { authenticate });
 *     app.get('/hello/:name', async (req) => ({ hi: (req.params as any).name, who: batchPrincipal()?.subject }));
 *
 * Each operation runs through the app in-process with `app.inject` (no
 * socket, no loopback HTTP), so your hooks, schemas and handlers run for
 * every operation as for any request; the batch principal is readable with
 * `batchPrincipal()` (async context), never from a header, and credential
 * headers inside operations are dropped.
 *
 * The plugin is encapsulated on purpose (no `fastify-plugin`): it reads batch
 * bodies itself, within `maxBatchBytes`, and the content-type parsers it sets
 * for that apply to its own routes only. An endpoint that answers one media
 * type only (parts at `POST /v1`) is a constrained route, so your own
 * `POST /v1` keeps every other request.
 */
export const omnibus: FastifyPluginAsync<OmnibusFastifyOptions> = async (fastify, options) => {
  // Routing is global in Fastify: inject on the plugin's instance reaches every route of the app.
  const env = batchEnvironment(options, injectDispatcher((injection) => fastify.inject(injection as InjectOptions)));
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

  const dialects = options.dialects ?? DIALECTS;
  const routes = batchRoutes(dialects);
  const served = new Set(routes.map((r) => r.path));
  const trailing = (path: string) => fastify.initialConfig.ignoreTrailingSlash && path.endsWith('/') && served.has(path.slice(0, -1));
  for (const path of headPaths(dialects)) if (!trailing(path)) fastify.head(fastifyPath(path), async (_request, reply) => reply.code(200).send());
  for (const route of routes) {
    // With ignoreTrailingSlash, `/fhir/` is the route `/fhir` already is.
    if (trailing(route.path)) continue;
    const url = fastifyPath(route.path);
    for (const { dialect, mediaTypes } of route.dialects) {
      const handler = batchHandler(dialect, env);
      if (!mediaTypes) {
        fastify.post(url, handler);
        continue;
      }
      ensureMediaTypeConstraint(fastify);
      for (const type of mediaTypes) fastify.post(url, { constraints: { [MEDIA_TYPE_CONSTRAINT]: type } }, handler);
    }
  }
};

function batchHandler(dialect: Dialect, env: BatchEnvironment) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const raw = request.raw.url ?? request.url;
    const q = raw.indexOf('?');
    const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
    const web = batchRequest(request, raw);
    const response =
      nestedBatchResponse(dialect) ??
      (await asBatch(env, web, query, (once) =>
        handleBatchRequest(dialect, web, query, once, (limit) => readBody(request, limit), { address: request.ip }),
      ));
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => (headers[name] = value));
    return reply.code(response.status).headers(headers).send(await response.text());
  };
}

/** The batch request as the batch handler reads it (its URL, headers); the body is read from the stream. */
function batchRequest(request: FastifyRequest, raw: string): Request {
  const origin = requestOrigin(request.protocol, request.headers.host);
  const headers = webHeaders(request.headers);
  try {
    return new Request(origin + raw, { method: 'POST', headers });
  } catch {
    return new Request(origin + '/', { method: 'POST', headers });
  }
}

/** The body stream the plugin's catch-all parser handed on, or the raw request when Fastify parsed nothing (no body, no type). */
function readBody(request: FastifyRequest, limit: number): Promise<string> {
  const stream = (isReadable(request.body) ? request.body : request.raw) as Readable;
  return readStreamText(stream, request.headers['content-length'], limit);
}

function isReadable(x: unknown): x is Readable {
  return typeof x === 'object' && x !== null && typeof (x as Readable).pipe === 'function';
}

/**
 * A dialect path as a Fastify route. Parameter segments are Hono's syntax in
 * a dialect (`:name`, `:name{regex}`, a trailing `/*`), Fastify's here
 * (`:name`, `:name(^regex$)`, `*`). And Fastify's router never decodes a
 * percent-encoded reserved character in a static path, nor matches one it was
 * given (`/v1/%24batch` would be unreachable), so such a segment becomes a
 * parameter that matches exactly its decoded value (`$batch`), which routing
 * compares after decoding; the literal spelling (`/v1/$batch`) is a route of
 * its own, as in the dialect.
 */
export function fastifyPath(path: string): string {
  let n = 0;
  const segments = path.split('/');
  return segments
    .map((segment, i) => {
      if (segment === '*' && i === segments.length - 1) return '*';
      if (segment.startsWith(':')) {
        const brace = segment.indexOf('{');
        return brace < 0 ? segment : `${segment.slice(0, brace)}(^${segment.slice(brace + 1, segment.lastIndexOf('}'))}$)`;
      }
      if (!segment.includes('%')) return segment;
      const decoded = decodeURIComponent(segment).replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
      return `:omnibus${n++}(^${decoded}$)`;
    })
    .join('/');
}

function ensureMediaTypeConstraint(fastify: FastifyInstance): void {
  if (fastify.hasConstraintStrategy(MEDIA_TYPE_CONSTRAINT)) return;
  fastify.addConstraintStrategy({
    name: MEDIA_TYPE_CONSTRAINT,
    storage() {
      const handlers = new Map<string, unknown>();
      return {
        get: (type: string) => (handlers.get(type) ?? null) as never,
        set: (type: string, store: unknown) => void handlers.set(type, store),
      };
    },
    deriveConstraint: (req) => mediaTypeOf(req.headers['content-type']),
    // A request of another type goes to the unconstrained route of the same path, if the app has one.
    mustMatchWhenDerived: false,
  });
}
