import type { Principal } from '../auth/principal.js';
import type { Dialect, PrecheckEnvironment } from '../dialects/types.js';
import { executeBatch } from '../engine/execute.js';
import type { Dispatcher, LockAhead, ReadAhead, TransactionRunner } from '../engine/types.js';
import { validateBatch } from '../engine/validate.js';
import { ApiError, toApiError } from '../errors.js';
import { withLogFields } from '../log-context.js';
import { headerMap, requestToken } from './web.js';

/** What a batch endpoint needs from its host: the Omnibus server or a user's own Hono app. */
export interface BatchEnvironment {
  maxBatchBytes: number;
  batchDeadlineMs: number;
  maxOperations(dialect: Dialect): number;
  /** Paths of every batch endpoint (see `batchPathKey`): operations may not target them. */
  batchPaths: ReadonlySet<string>;
  authenticate(token: string | undefined): Promise<Principal | undefined>;
  dispatch: Dispatcher;
  transactions?: TransactionRunner;
  readAhead?: ReadAhead;
  lockAhead?: LockAhead;
  /** Units of a `graph` batch that may run at the same time (OMNIBUS_BATCH_CONCURRENCY); default 1. */
  batchConcurrency?: number;
  precheck?(principal: Principal): PrecheckEnvironment;
  /** Told of every error that made the batch or one of its operations answer 5xx (to log it, once). */
  onError?(err: unknown): void;
}

/**
 * One batch HTTP request, start to end: authenticate, read the body within
 * the limit, decode, validate everything, run, encode. Any refusal before
 * execution is answered in the dialect's own error form and runs nothing.
 */
export function handleBatchRequest(
  dialect: Dialect,
  req: Request,
  query: URLSearchParams,
  env: BatchEnvironment,
  readBody: (limit: number) => Promise<string>,
): Promise<Response> {
  return withLogFields({ dialect: dialect.name }, () => handle(dialect, req, query, env, readBody));
}

async function handle(
  dialect: Dialect,
  req: Request,
  query: URLSearchParams,
  env: BatchEnvironment,
  readBody: (limit: number) => Promise<string>,
): Promise<Response> {
  let text: string | undefined;
  try {
    const principal = await env.authenticate(requestToken(req.headers, query));
    if (!principal) throw new ApiError(401, 'unauthorized', 'A valid token is required (Authorization: Bearer <token> or ?token=).');
    text = await readBody(env.maxBatchBytes);
    const maxOperations = env.maxOperations(dialect);
    const baseUrl = new URL(req.url).origin;
    const batch = dialect.decode(
      { text, contentType: req.headers.get('content-type') ?? undefined, headers: headerMap(req.headers), baseUrl },
      { maxOperations },
    );
    const prepared = validateBatch(batch, { maxOperations, batchPaths: env.batchPaths });
    if (dialect.precheck && env.precheck) await dialect.precheck(batch, env.precheck(principal));
    const outcome = await executeBatch(
      prepared,
      {
        principal,
        dispatch: env.dispatch,
        transactions: env.transactions,
        readAhead: env.readAhead,
        lockAhead: env.lockAhead,
        concurrency: env.batchConcurrency,
        onUnexpectedError: env.onError,
        deadline: Date.now() + env.batchDeadlineMs,
        authenticateOperation: dialect.perOperationToken ? (token) => env.authenticate(token) : undefined,
      },
      { stopOnError: batch.stopOnError, order: batch.order },
    );
    const encoded = dialect.encode(batch, outcome, { baseUrl });
    return new Response(encoded.body, { status: encoded.status, headers: encoded.headers });
  } catch (err) {
    const error = toApiError(err);
    if (error.status >= 500) env.onError?.(err);
    const encoded = dialect.encodeError(error, { text });
    return new Response(encoded.body, { status: encoded.status, headers: encoded.headers });
  }
}
