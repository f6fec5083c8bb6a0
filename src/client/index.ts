/**
 * `omnibus/client`: a typed, fetch-based client for an Omnibus server, for
 * Node 20+ and browsers (nothing here imports a Node module). See
 * docs/client.md.
 *
 * ```ts
 * import { createClient } from 'omnibus/client';
 * const client = createClient({ baseUrl: 'http://127.0.0.1:3000', token });
 * const [a, b] = await Promise.all([client.get('/v1/books/1'), client.get('/v1/books/2')]); // one batch
 * ```
 */
export { createClient, type ListPage, type OmnibusClient } from './client.js';
export {
  BatchBuilder,
  TransactionBuilder,
  type BatchValue,
  type EtagReference,
  type GroupRef,
  type OperationOptions,
  type OperationRef,
  type PathArg,
  type Resolved,
  type UrlReference,
} from './builder.js';
export { OmnibusApiError, OmnibusError, OmnibusNetworkError, OmnibusUsageError, type ErrorCode, type ServerErrorCode } from './errors.js';
export type {
  BatchOptions,
  ClientOptions,
  ClientResponse,
  DialectName,
  OperationFailure,
  OperationResult,
  OperationSuccess,
  RequestEvent,
  RequestOptions,
  RetryOptions,
} from './types.js';
