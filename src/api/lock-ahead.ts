import type { LockAhead } from '../engine/types.js';
import type { Store } from '../store/types.js';
import type { CollectionRegistry } from './collections.js';
import { recordKeyResolver } from './record-key.js';

/**
 * Lock-ahead for a store where transactions wait for each other's row locks
 * (PostgreSQL): before a group's first operation, the records its writes
 * name are locked in one fixed order, so two groups writing `[x, y]` and
 * `[y, x]` queue behind each other instead of deadlocking (which PostgreSQL
 * only notices after `deadlock_timeout`, 1 s by default, before the retry).
 */
export function lockAheadFor(store: Store & Required<Pick<Store, 'lockRecords'>>, collections: CollectionRegistry): LockAhead {
  const keyOf = recordKeyResolver(collections);
  return async (requests) => {
    const keys = requests.map(keyOf).filter((k) => k !== undefined);
    if (keys.length > 0) await store.lockRecords(keys);
  };
}
