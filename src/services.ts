import { CollectionRegistry } from './api/collections.js';
import { objectXmlRoute } from './api/object-xml-route.js';
import { createApiHandler, type ExtraRoute } from './api/router.js';
import type { ApiHandler, ApiRequest } from './api/types.js';
import { Authenticator, bootstrapTokens } from './auth/authenticator.js';
import type { Config } from './config.js';
import { readAheadFor } from './api/read-ahead.js';
import { sharedWriteFilter } from './api/record-key.js';
import { lockAheadFor } from './api/lock-ahead.js';
import type { LockAhead, ReadAhead } from './engine/types.js';
import { silentLogger, type Logger } from './log.js';
import { errorFields, logFields } from './log-context.js';
import { IdempotencyGuard, Sweeper, sweepIntervalMs } from './idempotency/index.js';
import { instrumentStore, resourceRouteTemplate, ServerMetrics } from './metrics/index.js';
import { MemoryBuckets, RateLimiter } from './rate-limit/index.js';
import { openStore } from './store/open.js';
import type { Store } from './store/types.js';

/** Everything a running Omnibus shares: configuration, store, authentication and the resource API. */
export interface Services {
  config: Config;
  store: Store;
  auth: Authenticator;
  api: ApiHandler;
  /** The server's Prometheus metrics (src/metrics/). */
  meter: ServerMetrics;
  /** The route template of a resource API path, for metrics and logs (`/v1/{collection}/{id}`). */
  resourceRoute(path: string): string;
  logger: Logger;
  /** Fetches a batch's runs of reads in one query where the store's round trips are costly. */
  readAhead?: ReadAhead;
  /** Locks a group's records in a fixed order before it writes, where transactions can deadlock. */
  lockAhead?: LockAhead;
  /** Which operations of a batch may share one transaction side by side, where the store has one (PostgreSQL). */
  sharesCommit?: (req: ApiRequest) => boolean;
  /** Logs an error that made a request or operation answer 5xx, once, with the request's log fields. */
  logUnexpected(err: unknown): void;
  /** Idempotent retry of batches and single writes (`Idempotency-Key`), keys in the store. */
  idempotency?: IdempotencyGuard;
  /** OMNIBUS_RATE_LIMIT, when set. */
  rateLimiter?: RateLimiter;
  /** Stops background work (sweeps of expired keys and idle buckets); waits for a sweep in progress. */
  stopBackground(): Promise<void>;
  /** Set once the server shuts down: epoch ms after which no batch operation starts (504 `deadline_exceeded`). */
  operationsStopAt?: number;
}

export async function createServices(
  config: Config,
  options: { store?: Store; logger?: Logger; extraRoutes?: ExtraRoute[] } = {},
): Promise<Services> {
  const meter = new ServerMetrics();
  const store = instrumentStore(options.store ?? (await openStore(config, options.logger)), meter);
  const auth = new Authenticator(store);
  await bootstrapTokens(auth, config.tokens);
  const collections = new CollectionRegistry(config.collections, config.openCollections);
  const logger = options.logger ?? silentLogger;
  const logUnexpected = (err: unknown): void => logger.error({ ...logFields(), err: errorFields(err) }, 'unexpected error');
  const api = meter.wrap(createApiHandler({
    store,
    collections,
    requireIfMatch: config.requireIfMatch,
    maxObjectsFor: (tenant) => config.tenantMaxObjects[tenant] ?? config.maxObjects,
    // Seed 003's GET / PATCH /api/object/{ref}, which the XML dialect's read and included_attrs update use.
    extraRoutes: [objectXmlRoute({ store, collections, requireIfMatch: config.requireIfMatch }), ...(options.extraRoutes ?? [])],
    onUnexpectedError: logUnexpected,
  }));
  // On SQLite a read costs microseconds in-process: nothing to gain by reading ahead.
  const readAhead = store.kind === 'postgres' ? readAheadFor(store, collections) : undefined;
  const sharesCommit = store.openSharedCommit ? sharedWriteFilter(collections) : undefined;
  const lockAhead = store.lockRecords ? lockAheadFor(store as Store & Required<Pick<Store, 'lockRecords'>>, collections) : undefined;
  const idempotency = store.idempotencyKeys
    ? new IdempotencyGuard(store.idempotencyKeys, { ttlS: config.idempotencyTtlS, leaseS: config.idempotencyLeaseS, transactions: store, logger })
    : undefined;
  const rateLimiter = config.rateLimit ? new RateLimiter(config.rateLimit, store.rateBuckets ?? new MemoryBuckets(), { logger }) : undefined;
  const sweepers: Sweeper[] = [];
  if (idempotency) {
    const keys = idempotency.keys;
    sweepers.push(new Sweeper((limit) => keys.sweep(Date.now(), limit), sweepIntervalMs(config.idempotencyTtlS), logger, (fn) => idempotency.inRoot(fn)).start());
  }
  if (rateLimiter) {
    sweepers.push(new Sweeper(async () => (await rateLimiter.sweep(), 0), Math.max(1000, config.rateLimit!.windowS * 1000), logger).start());
  }
  const stopBackground = async (): Promise<void> => {
    await Promise.all(sweepers.map((s) => s.stop()));
  };
  const resourceRoute = (path: string): string => resourceRouteTemplate(path, collections);
  return { config, store, auth, api, meter, resourceRoute, logger, readAhead, lockAhead, sharesCommit, logUnexpected, idempotency, rateLimiter, stopBackground };
}
