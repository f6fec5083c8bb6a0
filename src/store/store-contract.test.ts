/**
 * The store contract: one suite, run against every backend (a real SQLite
 * file and a real PostgreSQL schema, see test/support/backends.ts). Both
 * backends must give the same outcomes for the same calls.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  backendEnabled,
  PG_TEST_URL,
  POSTGRES_BACKEND,
  type BackendHandle,
} from '../../test/support/backends.js';
import { MIGRATIONS } from './migrations.js';
import { isConnectionError, PostgresStore } from './postgres/postgres-store.js';
import { parseFilter, parseOrderBy } from './query/filter.js';
import type { RecordKey, Store, StoredRecord, TokenRecord } from './types.js';

const CASES = await Promise.all(BACKENDS.map(async (backend) => ({ backend, name: backend.name, enabled: await backendEnabled(backend) })));

let counter = 0;
/** A record with a unique id in `collection` (default `items`) of `tenant` (default `acme`). */
function rec(overrides: Partial<StoredRecord> = {}): StoredRecord {
  counter++;
  return {
    tenant: 'acme',
    collection: 'items',
    id: `r${counter}`,
    data: { n: counter },
    etag: `e${counter}-1`,
    created: '2024-01-01T00:00:00.000Z',
    updated: '2024-01-01T00:00:00.000Z',
    createdBy: 'alice',
    updatedBy: 'alice',
    ...overrides,
  };
}

function keyOf(r: RecordKey): RecordKey {
  return { tenant: r.tenant, collection: r.collection, id: r.id };
}

/** A fresh tenant name, so tests sharing one database do not see each other's counters. */
function tenant(label: string): string {
  return `${label}-${++counter}`;
}

