import { isPostgresUrl, type Config } from '../config.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './types.js';

/** Opens the store the configuration names: PostgreSQL for `postgres://` URLs, else the SQLite file. */
export async function openStore(config: Pick<Config, 'databaseUrl' | 'sqlitePath'>): Promise<Store> {
  if (isPostgresUrl(config.databaseUrl)) {
    throw new Error('PostgreSQL support is not built yet; unset DATABASE_URL to use the embedded SQLite store.');
  }
  return new SqliteStore({ path: config.sqlitePath });
}
