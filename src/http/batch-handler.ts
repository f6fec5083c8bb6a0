import type { Principal } from '../auth/principal.js';
import type { Dialect, PrecheckEnvironment } from '../dialects/types.js';
import { executeBatch } from '../engine/execute.js';
import type { Batch, BatchOutcome, CommitRecorder, Dispatcher, ExecutionContext, LockAhead, ReadAhead, TransactionRunner } from '../engine/types.js';
import { validateBatch } from '../engine/validate.js';
import { ApiError, toApiError } from '../errors.js';
import { IDEMPOTENCY_KEY_HEADER, KeyTaken, parseIdempotencyKey, requestFingerprint, type IdempotencyGuard, type KeyAttempt } from '../idempotency/index.js';
import { withLogFields } from '../log-context.js';
import { overBudget, type RateLimiter } from '../rate-limit/index.js';
import type { EncodedResponse } from '../dialects/types.js';
import { headerMap, requestToken } from './web.js';

/** What a batch endpoint needs from its host: the Omnibus server or a user's own Hono app. */
export interface BatchEnvironment {
  maxBatchBytes: number;
  batchDeadlineMs: number;
  /** Epoch ms after which no operation starts whatever the batch's own deadline (a shutting-down server's). */
  operationsStopAt?(): number | undefined;
  maxOperations(dialect: Dialect): number;
  /** Paths of every batch endpoint (see `batchPathKey`): operations may not target them. */
  batchPaths: ReadonlySet<string>;
  authenticate(token: string | undefined): Promise<Principal | undefined>;
  dispatch: Dispatcher;
  transactions?: TransactionRunner;
  readAhead?: ReadAhead;
  lockAhead?: LockAhead;
  /** Which operations may share one batch transaction side by side (ExecutionContext.sharesCommit). */
  sharesCommit?: ExecutionContext['sharesCommit'];
  /** Units of a `graph` batch that may run at the same time (OMNIBUS_BATCH_CONCURRENCY); default 1. */
  batchConcurrency?: number;
  /** List GETs one batch may carry, where its dialect limits them (OMNIBUS_COMPOSITE_MAX_QUERIES); absent or 0: no limit. */
  maxQueries?: number;
  precheck?(principal: Principal): PrecheckEnvironment;
  /** Told of every error that made the batch or one of its operations answer 5xx (to log it, once). */
  onError?(err: unknown): void;
  /** Idempotent retry of batches with an `Idempotency-Key` (src/idempotency/); without it the header is ignored. */
  idempotency?: IdempotencyGuard;
  /** The rate limit (src/rate-limit/): each operation takes one token; without it nothing is limited. */
  rateLimit?: RateLimiter;
  /** Told of every batch that runs and each operation it dispatches (the server's metrics and debug lines). */
  observer?: BatchObserver;
}

/** Follows batches as they run (see `BatchEnvironment.observer`). */
export interface BatchObserver {
  /** A batch of `dialect` arrived (before decoding): the trace follows it. */
  start(dialect: string): BatchTrace;
}

export interface BatchTrace {
  /** The dispatcher the batch's operations go through: `dispatch`, or a wrapper that times them. */
  dispatcher(dispatch: Dispatcher): Dispatcher;
  /** The batch ran (it was not refused) and its answer is encoded. */
  ran(batch: Batch, outcome: BatchOutcome): void;
}

/** What the host knows of the client beyond the request: its address, against which failed authentications count. */
export interface BatchClient {
  address?: string;
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
  client: BatchClient = {},
): Promise<Response> {
  return withLogFields({ dialect: dialect.name }, () => handle(dialect, req, query, env, readBody, client));
}

async function handle(
  dialect: Dialect,
  req: Request,
  query: URLSearchParams,
  env: BatchEnvironment,
  readBody: (limit: number) => Promise<string>,
  client: BatchClient,
): Promise<Response> {
  let text: string | undefined;
  try {
    const principal = await authenticate(req, query, env, client.address);
    const key = env.idempotency ? parseIdempotencyKey(req.headers.get(IDEMPOTENCY_KEY_HEADER)) : undefined;
    text = await readBody(env.maxBatchBytes);
    const body = text;
    if (key === undefined || !env.idempotency) return webResponse(await runBatch(dialect, req, body, principal, env));
    const fingerprint = requestFingerprint(req.method, new URL(req.url).pathname, query, body);
    return await env.idempotency.run({ tenant: principal.tenant, key, fingerprint }, (attempt) => runBatch(dialect, req, body, principal, env, attempt));
  } catch (err) {
    return webResponse(refusal(dialect, err, text, env));
  }
}

/**
 * The batch request's principal. Failed authentications count against the
 * client's address under the rate limit; an address over it is refused
 * before its token is looked at.
 */
