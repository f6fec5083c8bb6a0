/** Schema set-up of the PostgreSQL store: versioned migrations under an advisory lock, and the schema's search path. */
import type pg from 'pg';
import { MIGRATIONS } from '../migrations.js';
import { runInTransaction, type Client } from './transaction.js';

/** First key of the two-int advisory lock that guards migrations ('OMNB'). */
const MIGRATION_LOCK_CLASS = 0x4f4d4e42;

/** Creates the schema (if any) and applies missing migrations, each in its own transaction. */
export async function migrate(client: Client, schema: string | undefined): Promise<void> {
  const lock = (): Promise<unknown> =>
    client.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2))', [
      MIGRATION_LOCK_CLASS,
      `omnibus:${schema ?? ''}`,
    ]);
  const setup = async (): Promise<void> => {
    await lock();
    if (schema !== undefined) {
      const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
      // Checked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when the schema exists.
      if (exists.rowCount === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    }
    await client.query(
      'CREATE TABLE IF NOT EXISTS omnibus_migrations (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())',
    );
  };
  await runInTransaction(client, undefined, setup);
  const applied = async (): Promise<Set<number>> =>
    new Set((await client.query<{ version: number }>('SELECT version FROM omnibus_migrations')).rows.map((r) => r.version));
  const done = await applied();
  for (const m of MIGRATIONS) {
    if (done.has(m.version)) continue;
    await runInTransaction(client, undefined, async () => {
      await lock();
      // Another server may have applied it while we waited for the lock.
      const again = await client.query('SELECT 1 FROM omnibus_migrations WHERE version = $1', [m.version]);
      if (again.rowCount !== 0) return;
      for (const sql of m.postgres) await client.query(sql);
      await client.query('INSERT INTO omnibus_migrations (version) VALUES ($1)', [m.version]);
    });
  }
}

/** Pool connection settings that put `schema` first on every connection's search_path. */
export function connectionConfig(url: string, schema: string | undefined): pg.PoolConfig {
  if (schema === undefined) return { connectionString: url };
  const setting = `-c search_path=${quoteIdent(schema)}`;
  // Options in the URL override `options` in the config, so merge into them when present.
  try {
    const parsed = new URL(url);
    const existing = parsed.searchParams.get('options');
    if (existing !== null) {
      parsed.searchParams.set('options', `${existing} ${setting}`);
      return { connectionString: parsed.toString() };
    }
  } catch {
    // Not a WHATWG-parsable URL: pg parses it its own way, and it has no options we could merge.
  }
  return { connectionString: url, options: setting };
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
