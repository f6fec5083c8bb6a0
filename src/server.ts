import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { createToken } from './auth/authenticator.js';
import type { Config } from './config.js';
import { createHttpApp } from './http/app.js';
import { silentLogger, type Logger } from './log.js';
import { createServices, type Services } from './services.js';
import { errorCode, errorMessage, StartupError } from './startup-error.js';
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

/**
 * Opens the store, bootstraps tokens and listens. Anything that keeps it from
 * starting (database unreachable, data directory not writable, port taken)
 * rejects with a `StartupError` whose message says what to check.
 */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? silentLogger;
  const services = await createServices(config, { store: options.store, logger });
  services.auth.log = logger;
  let server: ServerType;
  try {
    if (services.auth.removedEnvTokens.length > 0) {
      logger.info({ ids: services.auth.removedEnvTokens }, 'tokens no longer listed in OMNIBUS_TOKENS were revoked');
    }
    if ((await services.store.countTokens()) === 0 && options.onFirstToken) {
      const grant = await createToken(services.auth, 'default', ['admin'], 'first-run');
      options.onFirstToken(grant.token);
    }
    const app = createHttpApp(services);
    server = await listen(app.fetch, config.host, config.port);
  } catch (err) {
    await services.stopBackground().catch(() => {});
    await services.store.close().catch(() => {});
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info({ url, store: services.store.kind }, `listening on ${url} (${services.store.kind})`);

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
        await services.auth.flushUses();
        await services.stopBackground();
        await services.store.close();
      })();
      return closing;
    },
  };
}

function listen(fetch: (req: Request, env?: unknown) => Response | Promise<Response>, hostname: string, port: number) {
  return new Promise<ServerType>((resolve, reject) => {
    const server = serve({ fetch, hostname, port }, () => resolve(server));
    server.once('error', (err) => reject(listenError(err, hostname, port)));
  });
}

/** What an operator reads when the port cannot be had. */
export function listenError(err: unknown, host: string, port: number): StartupError {
  const code = errorCode(err);
  const text =
    code === 'EADDRINUSE'
      ? `port ${port} is in use: set PORT (or --port) to a free port, or stop the process that holds it`
      : code === 'EACCES'
        ? `port ${port} needs privileges this user does not have: set PORT (or --port) to a port above 1023`
        : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN'
          ? `cannot listen on ${host}: no such address on this machine (${code}): set HOST (or --host), e.g. 127.0.0.1 or 0.0.0.0`
          : `cannot listen on ${host}:${port}: ${errorMessage(err)}${code ? ` (${code})` : ''}`;
  return new StartupError(text, { cause: err });
}