async function authenticate(req: Request, query: URLSearchParams, env: BatchEnvironment, address: string | undefined): Promise<Principal> {
  const limiter = env.rateLimit;
  const blocked = limiter?.blockedFor(address);
  if (limiter && blocked !== undefined) throw limiter.blockedError(blocked);
  let principal: Principal | undefined;
  let failure: unknown;
  try {
    principal = await env.authenticate(requestToken(req.headers, query));
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) throw err;
    failure = err;
  }
  if (principal) return principal;
  const wait = await limiter?.failedAuthentication(address);
  if (limiter && wait !== undefined) throw limiter.blockedError(wait);
  throw failure ?? new ApiError(401, 'unauthorized', 'A valid token is required (Authorization: Bearer <token> or ?token=).');
}

/**
 * Decode, validate everything, reserve the rate-limit budget, run, encode:
 * one answer in the dialect's form, refusals included. With an idempotency
 * `attempt`, the batch's first commit carries its key (see CommitRecorder),
 * and when the whole batch ran in that one transaction the answer recorded
 * with it is the one sent.
 */
async function runBatch(
  dialect: Dialect,
  req: Request,
  text: string,
  principal: Principal,
  env: BatchEnvironment,
  attempt?: KeyAttempt,
): Promise<EncodedResponse> {
  try {
    const trace = env.observer?.start(dialect.name);
    const maxOperations = env.maxOperations(dialect);
    const baseUrl = new URL(req.url).origin;
    const batch = dialect.decode(
      { text, contentType: req.headers.get('content-type') ?? undefined, headers: headerMap(req.headers), baseUrl },
      { maxOperations, maxQueries: env.maxQueries },
    );
    const prepared = validateBatch(batch, { maxOperations, batchPaths: env.batchPaths });
    if (dialect.precheck && env.precheck) await dialect.precheck(batch, env.precheck(principal));
    const refused = await reserveBudget(batch, principal, env.rateLimit);
    // Keys commit with the batch's writes only in transactions their store's calls join; else claim before anything runs.
    const joins = attempt !== undefined && env.transactions !== undefined && env.idempotency?.options.transactions === env.transactions;
    if (attempt && !joins) {
      await attempt.record(undefined);
      attempt.committed();
    }
    let recorded: EncodedResponse | undefined;
    const recorder: CommitRecorder | undefined =
      attempt && joins
        ? {
            get recorded() {
              return attempt.recorded;
            },
            async write(whole) {
              const encoded = whole && dialect.encode(batch, whole, { baseUrl });
              await attempt.record(encoded);
              recorded = encoded;
            },
            committed: () => attempt.committed(),
          }
        : undefined;
    const outcome = await executeBatch(
      prepared,
      {
        principal,
        dispatch: trace ? trace.dispatcher(env.dispatch) : env.dispatch,
        transactions: env.transactions,
        readAhead: env.readAhead,
        lockAhead: env.lockAhead,
        sharesCommit: env.sharesCommit,
        concurrency: env.batchConcurrency,
        onUnexpectedError: env.onError,
        deadline: Math.min(Date.now() + env.batchDeadlineMs, env.operationsStopAt?.() ?? Infinity),
        authenticateOperation: dialect.perOperationToken ? (token) => env.authenticate(token) : undefined,
        recorder,
        refused,
      },
      { stopOnError: batch.stopOnError, order: batch.order },
    );
    // The batch's last transaction committed its answer: that answer, exactly, is the one sent.
    const encoded = attempt?.final && recorded ? recorded : dialect.encode(batch, outcome, { baseUrl });
    trace?.ran(batch, outcome);
    return encoded;
  } catch (err) {
    if (err instanceof KeyTaken) throw err;
    return refusal(dialect, err, text, env);
  }
}

/**
 * Takes one token per operation in one step; the operations the grant does
 * not cover (in request order, a group whole or not at all) answer 429
 * `rate_limited` without running, and tokens granted to none go back.
 */
async function reserveBudget(batch: Batch, principal: Principal, limiter: RateLimiter | undefined): Promise<Map<number, ApiError> | undefined> {
  if (!limiter) return undefined;
  const want = batch.operations.length;
  const grant = await limiter.reserve(principal, want);
  if (grant.granted >= want) return undefined;
  const { refused, unused } = overBudget(batch.operations, grant.granted, () => limiter.error(grant.retryAfterS, 'This operation'));
  await limiter.refund(principal, unused);
  return refused;
}

function refusal(dialect: Dialect, err: unknown, text: string | undefined, env: BatchEnvironment): EncodedResponse {
  const error = toApiError(err);
  if (error.status >= 500) env.onError?.(err);
  return dialect.encodeError(error, { text });
}

function webResponse(encoded: EncodedResponse): Response {
  return new Response(encoded.body, { status: encoded.status, headers: encoded.headers });
}
