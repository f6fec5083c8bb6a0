import { CollectionRegistry } from './api/collections.js';
import { createApiHandler, type ExtraRoute } from './api/router.js';
import type { ApiHandler } from './api/types.js';
import { Authenticator, bootstrapTokens } from './auth/authenticator.js';
import type { Config } from './config.js';
import { silentLogger, type Logger } from './log.js';
import { openStore } from './store/open.js';
import type { Store } from './store/types.js';

/** Everything a running Omnibus shares: configuration, store, authentication and the resource API. */
export interface Services {
  config: Config;
  store: Store;
  auth: Authenticator;
  api: ApiHandler;
  logger: Logger;
}

export async function createServices(
  config: Config,
  options: { store?: Store; logger?: Logger; extraRoutes?: ExtraRoute[] } = {},
): Promise<Services> {
  const store = options.store ?? (await openStore(config));
  const auth = new Authenticator(store);
  await bootstrapTokens(auth, config.tokens);
  const api = createApiHandler({
    store,
    collections: new CollectionRegistry(config.collections, config.openCollections),
    requireIfMatch: config.requireIfMatch,
    maxObjectsFor: (tenant) => config.tenantMaxObjects[tenant] ?? config.maxObjects,
    extraRoutes: options.extraRoutes,
  });
  return { config, store, auth, api, logger: options.logger ?? silentLogger };
}
