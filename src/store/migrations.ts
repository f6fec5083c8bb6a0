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
  {
    version: 3,
    description: 'tokens: a short public id (the start of the hash), when last used, and where each came from',
    // `source`: 'env' (OMNIBUS_TOKENS, reconciled at every start), 'cli', 'api', 'first-run';
    // tokens stored before this version cannot be told apart and become 'unknown'.
    sqlite: [
      'ALTER TABLE tokens ADD COLUMN id TEXT',
      'UPDATE tokens SET id = substr(hash, 1, 12)',
      'CREATE UNIQUE INDEX tokens_id ON tokens (id)',
      'ALTER TABLE tokens ADD COLUMN last_used TEXT',
      "ALTER TABLE tokens ADD COLUMN source TEXT NOT NULL DEFAULT 'unknown'",
    ],
    postgres: [
      "ALTER TABLE tokens ADD COLUMN id text, ADD COLUMN last_used text, ADD COLUMN source text NOT NULL DEFAULT 'unknown'",
      'UPDATE tokens SET id = left(hash, 12)',
      'ALTER TABLE tokens ALTER COLUMN id SET NOT NULL',
      'CREATE UNIQUE INDEX tokens_id ON tokens (id)',
    ],
  },
  {
    version: 4,
    description: 'PostgreSQL: list index on ARRAY[tenant, collection], so that key lookups can only use the primary key',
    // Without statistics (autovacuum off) PostgreSQL planned `tenant = AND collection = AND id =`
    // on (tenant, collection, seq) and read the whole collection; an expression index matches
    // only the list query, which names that expression (see store/postgres/statements.ts).
    sqlite: [],
    postgres: [
      'CREATE INDEX records_by_collection ON records ((ARRAY[tenant, collection]), seq)',
      'DROP INDEX records_list',
    ],
  },
  {
    version: 5,
    description: 'idempotency keys (per tenant: fingerprint, claim, stored response) and, on PostgreSQL, shared rate-limit buckets',
    // Times are epoch milliseconds. A key row is a claim (`running`, held until `lease_until`) or
    // a response (`done`, replayed until `expires_at`); see src/idempotency/. Rate buckets live in
    // the database only on PostgreSQL, where several nodes share one budget; SQLite is one node.
    // The bucket table is UNLOGGED: taking tokens writes no WAL, so it never waits for a WAL flush
    // (a crash of PostgreSQL empties it, which only gives every principal a full bucket).
    sqlite: [
      `CREATE TABLE idempotency_keys (
         tenant TEXT NOT NULL, key TEXT NOT NULL,
         fingerprint TEXT NOT NULL, owner TEXT NOT NULL, state TEXT NOT NULL,
         status INTEGER, headers TEXT, body BLOB,
         created INTEGER NOT NULL, lease_until INTEGER NOT NULL, expires_at INTEGER NOT NULL,
         PRIMARY KEY (tenant, key))`,
      'CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at)',
    ],
    postgres: [
      `CREATE TABLE idempotency_keys (
         tenant text NOT NULL, key text NOT NULL,
         fingerprint text NOT NULL, owner text NOT NULL, state text NOT NULL,
         status integer, headers text, body bytea,
         created bigint NOT NULL, lease_until bigint NOT NULL, expires_at bigint NOT NULL,
         PRIMARY KEY (tenant, key))`,
      'CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at)',
      `CREATE UNLOGGED TABLE rate_buckets (
         key text PRIMARY KEY, tokens float8 NOT NULL, updated_ms float8 NOT NULL, granted float8 NOT NULL DEFAULT 0)`,
    ],
  },
];
