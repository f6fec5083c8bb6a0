import { CollectionRegistry } from './api/collections.js';
import { objectXmlRoute } from './api/object-xml-route.js';
import { createApiHandler, type ExtraRoute } from './api/router.js';
import type { ApiHandler } from './api/types.js';
import { Authenticator, bootstrapTokens } from './auth/authenticator.js';
import type { Config } from './config.js';
import { silentLogger, type Logger } from './log.js';
import { RequestMeter } from './metrics.js';
import { openStore } from './store/open.js';
import type { Store } from './store/types.js';

/** Everything a running Omnibus shares: configuration, store, authentication and the resource API. */
export interface Services {
  config: Config;
  store: Store;
  auth: Authenticator;
  api: ApiHandler;
  meter: RequestMeter;
  logger: Logger;
}

export async function createServices(
  config: Config,
  options: { store?: Store; logger?: Logger; extraRoutes?: ExtraRoute[] } = {},
): Promise<Services> {
  const store = options.store ?? (await openStore(config, options.logger));
  const auth = new Authenticator(store);
  await bootstrapTokens(auth, config.tokens);
  const collections = new CollectionRegistry(config.collections, config.openCollections);
  const meter = new RequestMeter();
  const api = meter.wrap(createApiHandler({
    store,
    collections,
    requireIfMatch: config.requireIfMatch,
    maxObjectsFor: (tenant) => config.tenantMaxObjects[tenant] ?? config.maxObjects,
    // Seed 003's GET / PATCH /api/object/{ref}, which the XML dialect's read and included_attrs update use.
    extraRoutes: [objectXmlRoute({ store, collections, requireIfMatch: config.requireIfMatch }), ...(options.extraRoutes ?? [])],
  }));
  return { config, store, auth, api, meter, logger: options.logger ?? silentLogger };
}
