/**
 * Idempotent retry (`Idempotency-Key`) for every batch endpoint and for
 * single writes: see guard.ts, and docs/idempotency.md for what a client sees.
 */
export { requestFingerprint } from './fingerprint.js';
export { IdempotencyGuard, KeyAttempt, KeyTaken, keepsAnswer, type IdempotencyOptions, type KeyedRequest, type LiveResponse } from './guard.js';
export { IDEMPOTENCY_KEY_HEADER, parseIdempotencyKey, REPLAYED_HEADER } from './key.js';
export { liveResponse, runKeyedWrite } from './single-write.js';
export { Sweeper, sweepIntervalMs } from './sweeper.js';
