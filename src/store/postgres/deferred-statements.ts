/**
 * Control statements (a batch transaction's BEGIN, an operation's SAVEPOINT)
 * that ride with the transaction's next statement instead of costing a round trip of their own.
 * On a machine where PostgreSQL runs beside the server, each statement's
 * socket write and wake-up cost more than the statement; a savepoint sent
 * alone doubled the writes of a one-statement operation, and one that issues
 * no statement at all (a read answered from memory, a precondition that
 * fails before writing) needs none, and a transaction that never sent one
 * needs no BEGIN or COMMIT.
 */
import pg from 'pg';
import { isTransactionConflict, type Client } from './transaction.js';

/** Where the deferred statements wait: the transaction's context. */
export interface DeferredHolder {
  /** Simple-protocol statements to run before the next statement; cleared once sent. */
  deferred?: string;
  /** The deferred statements open the transaction (BEGIN): until they are sent there is none to end. */
  opening?: boolean;
  /**
   * The deferred statements carry writes of operations that already have
   * their answer (a batch commit's creates): they must go out, with the
   * COMMIT at the latest, and are never dropped with the savepoint controls.
   */
  writes?: boolean;
  /** Set when deferred writes failed to go through: the operations that made them answered success, so the batch must fail. */
  lostWrites?: unknown;
}

type Scalar = string | number | boolean | null;

function isScalar(v: unknown): v is Scalar {
  return v === null || typeof v === 'number' || typeof v === 'boolean' || (typeof v === 'string' && !v.includes('\u0000'));
}

/**
 * `text` with its `$n` placeholders replaced by quoted literals. Only our
 * named statements are inlined: their text is a constant with no `$` other
 * than placeholders, and every value is a scalar (a string with a NUL, which
 * a simple query cannot carry, is not).
 */
export function inlineStatement(text: string, values: readonly unknown[]): string | undefined {
  if (!values.every(isScalar)) return undefined;
  let ok = true;
  const sql = text.replace(/\$(\d+)/g, (_, n: string) => {
    const v = values[Number(n) - 1];
    if (v === undefined) {
      ok = false;
      return '';
    }
    return v === null ? 'NULL' : pg.escapeLiteral(String(v));
  });
  return ok ? sql : undefined;
}

/**
 * A client on which `holder.deferred` goes out with the next statement, in
 * one simple query, when that statement can be inlined; otherwise just
 * before it. The statement's own result is returned either way.
 */
export function deferringClient(client: Client, holder: DeferredHolder): Client {
  const send = client.query.bind(client) as (config: unknown, values?: unknown) => Promise<unknown>;
  const query = async (config: unknown, values?: unknown): Promise<unknown> => {
    const deferred = holder.deferred;
    if (deferred === undefined) return send(config, values);
    const writes = holder.writes === true;
    holder.deferred = undefined;
    holder.writes = false;
    holder.opening = false; // from here on the transaction may exist, even if this send fails
    const combined = combine(deferred, config, values);
    try {
      if (combined !== undefined) {
        const results = (await send(combined)) as pg.QueryResult[];
        return results[results.length - 1];
      }
      await send(deferred);
    } catch (err) {
      // A conflict is this statement's own (lock waits, deadlocks): a create of a fresh id takes no lock
      // another transaction holds. Any other failure may be a deferred write's.
      if (writes && !isTransactionConflict(err)) holder.lostWrites ??= err;
      throw err;
    }
    return send(config, values);
  };
  return { query } as unknown as Client;
}

function combine(deferred: string, config: unknown, values: unknown): string | undefined {
  if (typeof config === 'string') return values === undefined ? `${deferred}; ${config}` : undefined;
  const c = config as pg.QueryConfig | null;
  if (c === null || typeof c !== 'object' || typeof c.text !== 'string' || c.name === undefined) return undefined;
  const sql = inlineStatement(c.text, c.values ?? []);
  return sql === undefined ? undefined : `${deferred}; ${sql}`;
}
