#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { Authenticator, createToken } from './auth/authenticator.js';
import { parseScopes, TENANT_PATTERN } from './auth/tokens.js';
import { registerDataCommands } from './cli/commands.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger, logFormatFrom } from './log.js';
import { startServer } from './server.js';
import { StartupError } from './startup-error.js';
import { openStore } from './store/open.js';
import type { Store, TokenInfo } from './store/types.js';

interface StoreOptions {
  db?: string;
  databaseUrl?: string;
}

/** Flags win over the environment; both go through the same validation (and the same messages). */
function configFrom(opts: StoreOptions & { port?: string; host?: string }): Config {
  const env = { ...process.env };
  if (opts.port !== undefined) env['PORT'] = opts.port;
  if (opts.host !== undefined) env['HOST'] = opts.host;
  if (opts.db !== undefined) env['OMNIBUS_DB'] = opts.db;
  if (opts.databaseUrl !== undefined) env['DATABASE_URL'] = opts.databaseUrl;
  return loadConfig(env);
}

/** A mistake in what was asked (unknown token id, bad tenant): printed alone, exit code 1. */
class CliError extends Error {}

function intArg(value: string): string {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  return value;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function withStore<T>(opts: StoreOptions, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(configFrom(opts));
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

const STORE_HELP = `
The database is the one the server uses: DATABASE_URL (or --database-url) for
PostgreSQL, else the SQLite file OMNIBUS_DB (or --db, default ./data/omnibus.db).`;

const program = new Command()
  .name('omnibus')
  .description('Batch-operations API server: one HTTP request, many operations, real transactions.')
  .exitOverride()
  .version(version(), '-v, --version', 'print the version')
  .helpOption('-h, --help', 'show help for a command')
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText(
    'after',
    `
Examples:
  $ omnibus serve                                  # SQLite in ./data/omnibus.db, http://127.0.0.1:3000
  $ DATABASE_URL=postgres://u:p@db:5432/omnibus omnibus serve --host 0.0.0.0
  $ omnibus token create --tenant acme --scopes read,write
  $ omnibus token list
  $ omnibus serve --help                           # every command has its own help`,
  );

program
  .command('serve')
  .description('Run the HTTP server: the resource API, every batch endpoint, /healthz and /metrics')
  .option('-p, --port <port>', 'port to listen on (PORT, default 3000; 0 picks a free one)', intArg)
  .option('-H, --host <host>', 'address to bind (HOST, default 127.0.0.1; 0.0.0.0 for every interface)')
  .option('--db <path>', 'SQLite file (OMNIBUS_DB, default ./data/omnibus.db)')
  .option('--database-url <url>', 'postgres://user:password@host:5432/db to use PostgreSQL (DATABASE_URL)')
  .addHelpText(
    'after',
    `
Every other setting comes from the environment (OMNIBUS_MAX_OPS, OMNIBUS_TOKENS,
LOG_LEVEL, LOG_FORMAT=json|pretty, ...; see the README). Logs are human-readable
on a terminal and JSON lines otherwise. On a first start without any token, an
admin token for tenant "default" is created and printed once, to stderr.

Examples:
  $ omnibus serve --port 8080
  $ OMNIBUS_TOKENS="s3cret=acme:read,write" omnibus serve --db /var/lib/omnibus/omnibus.db
  $ DATABASE_URL=postgres://omnibus:pw@127.0.0.1:5432/omnibus omnibus serve --host 0.0.0.0
  $ LOG_FORMAT=json omnibus serve | tee omnibus.log`,
  )
  .action(async (opts: StoreOptions & { port?: string; host?: string }) => {
    const config = configFrom(opts);
    const logger = createLogger(config.logLevel, { format: logFormatFrom(process.env['LOG_FORMAT'], process.stdout.isTTY === true) });
    const starting = startServer(config, { logger, onFirstToken: printFirstToken });
    // Installed before the server is up, so a signal during start-up still ends it cleanly.
    // The first SIGTERM/SIGINT stops gracefully; a second one ends the running requests at once.
    // Exit code 0 when every request received was answered, 1 when some had to be cut off.
    let signals = 0;
    const onSignal = (signal: string) => {
      signals++;
      if (signals === 1) {
        logger.info({ signal }, `${signal}: shutting down (a second signal ends running requests at once)`);
        starting
          .then((server) => server.shutdown())
          .then(
            ({ cut }) => process.exit(cut > 0 ? 1 : 0),
            (err: unknown) => {
              logger.error({ err }, 'shutdown failed');
              process.exit(1);
            },
          );
        return;
      }
      logger.warn({ signal }, `${signal} again: ending running requests now`);
      void starting.then((server) => server.abort()).catch(() => {});
      // Should closing the store itself hang, the second signal still ends the process.
      setTimeout(() => process.exit(1), 5000).unref();
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    const server = await starting;
    // The server logs this line at info; below that level it still appears, once, on stdout.
    if (!logger.isLevelEnabled('info')) process.stdout.write(`omnibus: listening on ${server.url} (${server.services.store.kind})\n`);
  });

/** The first-run admin token goes to stderr, framed, apart from the log lines on stdout. */
function printFirstToken(token: string): void {
  const rule = '='.repeat(72);
  process.stderr.write(
    [
      '',
      rule,
      '  No token existed, so Omnibus created an admin token for tenant "default":',
      '',
      `      ${token}`,
      '',
      '  Only its hash is stored: this is the only time it is shown. Keep it.',
      '  Use it as "Authorization: Bearer <token>"; make more with',
      '  "omnibus token create --tenant <tenant> --scopes read,write".',
      rule,
      '',
      '',
    ].join('\n'),
  );
}

const token = program
  .command('token')
  .description('Create, list and revoke API tokens (stored hashed, in the server\'s database)')
  .addHelpText(
    'after',
    `
Examples:
  $ omnibus token create --tenant acme --scopes read,write
  $ omnibus token list --tenant acme
  $ omnibus token revoke 3f9a1c07be12`,
  );

token
  .command('create')
  .description('Create a token and print it once on stdout (only its hash is stored)')
  .requiredOption('--tenant <tenant>', 'tenant the token belongs to')
  .option('--scopes <scopes>', 'comma-separated: read, write, admin', 'read,write')
  .option('--db <path>', 'SQLite file (OMNIBUS_DB)')
  .option('--database-url <url>', 'postgres://... (DATABASE_URL)')
  .addHelpText(
    'after',
    `${STORE_HELP}

Examples:
  $ omnibus token create --tenant acme                       # read,write
  $ omnibus token create --tenant acme --scopes admin
  $ T=$(omnibus token create --tenant acme --scopes read) && curl -H "Authorization: Bearer $T" localhost:3000/v1/books`,
  )
  .action(async (opts: StoreOptions & { tenant: string; scopes: string }) => {
    if (!TENANT_PATTERN.test(opts.tenant)) {
      throw new CliError(`invalid tenant "${opts.tenant}" (letters, digits, . _ -; up to 64 characters)`);
    }
    const scopes = parseScopes(opts.scopes);
    await withStore(opts, async (store) => {
      const grant = await createToken(new Authenticator(store), opts.tenant, scopes, 'cli');
      process.stdout.write(`${grant.token}\n`);
      process.stderr.write(`created token ${grant.id} for tenant ${opts.tenant} (${scopes.join(', ')}); it is not shown again\n`);
    });
  });

token
  .command('list')
  .description('List tokens: id, tenant, subject, scopes, source, created, last used (never the token)')
  .option('--tenant <tenant>', 'only this tenant\'s tokens')
  .option('--json', 'print JSON (one array) instead of a table')
  .option('--db <path>', 'SQLite file (OMNIBUS_DB)')
  .option('--database-url <url>', 'postgres://... (DATABASE_URL)')
  .addHelpText(
    'after',
    `${STORE_HELP}

"source" says where a token came from: env (OMNIBUS_TOKENS, revoked at the next
start once the variable no longer lists it), cli, api (POST /admin/tokens),
first-run, or unknown (stored by a version that did not record it). "last used"
is written at most once a minute per token, so it may be a minute behind.

Examples:
  $ omnibus token list
  $ omnibus token list --tenant acme --json`,
  )
  .action(async (opts: StoreOptions & { tenant?: string; json?: boolean }) => {
    const tokens = await withStore(opts, async (store) => {
      const all = await store.listTokens();
      return opts.tenant === undefined ? all : all.filter((t) => t.tenant === opts.tenant);
    });
    process.stdout.write(opts.json ? `${JSON.stringify(tokens, null, 2)}\n` : tokenTable(tokens));
  });

token
  .command('revoke')
  .description('Delete a token by its id (from "omnibus token list"); it stops working')
  .argument('<id>', 'the token\'s id, as "omnibus token list" shows it')
  .option('--db <path>', 'SQLite file (OMNIBUS_DB)')
  .option('--database-url <url>', 'postgres://... (DATABASE_URL)')
  .addHelpText(
    'after',
    `${STORE_HELP}

A running server that has the token cached stops accepting it within 30 seconds.
A token from OMNIBUS_TOKENS comes back at the server's next start unless it is
removed from the variable too.

Examples:
  $ omnibus token revoke 3f9a1c07be12`,
  )
  .action(async (id: string, opts: StoreOptions) => {
    await withStore(opts, async (store) => {
      const found = (await store.listTokens()).find((t) => t.id === id);
      if (!found || !(await store.deleteToken(id))) {
        throw new CliError(`no token with id "${id}" (see omnibus token list)`);
      }
      process.stdout.write(`revoked token ${id} (tenant ${found.tenant}, ${found.scopes.join(', ')})\n`);
      if (found.source === 'env') {
        process.stderr.write('note: it comes from OMNIBUS_TOKENS; remove it there too, or the next start stores it again\n');
      }
    });
  });

function tokenTable(tokens: TokenInfo[]): string {
  if (tokens.length === 0) return 'no tokens\n';
  const rows = [
    ['ID', 'TENANT', 'SUBJECT', 'SCOPES', 'SOURCE', 'CREATED', 'LAST USED'],
    ...tokens.map((t) => [t.id, t.tenant, t.subject, t.scopes.join(','), t.source, t.created, t.lastUsed ?? 'never']),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

registerDataCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // --help and --version end here with code 0; usage errors were already printed by commander.
    process.exit(err.exitCode);
  }
  const known = err instanceof ConfigError || err instanceof StartupError || err instanceof CliError;
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`omnibus: ${message}\n`);
  if (!known && err instanceof Error && /^(debug|trace)$/.test(process.env['LOG_LEVEL'] ?? '')) {
    process.stderr.write(`${err.stack}\n`);
  }
  process.exit(1);
});
