export { omnibus, type OmnibusOptions } from './library.js';
export { transactionContext, type TransactionContext } from './adapters/transactions.js';
export type { OmnibusCommonOptions } from './adapters/shared.js';
export { batchPrincipal, fetchDispatcher, type FetchHandler } from './engine/fetch-dispatcher.js';
export type { Batch, Operation, OperationResult, BatchOutcome, Dispatcher, TransactionRunner } from './engine/types.js';
export { validateBatch } from './engine/validate.js';
export { executeBatch } from './engine/execute.js';
export {
  DIALECTS,
  compositeDialect,
  fhirDialect,
  jsonapiAtomicDialect,
  odataJsonDialect,
  odataMultipartDialect,
  opsDialect,
  partsDialect,
  requestsDialect,
  xmlDialect,
  type Dialect,
} from './dialects/index.js';
export type { Principal, Scope } from './auth/principal.js';
export { ApiError, type ErrorCode, type Problem } from './errors.js';
export { loadConfig, type Config } from './config.js';
export { startServer, type RunningServer } from './server.js';
export type { Store } from './store/types.js';
export { SqliteStore } from './store/sqlite/sqlite-store.js';
export { IdempotencyGuard, type IdempotencyOptions } from './idempotency/index.js';
export { MemoryBuckets, parseRateLimit, RateLimiter, type RateLimit } from './rate-limit/index.js';
