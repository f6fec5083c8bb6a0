import type pg from 'pg';
import type { IdempotencyKeyStore, IdempotencyRow, StoredResponse } from '../idempotency-types.js';
import {
  COMPLETE_KEY_SQL,
  FIND_KEY_SQL,
  PUT_KEY_SQL,
  RENEW_KEY_SQL,
  SWEEP_KEYS_SQL,
  type KeyRowPg,
} from './idempotency-statements.js';

/** One statement as the PostgreSQL store runs it: on the open transaction's client inside one, else on the pool. */
export type PgQuery = <R extends pg.QueryResultRow = pg.QueryResultRow>(name: string, text: string, values: unknown[]) => Promise<pg.QueryResult<R>>;

/** Idempotency keys on PostgreSQL (table `idempotency_keys`); inside a transaction every call joins it. */
export class PostgresIdempotencyKeys implements IdempotencyKeyStore {
  constructor(private readonly query: PgQuery) {}

  async find(tenant: string, key: string): Promise<IdempotencyRow | undefined> {
    const r = await this.query<KeyRowPg>('omnibus_find_idempotency_key', FIND_KEY_SQL, [tenant, key]);
    const row = r.rows[0];
    if (!row) return undefined;
    return {
      fingerprint: row.fingerprint,
      owner: row.owner,
      state: row.state,
      response:
        row.state === 'done' && row.status !== null
          ? { status: row.status, headers: JSON.parse(row.headers ?? '{}') as Record<string, string>, body: new Uint8Array(row.body ?? Buffer.alloc(0)) }
          : undefined,
      leaseUntil: Number(row.lease_until),
      expiresAt: Number(row.expires_at),
    };
  }

  async put(tenant: string, key: string, row: IdempotencyRow, now: number): Promise<boolean> {
    const res = row.response;
    const r = await this.query('omnibus_put_idempotency_key', PUT_KEY_SQL, [
      tenant,
      key,
      row.fingerprint,
      row.owner,
      row.state,
      res?.status ?? null,
      res ? JSON.stringify(res.headers) : null,
      res ? Buffer.from(res.body) : null,
      row.leaseUntil,
      row.expiresAt,
      now,
    ]);
    return r.rowCount === 1;
  }

  async complete(tenant: string, key: string, owner: string, response: StoredResponse, expiresAt: number): Promise<boolean> {
    const r = await this.query('omnibus_complete_idempotency_key', COMPLETE_KEY_SQL, [
      tenant,
      key,
      owner,
      response.status,
      JSON.stringify(response.headers),
      Buffer.from(response.body),
      expiresAt,
    ]);
    return r.rowCount === 1;
  }

  async renew(tenant: string, key: string, owner: string, leaseUntil: number): Promise<boolean> {
    const r = await this.query('omnibus_renew_idempotency_key', RENEW_KEY_SQL, [tenant, key, owner, leaseUntil]);
    return r.rowCount === 1;
  }

  async sweep(now: number, limit: number): Promise<number> {
    const r = await this.query('omnibus_sweep_idempotency_keys', SWEEP_KEYS_SQL, [now, limit]);
    return r.rowCount ?? 0;
  }
}
