/**
 * Token buckets of the rate limit (src/rate-limit/) where every node must
 * share them: a store that offers this keeps them in the database
 * (PostgreSQL); otherwise the limiter keeps them in memory.
 */
export interface RateBucketStore {
  /**
   * Takes up to `want` tokens from bucket `key` in one atomic step: the
   * bucket holds at most `capacity` tokens and refills at `perSecond`
   * (a new bucket starts full). Answers the tokens granted (a whole number,
   * `min(want, floor(level))`) and the level left after the grant.
   */
  take(key: string, want: number, capacity: number, perSecond: number): Promise<{ granted: number; level: number }>;
  /** Gives `tokens` back to bucket `key` (never above `capacity`). */
  give(key: string, tokens: number, capacity: number): Promise<void>;
  /** Deletes buckets untouched for `idleMs` (they would be full again); answers how many. */
  sweep(idleMs: number): Promise<number>;
}
