import type { AsyncLocalStorage } from 'node:async_hooks';
import type Database from 'better-sqlite3';
import type { BatchCommit, BatchOutcome, CommitRecorder } from '../../engine/types.js';
import type { AsyncMutex } from '../async-mutex.js';

/** What the batch commit shares with its store: the writer connection, its lock, and the transaction marker. */
export interface SqliteWriter {
  db: Database.Database;
  lock: AsyncMutex;
  tx: AsyncLocalStorage<true>;
  /** Longest time the batch transaction stays open before it commits and lets other writers in. */
  maxHoldMs: number;
}

const SAVEPOINT = 'omnibus_operation';

/**
 * The batch commit on SQLite (see BatchCommit): a fsync costs more than a
 * whole operation, so the standalone operations of a batch share one. The
 * writer lock is taken at the batch's first write and given back every
 * `maxHoldMs`, so a long batch delays another request's write by at most that
 * plus one operation. Reads before the first write (and every read of a
 * batch that never writes) run on the reader connection, off the lock.
 */
export class SqliteBatchCommit implements BatchCommit {
  private release: (() => void) | undefined;
  private openedAt = 0;

  /** `recorder`: written inside the first COMMIT, and the last (see CommitRecorder). */
  constructor(
    private readonly writer: SqliteWriter,
    private readonly recorder?: CommitRecorder,
  ) {}

  get open(): boolean {
    return this.release !== undefined;
  }

  async run<T>(write: boolean, fn: () => Promise<T>, undo: (result: T) => boolean): Promise<T> {
    if (!this.release) {
      if (!write) return fn();
      await this.begin();
    }
    const db = this.writer.db;
    db.exec(`SAVEPOINT ${SAVEPOINT}`);
    let result: T;
    try {
      result = await this.writer.tx.run(true, fn);
    } catch (err) {
      this.rollbackOperation();
      throw err;
    }
    if (undo(result)) this.rollbackOperation();
    else this.ensureOpen().exec(`RELEASE ${SAVEPOINT}`);
    if (performance.now() - this.openedAt >= this.writer.maxHoldMs) await this.commit();
    return result;
  }

  async commit(outcome?: BatchOutcome): Promise<void> {
    const release = this.release;
    if (!release) return;
    // The first commit carries the recorder's row; the last one (with the outcome) its answer.
    const recorder = this.recorder && (outcome !== undefined || !this.recorder.recorded) ? this.recorder : undefined;
    try {
      if (recorder) await this.writer.tx.run(true, () => recorder.write(outcome));
    } catch (err) {
      await this.abort();
      throw err;
    }
    this.release = undefined;
    try {
      this.ensureOpen().exec('COMMIT');
    } catch (err) {
      if (this.writer.db.inTransaction) this.writer.db.exec('ROLLBACK');
      throw err;
    } finally {
      release();
    }
    recorder?.committed();
  }

  async abort(): Promise<void> {
    const release = this.release;
    if (!release) return;
    this.release = undefined;
    try {
      if (this.writer.db.inTransaction) this.writer.db.exec('ROLLBACK');
    } finally {
      release();
    }
  }

  private async begin(): Promise<void> {
    const release = await this.writer.lock.acquire();
    try {
      this.writer.db.exec('BEGIN IMMEDIATE');
    } catch (err) {
      release();
      throw err;
    }
    this.release = release;
    this.openedAt = performance.now();
  }

  private rollbackOperation(): void {
    const db = this.ensureOpen();
    db.exec(`ROLLBACK TO ${SAVEPOINT}`);
    db.exec(`RELEASE ${SAVEPOINT}`);
  }

  /** SQLite rolls a whole transaction back on some errors (disk full): then what the batch did is lost, and it must fail. */
  private ensureOpen(): Database.Database {
    if (!this.writer.db.inTransaction) {
      throw new Error('SQLite rolled back the batch transaction (for example, the disk is full); its operations were not kept.');
    }
    return this.writer.db;
  }
}
