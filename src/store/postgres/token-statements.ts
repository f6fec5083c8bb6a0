/**
 * The PostgreSQL store's statements on the `tokens` table (hashed tokens,
 * their public id, source and last use). Ids are computed by the caller
 * (`tokenValues`), so both backends derive them in one place.
 */
import { TOKEN_COLUMNS } from '../record-columns.js';

/** Insert a token, or replace tenant, subject, scopes and source of the same hash (`created` stays). */
export const PUT_TOKEN_SQL = `
INSERT INTO tokens (${TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (hash) DO UPDATE SET tenant = excluded.tenant, subject = excluded.subject, scopes = excluded.scopes,
  source = excluded.source`;

/** Under LOCK_TOKENS_SQL: the token, unless there is one already. */
export const PUT_FIRST_TOKEN_SQL = `
INSERT INTO tokens (${TOKEN_COLUMNS})
SELECT $1, $2, $3, $4, $5, $6, $7 WHERE NOT EXISTS (SELECT 1 FROM tokens)`;

/** Self-exclusive and exclusive of inserts: two first starts take turns, and the second sees the first's token. */
export const LOCK_TOKENS_SQL = 'LOCK TABLE tokens IN SHARE ROW EXCLUSIVE MODE';

export const FIND_TOKEN_SQL = 'SELECT hash, tenant, subject, scopes, created FROM tokens WHERE hash = $1';

export const LIST_TOKENS_SQL = 'SELECT id, tenant, subject, scopes, created, last_used, source FROM tokens ORDER BY created, id';

export const DELETE_TOKEN_SQL = 'DELETE FROM tokens WHERE id = $1';

/** Last-use times of several tokens in one statement ($1 hashes, $2 times); a time never moves backwards. */
export const TOUCH_TOKENS_SQL = `
UPDATE tokens AS t SET last_used = u.last_used
FROM unnest($1::text[], $2::text[]) AS u(hash, last_used)
WHERE t.hash = u.hash AND (t.last_used IS NULL OR t.last_used < u.last_used)`;

export interface TokenRow {
  hash: string;
  tenant: string;
  subject: string;
  scopes: string;
  created: string;
}

export interface TokenInfoRow {
  id: string;
  tenant: string;
  subject: string;
  scopes: string;
  created: string;
  last_used: string | null;
  source: string;
}
