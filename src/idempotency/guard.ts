import { AsyncResource } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { TransactionRunner } from '../engine/types.js';
import { ApiError } from '../errors.js';
import type { Logger } from '../log.js';
import type { IdempotencyKeyStore, IdempotencyRow, StoredResponse } from '../store/idempotency-types.js';
import { REPLAYED_HEADER } from './key.js';

export interface IdempotencyOptions {
  /** Seconds a response is kept and replayed (OMNIBUS_IDEMPOTENCY_TTL_S). */
  ttlS: number;
  /** Seconds a claim holds a key for a request still running (OMNIBUS_IDEMPOTENCY_LEASE_S); renewed while it runs. */
  leaseS: number;
  /**
   * The transaction runner whose transactions the key store's calls join
   * (the same Omnibus store): only in its transactions can a key commit
   * together with a request's writes. Batches running in another runner's
   * transactions (your own database) claim their key before they run.
   */
  transactions?: TransactionRunner;
  /** Epoch milliseconds (tests may move time). */
  now?: () => number;
  logger?: Pick<Logger, 'warn'>;
}

/** Who asks, with which key, for what: the key is the tenant's, the fingerprint the request's (fingerprint.ts). */
export interface KeyedRequest {
  tenant: string;
  key: string;
  fingerprint: string;
}

/** A response as a request produces it: the body as text, as dialects and routes encode it. */
export interface LiveResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Seconds a client is told to wait before retrying a key whose first request is still running. */
const IN_PROGRESS_RETRY_AFTER_S = 1;

/**
 * Thrown by `KeyAttempt.record` when another request holds the key: the
 * transaction it was written in must roll back, and the request is answered
 * from that other request's row.
 */
export class KeyTaken extends Error {
  constructor() {
    super('The idempotency key is held by another request.');
  }
}

/**
 * Idempotent retry (the IETF httpapi Idempotency-Key draft) for batches and
 * single writes: per tenant and key, the first request's fingerprint and its
 * complete response are kept for `ttlS`; the same key with the same
 * fingerprint is answered with that response, byte for byte, with
 * `Idempotent-Replayed: true`, and nothing runs again.
 *
 * The key is written together with the request's effects where it can be
 * (see KeyAttempt): inside the one transaction that holds them all, else as
 * a claim inside (or before) the first transaction that commits, completed
 * with the response afterwards. docs/idempotency.md says what a client sees.
 */
export class IdempotencyGuard {
  /** Keys of requests running on this node (tenant NUL key → fingerprint). */
  private readonly running = new Map<string, string>();
  /** Renewals and sweeps run in this context, never inside a request's transaction. */
  private readonly root = new AsyncResource('omnibus.idempotency');
  readonly now: () => number;

  constructor(
    readonly keys: IdempotencyKeyStore,
    readonly options: IdempotencyOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Answers a keyed request: replays a stored response, refuses (422
   * `idempotency_key_reused`, 409 `idempotency_in_progress`), or runs `work`
   * with a fresh attempt and keeps what it answers.
   */
  async run(request: KeyedRequest, work: (attempt: KeyAttempt) => Promise<LiveResponse>): Promise<Response> {
    const id = `${request.tenant}\u0000${request.key}`;
    const other = this.running.get(id);
    if (other !== undefined) throw other === request.fingerprint ? inProgress() : reused();
    this.running.set(id, request.fingerprint);
    const attempt = new KeyAttempt(this, request);
    try {
      const earlier = answerFrom(await this.keys.find(request.tenant, request.key), request, this.now());
      if (earlier) return earlier;
      let live: LiveResponse;
      try {
        live = await work(attempt);
      } catch (err) {
        if (!(err instanceof KeyTaken)) throw err;
        // Another request (another node, or one that finished meanwhile) holds the key.
        const answer = answerFrom(await this.keys.find(request.tenant, request.key), request, this.now());
        if (answer) return answer;
        throw inProgress();
      }
      return await this.keep(attempt, live);
    } finally {
      attempt.stop();
      this.running.delete(id);
    }
  }

  /** After the request: its answer is kept unless it was already, or it says "try again" and nothing of it committed. */
  private async keep(attempt: KeyAttempt, live: LiveResponse): Promise<Response> {
    if (attempt.final) return toResponse(attempt.final, false);
    const { tenant, key } = attempt.request;
    const stored = storedResponse(live);
    try {
      if (attempt.recorded) {
        // Something committed under our claim: whatever the answer, it is the one that describes it.
        await this.keys.complete(tenant, key, attempt.owner, stored, this.now() + this.options.ttlS * 1000);
      } else if (keepsAnswer(live.status)) {
        // Nothing committed: keeping the answer makes a retry replay it rather than run again.
        await this.keys.put(tenant, key, attempt.row(stored), this.now());
      }
    } catch (err) {
      // The answer stands; a retry will run again (nothing committed) or find the claim until its lease ends.
      this.options.logger?.warn({ err }, 'could not store the response of an idempotent request');
    }
    return toResponse(stored, false);
  }

  /** Runs `fn` outside any request's async context (no transaction joins it). */
  inRoot<T>(fn: () => T): T {
    return this.root.runInAsyncScope(fn);
  }
}

/**
 * One try of a keyed request. `record` writes the key inside whatever
 * transaction is open (store calls join it): with the response when that
 * transaction is the request's last (holding all of it, or its last effects
 * after a claim), else as a claim; `committed` says that transaction
 * committed. A claim is renewed until the request ends.
 */
export class KeyAttempt {
  readonly owner = randomUUID();
  /** A row of this attempt committed (a claim, or the final response). */
  recorded = false;
  /** The response committed with the request's effects, when the whole request ran in that one transaction. */
  final: StoredResponse | undefined;
  private pending: { response: StoredResponse | undefined } | undefined;
  private renewal: NodeJS.Timeout | undefined;

