import type { BatchCommit } from '../engine/types.js';
import type { Store } from '../store/types.js';
import type { ServerMetrics } from './server-metrics.js';

/**
 * The store, counting the transactions it ends (for both backends alike, at
 * the Store interface): every outermost `transaction()` (a nested call joins
 * the open one and is not counted) as a commit when it returns and a
 * rollback when it throws; every batch commit's transaction as committed or
 * aborted, and each standalone operation it undoes alone (its savepoint).
 *
 * A transaction the store re-runs by itself after a deadlock or
 * serialization conflict counts once, with its final outcome: the retries
 * are the store's business (it logs the ones that end in 409).
 */
export function instrumentStore(store: Store, metrics: ServerMetrics): Store {
  const backend = store.kind;
  const transaction = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (store.inTransaction()) return store.transaction(fn);
    let result: T;
    try {
      result = await store.transaction(fn);
    } catch (err) {
      metrics.transactionEnded(backend, 'transaction', 'rollback');
      throw err;
    }
    metrics.transactionEnded(backend, 'transaction', 'commit');
    return result;
  };
  const openBatchCommit = store.openBatchCommit
    ? (plan: Parameters<NonNullable<Store['openBatchCommit']>>[0]) => {
        const inner = store.openBatchCommit!(plan);
        return inner && countedBatchCommit(inner, backend, metrics);
      }
    : undefined;
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'transaction') return transaction;
      if (prop === 'openBatchCommit') return openBatchCommit;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * A batch commit's transaction opens at its first write and ends at each
 * `commit()` and `abort()`, and also inside `run()` once it has been open
 * longer than the batch commit's hold time: an end is seen as `open` going
 * from true to false.
 */
function countedBatchCommit(inner: BatchCommit, backend: string, metrics: ServerMetrics): BatchCommit {
  const ended = (wasOpen: boolean, outcome: 'commit' | 'rollback'): void => {
    if (wasOpen && !inner.open) metrics.transactionEnded(backend, 'batch', outcome);
  };
  return {
    get open() {
      return inner.open;
    },
    async run(write, fn, undo) {
      const wasOpen = inner.open || write;
      const countedUndo = (result: Parameters<typeof undo>[0]): boolean => {
        const undone = undo(result);
        if (undone) metrics.operationRolledBack(backend);
        return undone;
      };
      try {
        const result = await inner.run(write, fn, countedUndo);
        ended(wasOpen, 'commit');
        return result;
      } catch (err) {
        if (inner.open) metrics.operationRolledBack(backend);
        else ended(wasOpen, 'rollback');
        throw err;
      }
    },
    async commit(outcome) {
      const wasOpen = inner.open;
      try {
        await inner.commit(outcome);
      } catch (err) {
        ended(wasOpen, 'rollback');
        throw err;
      }
      ended(wasOpen, 'commit');
    },
    async abort() {
      const wasOpen = inner.open;
      try {
        await inner.abort();
      } finally {
        ended(wasOpen, 'rollback');
      }
    },
  };
}
