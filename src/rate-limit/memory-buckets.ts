import type { RateBucketStore } from '../store/rate-bucket-types.js';

interface Bucket {
  tokens: number;
  updatedMs: number;
}

/** Buckets kept before idle (full) ones are forgotten. */
const MAX_BUCKETS = 100_000;

/**
 * Token buckets in this process's memory: enough for one node (SQLite, or a
 * library). `take` is synchronous inside, so concurrent requests never
 * interleave within one.
 */
export class MemoryBuckets implements RateBucketStore {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly now: () => number = () => performance.timeOrigin + performance.now()) {}

  async take(key: string, want: number, capacity: number, perSecond: number): Promise<{ granted: number; level: number }> {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= MAX_BUCKETS) this.forgetIdle(capacity / perSecond * 1000);
      this.buckets.set(key, (bucket = { tokens: capacity, updatedMs: now }));
    }
    const level = Math.min(capacity, bucket.tokens + Math.max(0, now - bucket.updatedMs) * (perSecond / 1000));
    const granted = Math.min(Math.max(0, want), Math.floor(level));
    bucket.tokens = level - granted;
    bucket.updatedMs = Math.max(bucket.updatedMs, now);
    return { granted, level: bucket.tokens };
  }

  async give(key: string, tokens: number, capacity: number): Promise<void> {
    const bucket = this.buckets.get(key);
    if (bucket) bucket.tokens = Math.min(capacity, bucket.tokens + tokens);
  }

  async sweep(idleMs: number): Promise<number> {
    return this.forgetIdle(idleMs);
  }

  private forgetIdle(idleMs: number): number {
    const before = this.buckets.size;
    const now = this.now();
    for (const [key, b] of this.buckets) if (now - b.updatedMs >= idleMs) this.buckets.delete(key);
    // Still full of busy buckets: start over rather than grow without bound.
    if (this.buckets.size >= MAX_BUCKETS) this.buckets.clear();
    return before - this.buckets.size;
  }
}
