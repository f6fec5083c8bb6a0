import { AsyncLocalStorage } from 'node:async_hooks';
import type { BatchCommit } from '../../engine/types.js';
import { AsyncMutex } from '../async-mutex.js';
import { PostgresBatchCommit, type BatchTransactionHost } from './batch-commit.js';
import { StatementQueue } from './statement-queue.js';
import type { TxContext } from './transaction.js';

/** As in the batch commit: a lock wait longer than this is taken for a cycle with another batch. */
const LOCK_WAIT_MS = 50;

/** What one operation's statements met: the conflict that failed it, if one did. */
interface Slot {
  conflict?: unknown;
}

/**
 * The operation a statement belongs to. One for the module: every
 * AsyncLocalStorage instance costs each new async resource of the process
 * a copy, for as long as it lives.
 */
const slots = new AsyncLocalStorage<Slot>();

/**
 * A batch commit whose operations run side by side in ONE transaction
 * (see TransactionRunner.openSharedCommit): independent writes of one record
 * each, one compare-and-set statement apiece. Their statements go out
 * together (statement-queue.ts), each atomic on its own, so an operation
 * that fails leaves nothing behind, exactly as if it had committed alone,
 * and the batch pays one round trip per turn of its lanes instead of one per
 * operation, and one COMMIT.
 *
 * The transaction commits when the batch is done with it and whenever it
 * has been open for `maxHoldMs` (then no new operation enters it until those
 * in it have finished and it has committed). An operation whose statement met a conflict (a lock wait past
 * LOCK_WAIT_MS, a broken deadlock) is run again once the shared transaction
 * has committed (the locks it waited for may be held by a batch waiting for
 * this one's), on its own in a per-operation batch commit, which retries as
 * usual.
 */
export class PostgresSharedCommit implements BatchCommit {
  private ctx: Promise<TxContext> | undefined;
  private openedAt = 0;
  private inflight = 0;
  private whenIdle: (() => void) | undefined;
  /** Set while the shared transaction is being committed (and conflicted operations re-run): no operation enters it. */
  private gate: Promise<void> | undefined;
  private readonly exclusive = new AsyncMutex();
  private readonly alone: PostgresBatchCommit;

  constructor(private readonly host: BatchTransactionHost) {
    this.alone = new PostgresBatchCommit(host);
  }

  get open(): boolean {
    return this.ctx !== undefined || this.alone.open;
  }

  async run<T>(write: boolean, fn: () => Promise<T>, undo: (result: T) => boolean): Promise<T> {
    if (!write) return fn();
    if (this.ctx && performance.now() - this.openedAt >= this.host.maxHoldMs) await this.exclusively(async () => undefined);
    while (this.gate) await this.gate;
    const slot: Slot = {};
    let outcome: { result: T } | { err: unknown };
    // Counted before it waits for the transaction: a commit must wait for it from here on.
    this.inflight++;
    try {
      const ctx = await (this.ctx ??= this.begin());
      outcome = { result: await this.host.within(ctx, () => slots.run(slot, fn)) };
    } catch (err) {
      outcome = { err };
    } finally {
      if (--this.inflight === 0) this.whenIdle?.();
    }
    if (slot.conflict !== undefined) return this.exclusively(() => this.runAlone(write, fn, undo));
    if ('err' in outcome) throw outcome.err;
    return outcome.result;
  }

  async commit(): Promise<void> {
    await this.exclusively(async () => undefined);
    await this.alone.commit();
  }

  async abort(): Promise<void> {
    const pending = this.ctx;
    this.ctx = undefined;
    if (pending) await this.host.end(await pending, false);
    await this.alone.abort();
  }

  private begin(): Promise<TxContext> {
    this.openedAt = performance.now();
    const opening = this.host.begin(LOCK_WAIT_MS).then(
      (ctx) => {
        ctx.shared = { statements: new StatementQueue(ctx), conflicted: (err) => this.conflicted(err) };
        return ctx;
      },
      (err: unknown) => {
        if (this.ctx === opening) this.ctx = undefined; // the next operation tries again
        throw err;
      },
    );
    return opening;
  }

  private conflicted(err: unknown): void {
    const slot = slots.getStore();
    if (slot) slot.conflict ??= err;
  }

  private async runAlone<T>(write: boolean, fn: () => Promise<T>, undo: (result: T) => boolean): Promise<T> {
    const result = await this.alone.run(write, fn, undo);
    await this.alone.commit();
    return result;
  }

  /** Closes the gate, waits for the operations inside, commits the shared transaction, then runs `fn`. */
  private async exclusively<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.exclusive.acquire();
    let open!: () => void;
    this.gate = new Promise<void>((resolve) => (open = resolve));
    try {
      if (this.inflight > 0) await new Promise<void>((resolve) => (this.whenIdle = resolve));
      this.whenIdle = undefined;
      const pending = this.ctx;
      this.ctx = undefined;
      if (pending) await this.host.end(await pending, true);
      return await fn();
    } finally {
      this.gate = undefined;
      open();
      release();
    }
  }
}
