import { AsyncLocalStorage } from 'node:async_hooks';
import type { ReadAhead } from '../engine/types.js';
import type { ApiRequest } from './types.js';
import type { RecordKey, Store, StoredRecord } from '../store/types.js';
import type { CollectionRegistry } from './collections.js';
import { recordKeyResolver } from './record-key.js';

/** Records fetched ahead for the reads running now; `null` marks a record known to be absent. */
type Fetched = Map<string, StoredRecord | null>;

const fetched = new AsyncLocalStorage<Fetched>();

function cacheKey(key: RecordKey): string {
  return `${key.tenant}\u0000${key.collection}\u0000${key.id}`;
}

/**
 * The record a read may take instead of asking the store: the fetched-ahead
 * one (or `null`, known absent) while a run of reads is going on, the first
 * time it is asked for; else undefined (ask the store).
 */
export function fetchedRecord(key: RecordKey): StoredRecord | null | undefined {
  const map = fetched.getStore();
  if (!map) return undefined;
  const k = cacheKey(key);
  const record = map.get(k);
  // Once: a second read of the key (a compare-and-set that lost and reads again,
  // or a read after this operation's own write) asks the store.
  map.delete(k);
  return record;
}

/** The writes of the resource API that read their record through `fetchedRecord` (api/records.ts) before writing it. */
const RECORD_WRITES = new Set(['PUT', 'PATCH', 'DELETE']);

/**
 * Read-ahead for a store whose round trips cost more than the rest of an
 * operation (PostgreSQL): the records a run of single-record operations
 * names are fetched in one query before they are dispatched. The first
 * operation on each record takes the fetched one: no operation of the run
 * changed it before, so it sees what it would have seen one by one at the
 * moment the run started. A write stays compare-and-set, so a record that
 * another client changed since loses its write, which reads the store again.
 */
export function readAheadFor(store: Store, collections: CollectionRegistry): ReadAhead {
  const recordKeyOf = recordKeyResolver(collections);
  const readAhead = async <T>(requests: ApiRequest[], run: () => Promise<T>): Promise<T> => {
    const keys = requests.map(recordKeyOf).filter((k): k is RecordKey => k !== undefined);
    if (keys.length < 2) return run();
    const map: Fetched = new Map(keys.map((k) => [cacheKey(k), null]));
    for (const r of await store.getRecords(keys)) map.set(cacheKey(r), r);
    return fetched.run(map, run);
  };
  return Object.assign(readAhead, { fetchesForWrite: (req: ApiRequest) => RECORD_WRITES.has(req.method) && recordKeyOf(req) !== undefined });
}
