/** Rate limits (OMNIBUS_RATE_LIMIT): token buckets per principal, every batch operation counting as one request. */
export { overBudget } from './budget.js';
export { RateLimiter, type Reservation } from './limiter.js';
export { MemoryBuckets } from './memory-buckets.js';
export { formatRateLimit, parseRateLimit, type RateLimit } from './parse.js';
