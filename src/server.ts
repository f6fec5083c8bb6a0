import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { createFirstToken } from './auth/authenticator.js';
import type { Config } from './config.js';
import { createHttpApp } from './http/app.js';
import { drainable } from './http/drain.js';
import { silentLogger, type Logger } from './log.js';
import { listenMetrics, type MetricsListener } from './metrics/index.js';
import { createServices, type Services } from './services.js';
import { errorCode, errorMessage, StartupError } from './startup-error.js';
import type { Store } from './store/types.js';

export interface RunningServer {
  url: string;
  port: number;
  services: Services;
  /** Where `/metrics` is served without a token when `metricsPort` (OMNIBUS_METRICS_PORT) is set. */
  metricsUrl?: string;
  /**
   * Graceful stop: refuses new connections, closes idle keep-alive ones, lets
   * running requests finish (no batch operation starts later than the batch
   * deadline from now; connections still open `SHUTDOWN_GRACE_MS` after that
   * are ended), then closes the store. Calling it again returns the same stop.
   */
  shutdown(): Promise<ShutdownResult>;
  /** `shutdown()`, for callers that need not know how it went. */
  close(): Promise<void>;
  /** Ends every connection now (running requests get no answer), then stops as `shutdown()` does. */
  abort(): Promise<ShutdownResult>;
}

/** How a stop went: `cut` requests were ended unanswered (0 for a clean stop). */
export interface ShutdownResult {
  cut: number;
}

/** After the shutdown's batch deadline: time for the operations running then to finish and their answers to be written. */
export const SHUTDOWN_GRACE_MS = 2000;

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
  let server: ServerType | undefined;
  let metricsListener: MetricsListener | undefined;
  try {
    if (services.auth.removedEnvTokens.length > 0) {
      logger.info({ ids: services.auth.removedEnvTokens }, 'tokens no longer listed in OMNIBUS_TOKENS were revoked');
    }
    if (options.onFirstToken && (await services.store.countTokens()) === 0) {
      const grant = await createFirstToken(services.auth, 'default', ['admin']);
      if (grant) options.onFirstToken(grant.token);
    }
    const app = createHttpApp(services);
    server = await listen(app.fetch, config.host, config.port);
    if (config.metricsPort !== undefined) {
      metricsListener = await listenMetrics(services.meter, config.host, config.metricsPort).catch((err: unknown) => {
        throw listenError(err, config.host, config.metricsPort!, 'OMNIBUS_METRICS_PORT');
      });
    }
  } catch (err) {
    server?.close();
    await services.stopBackground().catch(() => {});
    await services.store.close().catch(() => {});
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info({ url, store: services.store.kind }, `listening on ${url} (${services.store.kind})`);
  if (metricsListener) logger.info({ url: metricsListener.url }, `metrics on ${metricsListener.url}/metrics`);

  const connections = drainable(server as Server);
  let closing: Promise<ShutdownResult> | undefined;
  const shutdown = (): Promise<ShutdownResult> => {
    closing ??= (async () => {
      const stopBy = Date.now() + config.batchDeadlineMs;
      services.operationsStopAt = stopBy;
      const draining = connections.drain(stopBy + SHUTDOWN_GRACE_MS);
      logger.info(
        { running: connections.running, deadlineMs: config.batchDeadlineMs },
        `stopped accepting connections; finishing ${connections.running} running requests`,
      );
      const result = await draining;
      if (result.cut > 0) logger.warn({ cut: result.cut }, `ended ${result.cut} requests before they were answered`);
      await services.auth.flushUses();
      await services.stopBackground();
      await services.store.close();
      await metricsListener?.close();
      logger.info({ cut: result.cut }, 'stopped: store closed');
      return result;
    })();
    return closing;
  };
  return {
    url,
    port,
    services,
    ...(metricsListener ? { metricsUrl: metricsListener.url } : {}),
    shutdown,
    close: () => shutdown().then(() => {}),
    abort() {
      const stopping = shutdown();
      void connections.cutAll();
      return stopping;
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
export function listenError(err: unknown, host: string, port: number, setting = 'PORT (or --port)'): StartupError {
  const code = errorCode(err);
  const text =
    code === 'EADDRINUSE'
      ? `port ${port} is in use: set ${setting} to a free port, or stop the process that holds it`
      : code === 'EACCES'
        ? `port ${port} needs privileges this user does not have: set ${setting} to a port above 1023`
        : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN'
          ? `cannot listen on ${host}: no such address on this machine (${code}): set HOST (or --host), e.g. 127.0.0.1 or 0.0.0.0`
          : `cannot listen on ${host}:${port}: ${errorMessage(err)}${code ? ` (${code})` : ''}`;
  return new StartupError(text, { cause: err });
}