/** A promise with its resolver, to hold a transaction open while the test looks from outside. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe.each(CASES)('$name store contract', ({ backend, enabled }) => {
  describe.skipIf(!enabled)(backend.name, () => {
    let handle: BackendHandle;
    let store: Store;

    beforeAll(async () => {
      handle = await backend.open();
      store = handle.store;
    });

    afterAll(async () => {
      await handle?.cleanup();
    });

    it('reports its kind', () => {
      expect(store.kind).toBe(backend.name);
    });

    describe('records', () => {
      it('inserts and reads back a record with all its fields', async () => {
        const r = rec({
          data: { title: 'Nice book', nested: { a: [3, 1, 2], b: null, ok: true }, price: 12.5, text: 'é 😀 "q" \\' },
        });
        expect(await store.getRecord(keyOf(r))).toBeUndefined();
        expect(await store.insertRecord(r, 0)).toBe('inserted');
        expect(await store.getRecord(keyOf(r))).toEqual(r);
      });

      it('keeps the order of arrays (attribute lists)', async () => {
        const attributes = [
          { d: 'title', q: 'alternative', vt: 16, value: 'Nice book' },
          { d: 'author', vt: 16, value: 'Z' },
          { d: 'author', vt: 16, value: 'A' },
        ];
        const r = rec({ collection: 'objects', data: { attributes } });
        await store.insertRecord(r, 0);
        expect((await store.getRecord(keyOf(r)))?.data).toEqual({ attributes });
      });

      it("answers 'exists' for a taken id and changes nothing", async () => {
        const t = tenant('exists');
        const r = rec({ tenant: t });
        expect(await store.insertRecord(r, 0)).toBe('inserted');
        expect(await store.insertRecord({ ...r, data: { other: true }, etag: 'x' }, 0)).toBe('exists');
        expect(await store.getRecord(keyOf(r))).toEqual(r);
        expect(await store.countRecords(t)).toBe(1);
      });

      it('replaces only when the etag matches (compare-and-set)', async () => {
        const r = rec();
        await store.insertRecord(r, 0);
        const v2 = { ...r, data: { v: 2 }, etag: 'v2', updated: '2024-02-02T00:00:00.000Z', updatedBy: 'bob' };
        expect(await store.replaceRecord(v2, r.etag)).toBe(true);
        expect(await store.getRecord(keyOf(r))).toEqual(v2);
        // The stale etag no longer matches.
        expect(await store.replaceRecord({ ...r, data: { v: 3 }, etag: 'v3' }, r.etag)).toBe(false);
        expect(await store.getRecord(keyOf(r))).toEqual(v2);
      });

      it('replace keeps created/createdBy and does not create an absent record', async () => {
        const r = rec();
        await store.insertRecord(r, 0);
        await store.replaceRecord({ ...r, etag: 'n', created: 'ignored', createdBy: 'ignored' }, r.etag);
        const got = await store.getRecord(keyOf(r));
        expect(got?.created).toBe(r.created);
        expect(got?.createdBy).toBe(r.createdBy);
        const absent = rec();
        expect(await store.replaceRecord(absent, absent.etag)).toBe(false);
        expect(await store.getRecord(keyOf(absent))).toBeUndefined();
      });

      it('deletes only when the etag matches, and counts down', async () => {
        const t = tenant('delete');
        const r = rec({ tenant: t });
        await store.insertRecord(r, 0);
        expect(await store.deleteRecord(keyOf(r), 'stale')).toBe(false);
        expect(await store.getRecord(keyOf(r))).toEqual(r);
        expect(await store.countRecords(t)).toBe(1);
        expect(await store.deleteRecord(keyOf(r), r.etag)).toBe(true);
        expect(await store.getRecord(keyOf(r))).toBeUndefined();
        expect(await store.countRecords(t)).toBe(0);
        expect(await store.deleteRecord(keyOf(r), r.etag)).toBe(false);
        expect(await store.countRecords(t)).toBe(0);
      });

      it('counts 0 for a tenant that never wrote', async () => {
        expect(await store.countRecords(tenant('never'))).toBe(0);
      });
    });

    describe('object limit', () => {
      it("answers 'limit' at maxObjects, changes nothing, and a delete frees a slot", async () => {
        const t = tenant('limit');
        const [a, b, c] = [rec({ tenant: t }), rec({ tenant: t }), rec({ tenant: t })];
        expect(await store.insertRecord(a, 2)).toBe('inserted');
        expect(await store.insertRecord(b, 2)).toBe('inserted');
        expect(await store.insertRecord(c, 2)).toBe('limit');
        expect(await store.getRecord(keyOf(c))).toBeUndefined();
        expect(await store.countRecords(t)).toBe(2);
        expect(await store.deleteRecord(keyOf(a), a.etag)).toBe(true);
        expect(await store.countRecords(t)).toBe(1);
        expect(await store.insertRecord(c, 2)).toBe('inserted');
        expect(await store.countRecords(t)).toBe(2);
        expect(await store.insertRecord(a, 2)).toBe('limit');
      });

      it("answers 'exists' rather than 'limit' for a taken id at the limit", async () => {
        const t = tenant('limit-exists');
        const a = rec({ tenant: t });
        await store.insertRecord(a, 1);
        expect(await store.insertRecord(a, 1)).toBe('exists');
        expect(await store.countRecords(t)).toBe(1);
      });

      it('maxObjects 0 means unlimited', async () => {
        const t = tenant('unlimited');
        for (let i = 0; i < 5; i++) expect(await store.insertRecord(rec({ tenant: t }), 0)).toBe('inserted');
        expect(await store.countRecords(t)).toBe(5);
      });

      it('a lower limit than the current count refuses creates but keeps the records', async () => {
        const t = tenant('lowered');
        for (let i = 0; i < 3; i++) await store.insertRecord(rec({ tenant: t }), 0);
        expect(await store.insertRecord(rec({ tenant: t }), 2)).toBe('limit');
        expect(await store.countRecords(t)).toBe(3);
      });
    });

    describe('tenant isolation', () => {
      it('the same collection and id in two tenants are two records', async () => {
        const [t1, t2] = [tenant('iso-a'), tenant('iso-b')];
        const a = rec({ tenant: t1, id: 'same', data: { owner: 'a' } });
        const b = rec({ tenant: t2, id: 'same', data: { owner: 'b' }, etag: 'same-etag' });
        const a2 = { ...a, etag: 'same-etag' };
        expect(await store.insertRecord(a2, 1)).toBe('inserted');
        expect(await store.insertRecord(b, 1)).toBe('inserted');
        expect((await store.getRecord(keyOf(a2)))?.data).toEqual({ owner: 'a' });
        expect((await store.getRecord(keyOf(b)))?.data).toEqual({ owner: 'b' });
        expect((await store.listRecords(t1, 'items', { top: 10, skip: 0 })).map((r) => r.data)).toEqual([{ owner: 'a' }]);

        // Writes through one tenant's key never touch the other's record.
        expect(await store.replaceRecord({ ...b, data: { owner: 'b2' }, etag: 'b2' }, 'same-etag')).toBe(true);
        expect((await store.getRecord(keyOf(a2)))?.data).toEqual({ owner: 'a' });
        expect(await store.deleteRecord(keyOf(b), 'b2')).toBe(true);
        expect(await store.getRecord(keyOf(a2))).toEqual(a2);
        expect(await store.countRecords(t1)).toBe(1);
        expect(await store.countRecords(t2)).toBe(0);
        expect(await store.getRecord({ tenant: t2, collection: 'items', id: 'same' })).toBeUndefined();
      });
    });

    describe('listRecords', () => {
      const t = `list-${Math.random().toString(36).slice(2, 8)}`;
      const ids = ['m', 'c', 'x', 'a', 'q'];
      const data: Record<string, Record<string, unknown>> = {
        m: { name: 'mango', price: 3, tags: ['b', 'a'] },
        c: { name: 'cherry', price: 12.5, nested: { level: 2 } },
        x: { name: 'Xigua', price: 7 },
        a: { name: 'apple', price: 3, nested: { level: 1 } },
        q: { name: 'quince' },
      };

      beforeAll(async () => {
        for (const id of ids) await store.insertRecord(rec({ tenant: t, collection: 'fruit', id, data: data[id]! }), 0);
        await store.insertRecord(rec({ tenant: t, collection: 'other', id: 'z' }), 0);
        await store.insertRecord(rec({ tenant: `${t}-elsewhere`, collection: 'fruit', id: 'y' }), 0);
      });

      const list = async (q: { filter?: string; orderBy?: string; top?: number; skip?: number }) =>
        (
          await store.listRecords(t, 'fruit', {
            ...(q.filter !== undefined && { filter: parseFilter(q.filter) }),
            ...(q.orderBy !== undefined && { orderBy: parseOrderBy(q.orderBy) }),
            top: q.top ?? 50,
            skip: q.skip ?? 0,
          })
        ).map((r) => r.id);

      it('returns records in insertion order by default, only of that tenant and collection', async () => {
        expect(await list({})).toEqual(ids);
      });

      it('reads back full records', async () => {
        const rows = await store.listRecords(t, 'fruit', { top: 1, skip: 0 });
        expect(rows).toHaveLength(1);
        expect(rows[0]).toMatchObject({ tenant: t, collection: 'fruit', id: 'm', data: data['m'] });
      });

      it('pages with top and skip', async () => {
        expect(await list({ top: 2 })).toEqual(['m', 'c']);
        expect(await list({ top: 2, skip: 2 })).toEqual(['x', 'a']);
        expect(await list({ top: 2, skip: 4 })).toEqual(['q']);
        expect(await list({ top: 2, skip: 5 })).toEqual([]);
        expect(await list({ top: 0 })).toEqual([]);
      });

      it('filters', async () => {
        expect(await list({ filter: 'price eq 3' })).toEqual(['m', 'a']);
        expect(await list({ filter: "price gt 3 or name eq 'quince'" })).toEqual(['c', 'x', 'q']);
        expect(await list({ filter: 'nested/level ge 2' })).toEqual(['c']);
        expect(await list({ filter: 'price eq null' })).toEqual(['q']);
        expect(await list({ filter: "id lt 'd'" })).toEqual(['c', 'a']);
        expect(await list({ filter: 'not (price eq 3)', top: 2, skip: 1 })).toEqual(['x', 'q']);
      });

      it('orders, with id as the tiebreaker', async () => {
        expect(await list({ orderBy: 'name' })).toEqual(['x', 'a', 'c', 'm', 'q']);
        expect(await list({ orderBy: 'price desc' })).toEqual(['c', 'x', 'a', 'm', 'q']);
        expect(await list({ orderBy: 'price, name desc' })).toEqual(['q', 'm', 'a', 'x', 'c']);
        expect(await list({ orderBy: 'id desc' })).toEqual(['x', 'q', 'm', 'c', 'a']);
      });

      it('combines filter, order, top and skip', async () => {
        expect(await list({ filter: 'price ge 3', orderBy: 'price desc', top: 2, skip: 1 })).toEqual(['x', 'a']);
      });

      it('lists an unknown collection as empty', async () => {
        expect(await store.listRecords(t, 'nothing-here', { top: 10, skip: 0 })).toEqual([]);
      });
    });

    describe('tokens', () => {
      it('puts, finds and counts tokens; a second put replaces tenant, subject and scopes', async () => {
        const before = await store.countTokens();
        const token: TokenRecord = {
          hash: `h-${++counter}`,
          tenant: 'acme',
          subject: 'ci',
          scopes: ['read', 'write'],
          created: '2024-01-01T00:00:00.000Z',
        };
        await store.putToken(token);
        expect(await store.findToken(token.hash)).toEqual(token);
        expect(await store.countTokens()).toBe(before + 1);
        await store.putToken({ ...token, tenant: 'globex', subject: 'ops', scopes: ['admin'], created: 'later' });
        expect(await store.findToken(token.hash)).toEqual({ ...token, tenant: 'globex', subject: 'ops', scopes: ['admin'] });
        expect(await store.countTokens()).toBe(before + 1);
        expect(await store.findToken('no-such-hash')).toBeUndefined();
      });

      it('a first token is stored only into an empty token table; of first puts racing from three stores on one database exactly one wins', async () => {
        for (let round = 0; round < 5; round++) {
          const fresh = await backend.open();
          try {
            const stores = [fresh.store, await fresh.openSibling(), await fresh.openSibling()];
            const tokens = stores.map((_, i): TokenRecord => ({ hash: `first-${round}-${i}-${++counter}`, tenant: 'default', subject: `node${i}`, scopes: ['admin'], created: '2024-01-01T00:00:00.000Z' }));
            const stored = await Promise.all(stores.map((st, i) => st.putFirstToken(tokens[i]!)));
            expect(stored.filter(Boolean)).toHaveLength(1);
            expect(await fresh.store.countTokens()).toBe(1);
            const winner = tokens[stored.indexOf(true)]!;
            expect(await fresh.store.findToken(winner.hash)).toEqual(winner);
            expect(await fresh.store.putFirstToken({ ...winner, hash: `late-${++counter}` })).toBe(false);
            expect(await fresh.store.countTokens()).toBe(1);
          } finally {
            await fresh.cleanup();
          }
        }
      });

      it('the same new token put at once by two stores on one database (two nodes starting together) is stored once, without an error', async () => {
        const sibling = await handle.openSibling();
        for (let round = 0; round < 200; round++) {
          const before = await store.countTokens();
          const token: TokenRecord = { hash: `race-${++counter}`, tenant: 'acme', subject: 'env', scopes: ['read'], created: '2024-01-01T00:00:00.000Z' };
          const puts = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => (i % 2 ? sibling : store).putToken(token)));
          expect(puts.filter((p) => p.status === 'rejected')).toEqual([]);
          expect(await store.findToken(token.hash)).toEqual(token);
          expect(await store.countTokens()).toBe(before + 1);
        }
      });
    });

    describe('transactions', () => {
      it('commits every write made inside, across awaits', async () => {
        const t = tenant('tx-commit');
        const a = rec({ tenant: t });
        const b = rec({ tenant: t });
        expect(store.inTransaction()).toBe(false);
        const result = await store.transaction(async () => {
          expect(store.inTransaction()).toBe(true);
          expect(await store.insertRecord(a, 0)).toBe('inserted');
          await new Promise((resolve) => setTimeout(resolve, 5));
          expect(await store.insertRecord(b, 0)).toBe('inserted');
          expect(await store.replaceRecord({ ...a, etag: 'a2' }, a.etag)).toBe(true);
          return 'done';
        });
        expect(result).toBe('done');
        expect(store.inTransaction()).toBe(false);
        expect((await store.getRecord(keyOf(a)))?.etag).toBe('a2');
        expect(await store.getRecord(keyOf(b))).toEqual(b);
        expect(await store.countRecords(t)).toBe(2);
      });

      it('rolls everything back when fn throws, and rethrows its error', async () => {
        const t = tenant('tx-rollback');
        const kept = rec({ tenant: t });
        const gone = rec({ tenant: t });
        await store.insertRecord(kept, 0);
        const token: TokenRecord = { hash: `h-${++counter}`, tenant: t, subject: 's', scopes: ['read'], created: 'now' };
        const failure = new Error('boom');
        await expect(
          store.transaction(async () => {
            expect(await store.insertRecord(gone, 0)).toBe('inserted');
            expect(await store.replaceRecord({ ...kept, data: { changed: true }, etag: 'k2' }, kept.etag)).toBe(true);
            expect(await store.deleteRecord(keyOf(kept), 'k2')).toBe(true);
            await store.putToken(token);
            throw failure;
          }),
        ).rejects.toBe(failure);
        expect(await store.getRecord(keyOf(gone))).toBeUndefined();
        expect(await store.getRecord(keyOf(kept))).toEqual(kept);
        expect(await store.countRecords(t)).toBe(1);
        expect(await store.findToken(token.hash)).toBeUndefined();
        // The store is usable afterwards.
        expect(await store.insertRecord(gone, 0)).toBe('inserted');
      });

      it('reads inside see the transaction’s writes; reads outside do not until commit', async () => {
        const t = tenant('tx-visibility');
        const r = rec({ tenant: t });
        const written = gate();
        const proceed = gate();
        const tx = store.transaction(async () => {
          await store.insertRecord(r, 0);
          expect(await store.getRecord(keyOf(r))).toEqual(r);
          expect((await store.listRecords(t, r.collection, { top: 10, skip: 0 })).map((x) => x.id)).toEqual([r.id]);
          expect(await store.countRecords(t)).toBe(1);
          written.open();
          await proceed.promise;
        });
        await written.promise;
        // This code runs outside the transaction's async context.
        expect(store.inTransaction()).toBe(false);
        expect(await store.getRecord(keyOf(r))).toBeUndefined();
        expect(await store.listRecords(t, r.collection, { top: 10, skip: 0 })).toEqual([]);
        expect(await store.countRecords(t)).toBe(0);
        proceed.open();
        await tx;
        expect(await store.getRecord(keyOf(r))).toEqual(r);
        expect(await store.countRecords(t)).toBe(1);
      });

      it('fresh-id creates inside a transaction are seen by its later calls, kept in order, and rolled back with it', async () => {
        const t = tenant('tx-fresh');
        const made = Array.from({ length: 5 }, (_, i) => rec({ tenant: t, data: { i } }));
        await store.transaction(async () => {
          for (const r of made.slice(0, 3)) expect(await store.insertRecord(r, 4, { freshId: true })).toBe('inserted');
          expect(await store.getRecord(made[1]!)).toMatchObject({ data: { i: 1 } });
          expect(await store.countRecords(t)).toBe(3);
          expect(await store.insertRecord(made[3]!, 4, { freshId: true })).toBe('inserted');
          expect(await store.insertRecord(made[4]!, 4, { freshId: true })).toBe('limit');
        });
        const listed = await store.listRecords(t, 'items', { top: 10, skip: 0 });
        expect(listed.map((r) => r.data['i'])).toEqual([0, 1, 2, 3]);
        expect(await store.countRecords(t)).toBe(4);

        const u = tenant('tx-fresh-rollback');
        await expect(
          store.transaction(async () => {
            await store.insertRecord(rec({ tenant: u }), 0, { freshId: true });
            throw new Error('undo');
          }),
        ).rejects.toThrow('undo');
        expect(await store.countRecords(u)).toBe(0);
        expect(await store.listRecords(u, 'items', { top: 10, skip: 0 })).toEqual([]);
      });

      it('a nested transaction joins the outer one (and rolls back with it)', async () => {
        const t = tenant('tx-nested');
        const inner = rec({ tenant: t });
        const outer = rec({ tenant: t });
        await expect(
          store.transaction(async () => {
            await store.insertRecord(outer, 0);
            const value = await store.transaction(async () => {
              expect(store.inTransaction()).toBe(true);
              await store.insertRecord(inner, 0);
              return 42;
            });
            expect(value).toBe(42);
            // The inner transaction committed nothing on its own; we see its write because we are in it.
            expect(await store.getRecord(keyOf(inner))).toEqual(inner);
            throw new Error('outer fails');
          }),
        ).rejects.toThrow('outer fails');
        expect(await store.getRecord(keyOf(inner))).toBeUndefined();
        expect(await store.getRecord(keyOf(outer))).toBeUndefined();
        expect(await store.countRecords(t)).toBe(0);

        await store.transaction(() => store.transaction(() => store.insertRecord(inner, 0)));
        expect(await store.getRecord(keyOf(inner))).toEqual(inner);
      });

      it("a 'limit' or 'exists' outcome inside a transaction leaves its other writes intact", async () => {
        const t = tenant('tx-outcomes');
        const a = rec({ tenant: t });
        const b = rec({ tenant: t });
        await store.transaction(async () => {
          expect(await store.insertRecord(a, 1)).toBe('inserted');
          expect(await store.insertRecord(a, 0)).toBe('exists');
          expect(await store.insertRecord(b, 1)).toBe('limit');
          expect(await store.countRecords(t)).toBe(1);
        });
        expect(await store.getRecord(keyOf(a))).toEqual(a);
        expect(await store.getRecord(keyOf(b))).toBeUndefined();
        expect(await store.countRecords(t)).toBe(1);
      });
    });

    describe('migrations', () => {
      it('opening a second store on the same database migrates nothing and sees the data', async () => {
        const r = rec();
        await store.insertRecord(r, 0);
        const versions = MIGRATIONS.map((m) => m.version);
        expect(await handle.migrationVersions()).toEqual(versions);
        const sibling = await handle.openSibling();
        expect(await handle.migrationVersions()).toEqual(versions);
        expect(await sibling.getRecord(keyOf(r))).toEqual(r);
        const third = await handle.openSibling();
        expect(await third.countRecords('acme')).toBe(await store.countRecords('acme'));
      });
    });

    describe('concurrency', () => {
      it('20 concurrent creates against maxObjects 5 insert exactly 5', async () => {
        const t = tenant('race-limit');
        const records = Array.from({ length: 20 }, () => rec({ tenant: t }));
        const outcomes = await Promise.all(records.map((r) => store.insertRecord(r, 5)));
        expect(outcomes.filter((o) => o === 'inserted')).toHaveLength(5);
        expect(outcomes.filter((o) => o === 'limit')).toHaveLength(15);
        expect(await store.countRecords(t)).toBe(5);
        expect(await store.listRecords(t, 'items', { top: 100, skip: 0 })).toHaveLength(5);
      });

      it('20 concurrent transactions creating against maxObjects 5 insert exactly 5', async () => {
        const t = tenant('race-limit-tx');
        const records = Array.from({ length: 20 }, () => rec({ tenant: t }));
        const outcomes = await Promise.all(
          records.map((r) =>
            store.transaction(async () => {
              const outcome = await store.insertRecord(r, 5);
              await new Promise((resolve) => setTimeout(resolve, 1));
              return outcome;
            }),
          ),
        );
        expect(outcomes.filter((o) => o === 'inserted')).toHaveLength(5);
        expect(await store.countRecords(t)).toBe(5);
        expect(await store.listRecords(t, 'items', { top: 100, skip: 0 })).toHaveLength(5);
      });

      it('20 concurrent transactions creating fresh ids (deferrable) against maxObjects 5 insert exactly 5', async () => {
        const t = tenant('race-limit-fresh');
        const outcomes = await Promise.all(
          Array.from({ length: 20 }, () =>
            store.transaction(async () => {
              const first = await store.insertRecord(rec({ tenant: t }), 5, { freshId: true });
              await new Promise((resolve) => setTimeout(resolve, 1));
              const second = await store.insertRecord(rec({ tenant: t }), 5, { freshId: true });
              return [first, second];
            }),
          ),
        );
        expect(outcomes.flat().filter((o) => o === 'inserted')).toHaveLength(5);
        expect(await store.countRecords(t)).toBe(5);
        expect(await store.listRecords(t, 'items', { top: 100, skip: 0 })).toHaveLength(5);
      });

      it('10 concurrent creates of the same id insert exactly one and count one', async () => {
        const t = tenant('race-same-id');
        const r = rec({ tenant: t });
        const outcomes = await Promise.all(
          Array.from({ length: 10 }, (_, i) => store.insertRecord({ ...r, data: { i } }, 3)),
        );
        expect(outcomes.filter((o) => o === 'inserted')).toHaveLength(1);
        expect(outcomes.filter((o) => o === 'exists')).toHaveLength(9);
        expect(await store.countRecords(t)).toBe(1);
      });

      it('10 concurrent replaces with the same expected etag: exactly one wins', async () => {
        const r = rec();
        await store.insertRecord(r, 0);
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => store.replaceRecord({ ...r, data: { winner: i }, etag: `w${i}` }, r.etag)),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = results.indexOf(true);
        expect(await store.getRecord(keyOf(r))).toMatchObject({ etag: `w${winner}`, data: { winner } });
      });

      it('10 concurrent deletes with the same etag: exactly one wins and the count drops by one', async () => {
        const t = tenant('race-delete');
        const r = rec({ tenant: t });
        await store.insertRecord(r, 0);
        await store.insertRecord(rec({ tenant: t }), 0);
        const results = await Promise.all(Array.from({ length: 10 }, () => store.deleteRecord(keyOf(r), r.etag)));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await store.countRecords(t)).toBe(1);
      });
    });
  });
});

/** PostgreSQL-only behaviour: broken connections and aborted transactions. */
describe.skipIf(!CASES.find((c) => c.name === 'postgres')?.enabled)('PostgresStore connections', () => {
  let handle: BackendHandle;
  let admin: pg.Client;
  const appName = `omnibus_test_${Math.random().toString(36).slice(2, 10)}`;
  let store: PostgresStore;

  beforeAll(async () => {
    handle = await POSTGRES_BACKEND.open();
    admin = new pg.Client({ connectionString: PG_TEST_URL });
    admin.on('error', () => {});
    await admin.connect();
    // A store whose connections we can find (and kill) by application_name.
    const url = new URL(PG_TEST_URL);
    url.searchParams.set('application_name', appName);
    store = await PostgresStore.open({ url: url.toString(), schema: handle.location, poolSize: 3 });
  });

  afterAll(async () => {
    await store?.close();
    await admin?.end().catch(() => {});
    await handle?.cleanup();
  });

  const killBackends = async (): Promise<number> =>
    (await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [appName])).rowCount ?? 0;

  const waitFor = async (check: () => Promise<boolean>): Promise<void> => {
    for (let i = 0; i < 50; i++) {
      if (await check()) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error('condition not met in time');
  };

  it('recovers after its idle connections are terminated, without a restart', async () => {
    const r = rec({ tenant: tenant('pg-kill-idle') });
    await Promise.all([store.insertRecord(r, 0), store.getRecord(keyOf(r)), store.countTokens()]);
    expect(await killBackends()).toBeGreaterThan(0);
    await waitFor(async () => (await killBackends()) === 0);
    // Give the pool a moment to receive the FATAL message on its idle sockets.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await store.getRecord(keyOf(r))).toEqual(r);
    expect(await store.insertRecord(rec({ tenant: r.tenant }), 0)).toBe('inserted');
  });

  it('a transaction whose connection dies fails with a connection error; the store keeps working', async () => {
    const t = tenant('pg-kill-tx');
    const r = rec({ tenant: t });
    const failed = store.transaction(async () => {
      await store.insertRecord(r, 0);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND state LIKE $2', [
        appName,
        'idle in transaction%',
      ]);
      await new Promise((resolve) => setTimeout(resolve, 50));
      await store.getRecord(keyOf(r));
    });
    const err = await failed.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(isConnectionError(err)).toBe(true);
    expect(store.inTransaction()).toBe(false);
    expect(await store.getRecord(keyOf(r))).toBeUndefined();
    expect(await store.countRecords(t)).toBe(0);
    expect(await store.insertRecord(r, 0)).toBe('inserted');
  });

  it('refuses to report a commit when a statement inside failed and fn swallowed the error', async () => {
    const t = tenant('pg-aborted');
    const r = rec({ tenant: t });
    // jsonb refuses U+0000 in strings: a SQL error, not a connection error.
    const sqlError = await store
      .transaction(async () => {
        await store.insertRecord(r, 0);
        await store.insertRecord(rec({ tenant: t, data: { s: 'a\u0000b' } }), 0).catch((e: unknown) => {
          expect(isConnectionError(e)).toBe(false);
        });
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(sqlError).toBeInstanceOf(Error);
    expect(String(sqlError)).toMatch(/rolled back/);
    expect(await store.getRecord(keyOf(r))).toBeUndefined();
    expect(await store.countRecords(t)).toBe(0);
  });

  it('refuses store calls made after the transaction ended', async () => {
    let late: Promise<unknown> | undefined;
    const gateOpen = gate();
    await store.transaction(async () => {
      late = gateOpen.promise.then(() => store.getRecord({ tenant: 'x', collection: 'y', id: 'z' }));
    });
    gateOpen.open();
    await expect(late).rejects.toThrow(/already ended/);
  });

  it('fails to open with a clear error when the server is unreachable', async () => {
    const err = await PostgresStore.open({ url: 'postgres://postgres@127.0.0.1:1/test', connectionTimeoutMillis: 2000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isConnectionError(err)).toBe(true);
  });
});
