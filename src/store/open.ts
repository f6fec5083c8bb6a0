import { isPostgresUrl, type Config } from '../config.js';
import type { Logger } from '../log.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './types.js';

/** Opens the store the configuration names: PostgreSQL for `postgres://` URLs, else the SQLite file. */
export async function openStore(config: Pick<Config, 'databaseUrl' | 'sqlitePath'> & Partial<Pick<Config, 'batchCommitMs'>>, logger?: Logger): Promise<Store> {
  if (isPostgresUrl(config.databaseUrl)) return PostgresStore.open({ url: config.databaseUrl, logger });
  return new SqliteStore({ path: config.sqlitePath, batchCommitMs: config.batchCommitMs });
}
