import type { Principal } from '../auth/principal.js';
import { ApiError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RateBucketStore } from '../store/rate-bucket-types.js';
import { formatRateLimit, type RateLimit } from './parse.js';

/** What a reservation gave: `granted` of the tokens asked for, and when the rest could be had. */
export interface Reservation {
  granted: number;
  /** Seconds until the bucket holds what was refused (at least 1); 0 when nothing was refused. */
  retryAfterS: number;
}

/** Addresses remembered as blocked before they are forgotten all at once. */
const MAX_BLOCKED = 10_000;

/**
 * The rate limit (OMNIBUS_RATE_LIMIT): a token bucket per principal, of
 * `limit` tokens refilled over `windowS`; every request, and every
 * operation of a batch, takes one. A batch takes all of its operations in
 * one step (`reserve`), and gets as many as the bucket holds.
 *
 * Failed authentications spend from a bucket of the client's address
 * instead; once it is empty, every request from that address is answered
 * 429 before its token is even looked at (so guessing tokens gains nothing),
 * until the bucket holds a token again. This node remembers the block; the
 * bucket itself is shared like the others.
 *
 * Buckets live in `buckets`: the database on PostgreSQL (every node spends
 * from one budget), memory otherwise. When the bucket store fails, requests
 * are let through (and the failure logged): the limit protects the service,
 * it must not take it down.
 */
export class RateLimiter {
  readonly perSecond: number;
  private readonly blocked = new Map<string, number>();

  constructor(
    readonly limit: RateLimit,
    private readonly buckets: RateBucketStore,
    private readonly options: { logger?: Pick<Logger, 'warn'>; now?: () => number } = {},
  ) {
    this.perSecond = limit.limit / limit.windowS;
  }

  /** Takes `want` tokens from the principal's bucket in one step. */
  async reserve(principal: Principal, want: number): Promise<Reservation> {
    if (want <= 0) return { granted: 0, retryAfterS: 0 };
    return this.take(principalKey(principal), want);
  }

  /** Gives back tokens a reservation did not use (a group that could not have them all). */
  async refund(principal: Principal, tokens: number): Promise<void> {
    if (tokens <= 0) return;
    await this.buckets.give(principalKey(principal), tokens, this.limit.limit).catch((err: unknown) => this.warn(err));
  }

  /** Seconds to wait when `address` is blocked after failed authentications; undefined when it is not. */
  blockedFor(address: string | undefined): number | undefined {
    if (address === undefined) return undefined;
    const until = this.blocked.get(address);
    if (until === undefined) return undefined;
    const left = until - this.now();
    if (left <= 0) {
      this.blocked.delete(address);
      return undefined;
    }
    return Math.max(1, Math.ceil(left / 1000));
  }

  /** A failed authentication from `address`: spends from its bucket; answers the seconds to wait when that made it empty. */
  async failedAuthentication(address: string | undefined): Promise<number | undefined> {
    if (address === undefined) return undefined;
    const r = await this.take(addressKey(address), 1);
    if (r.granted === 1) return undefined;
    if (this.blocked.size >= MAX_BLOCKED) this.blocked.clear();
    this.blocked.set(address, this.now() + r.retryAfterS * 1000);
    return r.retryAfterS;
  }

  /** The error a request over the budget answers (429 `rate_limited`, `Retry-After`). */
  error(retryAfterS: number, what = 'This request'): ApiError {
    return new ApiError(
      429,
      'rate_limited',
      `${what} is over the rate limit (OMNIBUS_RATE_LIMIT=${formatRateLimit(this.limit)}, every batch operation counting as one request); retry after ${retryAfterS} s.`,
      {},
      { 'retry-after': String(retryAfterS) },
    );
  }

  /** The error of an address blocked after failed authentications. */
  blockedError(retryAfterS: number): ApiError {
    return new ApiError(
      429,
      'rate_limited',
      `Too many failed authentications from this address (OMNIBUS_RATE_LIMIT=${formatRateLimit(this.limit)}); retry after ${retryAfterS} s.`,
      {},
      { 'retry-after': String(retryAfterS) },
    );
  }

  /** Forgets buckets idle for a whole window (they are full again), so memory and the table stay small. */
  sweep(): Promise<number> {
    return this.buckets.sweep(this.limit.windowS * 1000);
  }

  private async take(key: string, want: number): Promise<Reservation> {
    let r: { granted: number; level: number };
    try {
      r = await this.buckets.take(key, want, this.limit.limit, this.perSecond);
    } catch (err) {
      this.warn(err);
      return { granted: want, retryAfterS: 0 };
    }
    const refused = want - r.granted;
    if (refused <= 0) return { granted: r.granted, retryAfterS: 0 };
    // Enough for the refused ones (never more than a full bucket); at least a second.
    const needed = Math.min(refused, this.limit.limit) - r.level;
    return { granted: r.granted, retryAfterS: Math.max(1, Math.ceil(needed / this.perSecond)) };
  }

  private warn(err: unknown): void {
    this.options.logger?.warn({ err }, 'the rate limit could not reach its buckets; letting the request through');
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }
}

function principalKey(p: Principal): string {
  return `principal:${p.tenant}:${p.subject}`;
}

function addressKey(address: string): string {
  return `address:${address}`;
}
