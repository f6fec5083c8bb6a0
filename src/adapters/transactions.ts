import { AsyncLocalStorage } from 'node:async_hooks';
import type { TransactionRunner } from '../engine/types.js';

/** A `transactions` runner for your own database, with the open transaction carried by async context. */
export interface TransactionContext<Tx> extends TransactionRunner {
  /**
   * The transaction of the batch group being run, when the caller is inside
   * one (a route handling an operation of that group); otherwise undefined.
   * Routes write through `current() ?? db`, so they take part in a group's
   * transaction without knowing they are in a batch.
   */
  current(): Tx | undefined;
}

/**
 * Plugs your own database into batch transaction groups (and the parts
 * dialect). `begin` opens a transaction, runs `work` with it and commits when
 * `work` resolves, or rolls back when it rejects: that is the contract of
 * Knex's `knex.transaction(fn)`, Kysely's `db.transaction().execute(fn)`,
 * Prisma's `prisma.$transaction(fn)` and Drizzle's `db.transaction(fn)`.
 *
 *     const tx = transactionContext((work) => db.transaction().execute(work)); // Kysely
 *     app.use(omnibus({ authenticate, transactions: tx }));
 *     app.post('/orders', async (req, res) => {
 *       const q = tx.current() ?? db;   // the group's transaction inside a batch group
 *       ...
 *     });
 *
 * Omnibus rolls a group back by making `work` reject when one of its
 * operations answers >= 400, so every write made through `current()` during
 * the group is undone. A route that writes through another connection is not
 * part of the group.
 */
export function transactionContext<Tx>(begin: <T>(work: (tx: Tx) => Promise<T>) => Promise<T>): TransactionContext<Tx> {
  const storage = new AsyncLocalStorage<Tx>();
  return {
    transaction: (fn) => begin((tx) => storage.run(tx, fn)),
    current: () => storage.getStore(),
  };
}