  constructor(
    private readonly guard: IdempotencyGuard,
    readonly request: KeyedRequest,
  ) {}

  /** Writes the key in the open transaction (or alone outside one); throws KeyTaken when another request holds it. */
  async record(response: LiveResponse | undefined): Promise<void> {
    const stored = response && storedResponse(response);
    const ok = await this.guard.keys.put(this.request.tenant, this.request.key, this.row(stored), this.guard.now());
    if (!ok) throw new KeyTaken();
    this.pending = { response: stored };
  }

  /** The transaction `record` wrote in has committed. */
  committed(): void {
    if (!this.pending) return;
    this.recorded = true;
    this.final = this.pending.response;
    this.pending = undefined;
    if (this.final) this.stop();
    else if (!this.renewal) this.renew();
  }

  /** The row this attempt writes: its response, or a claim for the lease. */
  row(response: StoredResponse | undefined): IdempotencyRow {
    const now = this.guard.now();
    const { ttlS, leaseS } = this.guard.options;
    return {
      fingerprint: this.request.fingerprint,
      owner: this.owner,
      state: response ? 'done' : 'running',
      response,
      leaseUntil: response ? now : now + leaseS * 1000,
      expiresAt: now + ttlS * 1000,
    };
  }

  stop(): void {
    if (this.renewal) clearInterval(this.renewal);
    this.renewal = undefined;
  }

  /** Keeps the claim alive while the request runs: a third of the lease at a time. */
  private renew(): void {
    const leaseMs = this.guard.options.leaseS * 1000;
    const { tenant, key } = this.request;
    this.renewal = this.guard.inRoot(() =>
      setInterval(() => {
        this.guard.keys.renew(tenant, key, this.owner, this.guard.now() + leaseMs).catch((err: unknown) => {
          this.guard.options.logger?.warn({ err }, 'could not renew the claim of an idempotency key');
        });
      }, Math.max(100, leaseMs / 3)),
    );
    this.renewal.unref();
  }
}

/**
 * Responses kept for a replay: all but those that tell the client to try
 * again (408, 409, 425, 429, 5xx), since nothing of them committed and a
 * retry should run.
 */
export function keepsAnswer(status: number): boolean {
  return status < 500 && status !== 408 && status !== 409 && status !== 425 && status !== 429;
}

/** What a stored row says to a request with the same key; undefined when the row does not hold the key. */
function answerFrom(row: IdempotencyRow | undefined, request: KeyedRequest, now: number): Response | undefined {
  if (!row) return undefined;
  if (row.state === 'done' && row.response && row.expiresAt > now) {
    if (row.fingerprint !== request.fingerprint) throw reused();
    return toResponse(row.response, true);
  }
  if (row.state === 'running' && row.leaseUntil > now && row.expiresAt > now) {
    throw row.fingerprint === request.fingerprint ? inProgress() : reused();
  }
  return undefined;
}

function storedResponse(live: LiveResponse): StoredResponse {
  return { status: live.status, headers: live.headers, body: Buffer.from(live.body, 'utf8') };
}

function toResponse(stored: StoredResponse, replayed: boolean): Response {
  const headers = new Headers(stored.headers);
  if (replayed) headers.set(REPLAYED_HEADER, 'true');
  const noBody = stored.status === 204 || stored.status === 304 || stored.body.length === 0;
  return new Response(noBody ? null : stored.body, { status: stored.status, headers });
}

function reused(): ApiError {
  return new ApiError(
    422,
    'idempotency_key_reused',
    'This Idempotency-Key was already used for a different request (another method, path or body). Use a new key for a new request.',
  );
}

function inProgress(): ApiError {
  return new ApiError(
    409,
    'idempotency_in_progress',
    'A request with this Idempotency-Key is still running; retry after it finishes to get its response.',
    {},
    { 'retry-after': String(IN_PROGRESS_RETRY_AFTER_S) },
  );
}
