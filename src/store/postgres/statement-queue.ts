/**
 * The statements of operations that run side by side in one shared batch
 * transaction (shared-commit.ts), sent together: those issued in the same
 * turn of the event loop go out in one simple query, inside one savepoint,
 * instead of one round trip each. On a machine where PostgreSQL runs beside
 * the server a socket write costs more than a one-row UPDATE, and eight
 * operations in flight issue their statements in the same turn.
 *
 * Each statement is atomic on its own: when the combined query fails, it is
 * rolled back to its savepoint and the statements are sent again one at a
 * time, each in a savepoint of its own, so that an error belongs to the
 * statement that raised it and the transaction stays usable.
 */
import type pg from 'pg';
import { inlineStatement } from './deferred-statements.js';
import type { TxContext } from './transaction.js';

const SAVEPOINT = 'omnibus_statements';

interface Queued {
  config: pg.QueryConfig;
  resolve(result: pg.QueryResult): void;
  reject(err: unknown): void;
}

export class StatementQueue {
  private queued: Queued[] = [];

  constructor(private readonly ctx: TxContext) {}

  /** Sends `config` with the other statements queued in this turn; resolves with its own result. */
  query(config: pg.QueryConfig): Promise<pg.QueryResult> {
    return new Promise((resolve, reject) => {
      if (this.queued.push({ config, resolve, reject }) === 1) setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    const release = await this.ctx.lock.acquire();
    const entries = this.queued.splice(0);
    try {
      if (this.ctx.finished) throw new Error('The store transaction has already ended; this call was made too late.');
      await this.send(entries);
    } catch (err) {
      for (const e of entries) e.reject(err); // those already settled stay as they are
    } finally {
      release();
    }
  }

  private async send(entries: Queued[]): Promise<void> {
    const inlined = entries.map((e) => inlineStatement(e.config.text, e.config.values ?? []));
    if (inlined.every((sql): sql is string => sql !== undefined)) {
      try {
        const results = await this.simple([`SAVEPOINT ${SAVEPOINT}`, ...inlined, `RELEASE SAVEPOINT ${SAVEPOINT}`]);
        entries.forEach((e, i) => e.resolve(results[i + 1]!));
        return;
      } catch (err) {
        await this.simple([`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`, `RELEASE SAVEPOINT ${SAVEPOINT}`]);
        if (entries.length === 1) return entries[0]!.reject(err);
      }
    }
    for (const e of entries) await this.one(e);
  }

  /** One statement in a savepoint of its own, which rides with it (deferred-statements.ts). */
  private async one(e: Queued): Promise<void> {
    this.defer(`SAVEPOINT ${SAVEPOINT}`);
    try {
      const result = await this.ctx.client.query(e.config);
      this.defer(`RELEASE SAVEPOINT ${SAVEPOINT}`);
      e.resolve(result);
    } catch (err) {
      await this.simple([`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`, `RELEASE SAVEPOINT ${SAVEPOINT}`]);
      e.reject(err);
    }
  }

  private defer(sql: string): void {
    this.ctx.deferred = this.ctx.deferred === undefined ? sql : `${this.ctx.deferred}; ${sql}`;
  }

  /** `statements` in one simple query after whatever is deferred; their results, in order. */
  private async simple(statements: string[]): Promise<pg.QueryResult[]> {
    const deferred = this.ctx.deferred;
    this.ctx.deferred = undefined;
    this.ctx.opening = false;
    const sql = (deferred === undefined ? statements : [deferred, ...statements]).join('; ');
    const results = (await this.ctx.client.query(sql)) as pg.QueryResult | pg.QueryResult[];
    const list = Array.isArray(results) ? results : [results];
    return list.slice(list.length - statements.length);
  }
}
