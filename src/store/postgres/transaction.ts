/**
 * Transactions of the PostgreSQL store: the context that store calls inside
 * `transaction(fn)` join, BEGIN/COMMIT/ROLLBACK, and what happens when
 * PostgreSQL aborts a transaction to break a deadlock or a serialization
 * conflict (SQLSTATE 40P01 / 40001): nothing of it stayed, so it is run again
 * from its start, a bounded number of times with jittered back-off, and when
 * it still cannot finish the client gets 409 `conflict` with `Retry-After`.
 */
import type pg from 'pg';
import { ApiError } from '../../errors.js';
import { AsyncMutex } from '../async-mutex.js';
import type { StoredRecord } from '../types.js';
import type { DeferredHolder } from './deferred-statements.js';
import type { StatementQueue } from './statement-queue.js';

/** What a store call runs its statements on: a pooled client, or the pool itself for one autocommit statement. */
export type Client = Pick<pg.ClientBase, 'query'>;

/** Tries of one transaction (or one autocommit statement) that keeps being aborted by conflicts. */
export const MAX_CONFLICT_ATTEMPTS = 6;

/** Seconds a client is told to wait (`Retry-After`) when conflicts kept aborting its transaction. */
const RETRY_AFTER_S = 1;

/** The tenant's object counter as one transaction sees it. */
export interface Usage {
  /** Creates minus deletes of this transaction, added to the counter just before COMMIT. */
  delta: number;
  /** The committed count, read when this transaction locked the counter row (only under an object limit). */
  locked?: number;
}

/**
 * The open transaction that store calls made inside `transaction(fn)` join.
 * Its deferred control statements (deferred-statements.ts) are set only by a batch commit.
 */
export interface TxContext extends DeferredHolder {
  client: Client;
  /** One store call at a time on the transaction's client. */
  lock: AsyncMutex;
  /** Set once COMMIT/ROLLBACK was issued: late calls must not touch a client that went back to the pool. */
  finished: boolean;
  /** Creates with server-generated ids, not yet written: flushed in one statement before any other call and before COMMIT. */
  pending: StoredRecord[];
  usage: Map<string, Usage>;
  /** The conflict error that aborted this transaction, if one did: it must be rolled back and re-run. */
  conflict?: unknown;
  /** Set for a transaction that operations share side by side (shared-commit.ts). */
  shared?: SharedTransaction;
}

/**
 * A transaction that several operations use at the same time: their
 * statements go out together through `statements`, each atomic on its own,
 * and a conflict fails only the operation whose statement met it, which is
 * told to `conflicted` (the transaction itself stays usable).
 */
export interface SharedTransaction {
  statements: StatementQueue;
  conflicted(err: unknown): void;
}

/** The counters as they stand, to go back to when what changed them is rolled back. */
export function copyUsage(usage: Map<string, Usage>): Map<string, Usage> {
  return new Map([...usage].map(([tenant, u]) => [tenant, { ...u }]));
}

export function newTxContext(client: Client): TxContext {
  return { client, lock: new AsyncMutex(), finished: false, pending: [], usage: new Map() };
}

/**
 * True for the errors after which the transaction (or savepoint) must be
 * rolled back and a re-run may succeed: deadlock, serialization failure, and
 * a lock wait that timed out (only the batch commit sets `lock_timeout`).
 */
export function isTransactionConflict(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === '40P01' || code === '40001' || code === '55P03';
}

/** What the client gets when conflicts kept aborting the work: a 409 it can retry. */
export function conflictError(): ApiError {
  return new ApiError(
    409,
    'conflict',
    'Concurrent requests kept conflicting with this one (the database aborted it to break a deadlock); nothing of it was kept. Retry.',
    {},
    { 'retry-after': String(RETRY_AFTER_S) },
  );
}

/** Jittered exponential back-off before try `attempt + 1`: 2, 4, 8… ms, each between half and one and a half times that. */
export function conflictBackoff(attempt: number): Promise<void> {
  const ms = 2 ** attempt * (0.5 + Math.random());
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** ROLLBACK itself failed: the client's state is unknown and it must not go back to the pool. */
export class RollbackFailed extends Error {
  constructor(readonly original: unknown) {
    super('ROLLBACK failed');
  }
}

/**
 * BEGIN; fn; COMMIT — or ROLLBACK when fn rejects. COMMIT/ROLLBACK wait for
 * the store call in progress on `ctx` (if any) and close it to later calls.
 */
export async function runInTransaction<T>(client: Client, ctx: TxContext | undefined, fn: () => Promise<T>): Promise<T> {
  const end = async (sql: 'COMMIT' | 'ROLLBACK'): Promise<pg.QueryResult> => {
    const release = ctx ? await ctx.lock.acquire() : undefined;
    try {
      if (ctx) ctx.finished = true;
      return await client.query(sql);
    } finally {
      release?.();
    }
  };
  await client.query('BEGIN');
  let result: T;
  try {
    result = await fn();
  } catch (err) {
    try {
      await end('ROLLBACK');
    } catch {
      throw new RollbackFailed(err);
    }
    throw err;
  }
  const committed = await end('COMMIT');
  // COMMIT of a transaction in which a statement failed (and fn swallowed the
  // error) rolls back and answers "ROLLBACK" instead of raising an error.
  if (committed.command !== 'COMMIT') throw new AbortedTransaction();
  return result;
}

/** A statement of the transaction failed and the caller went on: PostgreSQL rolls it back instead of committing. */
export class AbortedTransaction extends Error {
  constructor() {
    super('The transaction was rolled back by PostgreSQL because a statement in it failed.');
  }
}

/** SQLSTATE 25P02: a statement was sent after an earlier one failed in the same transaction. */
export function isAbortedTransaction(err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === '25P02';
}
