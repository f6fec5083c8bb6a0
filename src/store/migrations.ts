/**
 * Versioned schema migrations, one list for both backends. Each backend runs
 * the statements of every version it has not recorded in `omnibus_migrations`,
 * inside one transaction per version, so running them again is a no-op.
 */
export interface Migration {
  version: number;
  description: string;
  sqlite: string[];
  postgres: string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'records, per-tenant usage counters, hashed tokens',
    sqlite: [
      `CREATE TABLE records (
         seq INTEGER PRIMARY KEY,
         tenant TEXT NOT NULL, collection TEXT NOT NULL, id TEXT NOT NULL,
         data TEXT NOT NULL, etag TEXT NOT NULL,
         created TEXT NOT NULL, updated TEXT NOT NULL,
         created_by TEXT NOT NULL, updated_by TEXT NOT NULL,
         UNIQUE (tenant, collection, id))`,
      `CREATE TABLE tenant_usage (tenant TEXT PRIMARY KEY, objects INTEGER NOT NULL)`,
      `CREATE TABLE tokens (hash TEXT PRIMARY KEY, tenant TEXT NOT NULL, subject TEXT NOT NULL,
         scopes TEXT NOT NULL, created TEXT NOT NULL)`,
    ],
    postgres: [
      `CREATE TABLE records (
         tenant text NOT NULL, collection text NOT NULL, id text NOT NULL,
         data jsonb NOT NULL, etag text NOT NULL,
         created text NOT NULL, updated text NOT NULL,
         created_by text NOT NULL, updated_by text NOT NULL,
         seq bigserial,
         PRIMARY KEY (tenant, collection, id))`,
      `CREATE TABLE tenant_usage (tenant text PRIMARY KEY, objects bigint NOT NULL)`,
      `CREATE TABLE tokens (hash text PRIMARY KEY, tenant text NOT NULL, subject text NOT NULL,
         scopes text NOT NULL, created text NOT NULL)`,
    ],
  },
  {
    version: 2,
    description: 'index for listing a collection in insertion order',
    sqlite: ['CREATE INDEX records_list ON records (tenant, collection, seq)'],
    postgres: ['CREATE INDEX records_list ON records (tenant, collection, seq)'],
  },
];
