import type { RateBucketStore } from '../rate-bucket-types.js';
import type { PgQuery } from './postgres-idempotency.js';
import { GIVE_TOKENS_SQL, SWEEP_BUCKETS_SQL, TAKE_TOKENS_SQL } from './rate-bucket-statements.js';

/** Rate-limit buckets in the database (table `rate_buckets`), so that every node spends from one budget. */
export class PostgresRateBuckets implements RateBucketStore {
  constructor(private readonly query: PgQuery) {}

  async take(key: string, want: number, capacity: number, perSecond: number): Promise<{ granted: number; level: number }> {
    const r = await this.query<{ granted: number; tokens: number }>('omnibus_take_tokens', TAKE_TOKENS_SQL, [key, want, capacity, perSecond / 1000]);
    const row = r.rows[0]!;
    return { granted: Number(row.granted), level: Number(row.tokens) };
  }

  async give(key: string, tokens: number, capacity: number): Promise<void> {
    await this.query('omnibus_give_tokens', GIVE_TOKENS_SQL, [key, tokens, capacity]);
  }

  async sweep(idleMs: number): Promise<number> {
    const r = await this.query('omnibus_sweep_rate_buckets', SWEEP_BUCKETS_SQL, [idleMs]);
    return r.rowCount ?? 0;
  }
}
