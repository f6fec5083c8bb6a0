import type { BatchCommit, BatchOutcome, CommitRecorder } from '../../engine/types.js';
import { conflictBackoff, copyUsage, MAX_CONFLICT_ATTEMPTS, type TxContext } from './transaction.js';

/** What the batch commit needs of its store: one transaction on a client of its own, and statements on it. */
export interface BatchTransactionHost {
  /** Longest time the batch transaction stays open before it commits (and lets go of its row locks). */
  maxHoldMs: number;
  /**
   * A pooled client kept for this batch, whose BEGIN and then `then` go out with its
   * first statement (a transaction that sends none costs no round trip); with
   * `lockTimeoutMs`, lock waits longer than that fail (55P03).
   */
  begin(lockTimeoutMs?: number, then?: string): Promise<TxContext>;
  /** Runs `fn` with store calls joining the batch transaction. */
  within<T>(ctx: TxContext, fn: () => Promise<T>): Promise<T>;
  /** One statement on the transaction's client, even after a conflict aborted it (ROLLBACK TO); `ctx.deferred` goes first. */
  control(ctx: TxContext, sql: string): Promise<void>;
  /**
   * After an operation that succeeded: the creates it kept back join the
   * deferred statements, inside its savepoint, to go out with the next
   * statement or the COMMIT; those that cannot ride are written now.
   */
  settle(ctx: TxContext): Promise<void>;
  /** COMMIT (after the counters) or ROLLBACK, and gives the client back. */
  end(ctx: TxContext, commit: boolean): Promise<void>;
}

const SAVEPOINT = 'omnibus_operation';

/**
 * While earlier operations of the batch hold row locks, a lock wait longer
 * than this is taken for a cycle between batches: the operation goes back to
 * its savepoint, the batch commits what it has (releasing its locks) and runs
 * the operation again first in a new transaction, where it waits as long as
 * it must. PostgreSQL itself would see the deadlock only after
 * `deadlock_timeout` (1 s by default).
 */
const LOCK_WAIT_MS = 50;

/**
 * The batch commit on PostgreSQL (see BatchCommit). A commit costs a WAL
 * flush, several times an operation's own round trips, so the standalone
 * operations of a batch run in savepoints of one transaction, committed every
 * `maxHoldMs` and at the end. A savepoint also makes contention local: when
 * PostgreSQL aborts an operation to break a deadlock, the batch rolls back to
 * that operation's savepoint (releasing what it locked) and runs it again,
 * and earlier operations keep their effects.
 */
export class PostgresBatchCommit implements BatchCommit {
  private ctx: TxContext | undefined;
  private openedAt = 0;

  /** `recorder`: written inside the first COMMIT, and the last (see CommitRecorder). */
  constructor(
    private readonly host: BatchTransactionHost,
    private readonly recorder?: CommitRecorder,
  ) {}

  get open(): boolean {
    return this.ctx !== undefined;
  }

  async run<T>(write: boolean, fn: () => Promise<T>, undo: (result: T) => boolean): Promise<T> {
    if (!this.ctx && !write) return fn();
    let result: T;
    for (let attempt = 1; ; attempt++) {
      let ctx = this.ctx;
      if (!ctx) ctx = await this.begin(attempt === 1 ? LOCK_WAIT_MS : undefined); // with the first savepoint
      // The last operation's savepoint is released with this one's SAVEPOINT (or by the COMMIT), and
      // both go out with this operation's first statement: it costs no round trip of its own. While
      // BEGIN has not gone out yet, the first savepoint waits with it. The creates of the operations
      // before, kept back (settle), stay ahead of this savepoint: its rollback must not take them.
      else if (ctx.writes) ctx.deferred = `${ctx.deferred}; RELEASE SAVEPOINT ${SAVEPOINT}; SAVEPOINT ${SAVEPOINT}`;
      else if (!ctx.opening) ctx.deferred = `RELEASE SAVEPOINT ${SAVEPOINT}; SAVEPOINT ${SAVEPOINT}`;
      const usage = copyUsage(ctx.usage);
      let failure: { err: unknown } | undefined;
      try {
        result = await this.host.within(ctx, fn);
      } catch (err) {
        failure = { err };
      }
      // Creates of earlier operations, already answered, failed to go out with this one's statement.
      if (ctx.lostWrites !== undefined) throw ctx.lostWrites;
      const conflicted = ctx.conflict !== undefined;
      const kept = failure === undefined && !conflicted && !undo(result!);
      if (!kept) {
        // Still deferred: the operation sent no statement, so there is nothing to roll back. The
        // savepoint stays established after ROLLBACK TO: the next operation's statement releases it.
        if (ctx.deferred === undefined) await this.host.control(ctx, `ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
        ctx.usage = usage;
        ctx.pending = [];
        ctx.conflict = undefined;
      }
      if (failure) throw failure.err;
      if (kept) await this.host.settle(ctx);
      if (conflicted && attempt < MAX_CONFLICT_ATTEMPTS) {
        // The locks that closed the cycle may be held by this batch's earlier operations:
        // commit them (each stands alone anyway), then run this one again in a new transaction.
        await this.commit();
        await conflictBackoff(attempt);
        continue;
      }
      break;
    }
    if (performance.now() - this.openedAt >= this.host.maxHoldMs) await this.commit();
    return result!;
  }

  private async begin(lockTimeoutMs: number | undefined): Promise<TxContext> {
    this.ctx = await this.host.begin(lockTimeoutMs, `SAVEPOINT ${SAVEPOINT}`);
    this.openedAt = performance.now();
    return this.ctx;
  }

  async commit(outcome?: BatchOutcome): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) return;
    // The first commit carries the recorder's row; the last one (with the outcome) its answer.
    const recorder = this.recorder && (outcome !== undefined || !this.recorder.recorded) ? this.recorder : undefined;
    if (recorder) {
      try {
        await this.host.within(ctx, () => recorder.write(outcome));
      } catch (err) {
        await this.abort();
        throw err;
      }
    }
    this.ctx = undefined;
    await this.host.end(ctx, true);
    recorder?.committed();
  }

  async abort(): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) return;
    this.ctx = undefined;
    await this.host.end(ctx, false);
  }
}
