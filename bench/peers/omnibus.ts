/**
 * Omnibus as a bench:peers child: `startServer` from the sources with `loadConfig(process.env)`,
 * so the limits the bench raises (OMNIBUS_MAX_OPS, OMNIBUS_MAX_BATCH_BYTES), the tokens
 * (OMNIBUS_TOKENS) and the database (OMNIBUS_DB for SQLite, DATABASE_URL for PostgreSQL) are
 * read exactly as `omnibus serve` reads them. No request logging (startServer's default logger
 * is silent; the peers log nothing either).
 */
import { loadConfig } from '../../src/config.js';
import { startServer } from '../../src/server.js';
import { runChild } from './child.js';

await runChild(async () => {
  const server = await startServer(loadConfig(process.env, { host: '127.0.0.1', port: 0 }));
  return { port: server.port, close: () => server.close() };
});
