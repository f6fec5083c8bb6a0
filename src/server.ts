import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { createToken } from './auth/authenticator.js';
import type { Config } from './config.js';
import { createHttpApp } from './http/app.js';
import { silentLogger, type Logger } from './log.js';
import { createServices, type Services } from './services.js';
import type { Store } from './store/types.js';

export interface RunningServer {
  url: string;
  port: number;
  services: Services;
  /** Stops accepting connections, lets in-flight requests finish, then closes the store. */
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  store?: Store;
  /** Called with a token created on first start when no token exists at all. */
  onFirstToken?: (token: string) => void;
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? silentLogger;
  const services = await createServices(config, { store: options.store, logger });
  if ((await services.store.countTokens()) === 0 && options.onFirstToken) {
    const grant = await createToken(services.auth, 'default', ['admin']);
    options.onFirstToken(grant.token);
  }
  const app = createHttpApp(services);
  const server = await listen(app.fetch, config.host, config.port);
  const port = (server.address() as AddressInfo).port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info({ url, store: services.store.kind }, 'omnibus listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    services,
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Idle keep-alive sockets would hold close() open; in-flight requests still finish.
          if ('closeIdleConnections' in server) server.closeIdleConnections();
        });
        await services.store.close();
      })();
      return closing;
    },
  };
}

function listen(fetch: (req: Request, env?: unknown) => Response | Promise<Response>, hostname: string, port: number) {
  return new Promise<ServerType>((resolve, reject) => {
    const server = serve({ fetch, hostname, port }, () => resolve(server));
    server.once('error', reject);
  });
}
