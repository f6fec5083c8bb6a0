#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { Authenticator, createToken } from './auth/authenticator.js';
import { parseScopes, TENANT_PATTERN } from './auth/tokens.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './log.js';
import { startServer } from './server.js';
import { openStore } from './store/open.js';

function configFrom(opts: { port?: string; host?: string; db?: string; databaseUrl?: string }): Config {
  return loadConfig(process.env, {
    port: opts.port !== undefined ? Number(opts.port) : undefined,
    host: opts.host,
    sqlitePath: opts.db,
    databaseUrl: opts.databaseUrl,
  });
}

function intArg(value: string): string {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  return value;
}

const program = new Command()
  .name('omnibus')
  .description('Batch-operations API server: one HTTP request, many operations, real transactions.');

program
  .command('serve')
  .description('Run the server (SQLite in ./data/omnibus.db unless DATABASE_URL says otherwise)')
  .option('-p, --port <port>', 'port to listen on (PORT, default 3000)', intArg)
  .option('-H, --host <host>', 'address to bind (HOST, default 127.0.0.1)')
  .option('--db <path>', 'SQLite file (OMNIBUS_DB, default ./data/omnibus.db)')
  .option('--database-url <url>', 'postgres://... to use PostgreSQL (DATABASE_URL)')
  .action(async (opts) => {
    const config = configFrom(opts);
    const logger = createLogger(config.logLevel);
    const server = await startServer(config, {
      logger,
      onFirstToken: (token) => {
        process.stdout.write(
          `\nNo tokens were configured, so one admin token for tenant "default" was created.\n` +
            `It is stored hashed and will not be shown again:\n\n    ${token}\n\n`,
        );
      },
    });
    process.stdout.write(`Omnibus listening on ${server.url} (${server.services.store.kind})\n`);
    const shutdown = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      server.close().then(
        () => process.exit(0),
        (err) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });

const token = program.command('token').description('Manage API tokens');
token
  .command('create')
  .description('Create a token and print it once (only its hash is stored)')
  .requiredOption('--tenant <tenant>', 'tenant the token belongs to')
  .option('--scopes <scopes>', 'comma-separated: read, write, admin', 'read,write')
  .option('--db <path>', 'SQLite file (OMNIBUS_DB)')
  .option('--database-url <url>', 'postgres://... (DATABASE_URL)')
  .action(async (opts: { tenant: string; scopes: string; db?: string; databaseUrl?: string }) => {
    if (!TENANT_PATTERN.test(opts.tenant)) throw new InvalidArgumentError(`invalid tenant "${opts.tenant}"`);
    const scopes = parseScopes(opts.scopes);
    const store = await openStore(configFrom(opts));
    try {
      const grant = await createToken(new Authenticator(store), opts.tenant, scopes);
      process.stdout.write(`${grant.token}\n`);
    } finally {
      await store.close();
    }
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  const message = err instanceof ConfigError || err instanceof Error ? err.message : String(err);
  process.stderr.write(`omnibus: ${message}\n`);
  process.exit(1);
});
