import pg from 'pg';

/**
 * Counts the queries `pg` clients send while `fn` runs (a server's round
 * trips to PostgreSQL), those of `except` (a test's own client) left out.
 */
export async function countingSends<T>(except: pg.Client | undefined, fn: () => Promise<T>): Promise<{ result: T; sends: number }> {
  const original = pg.Client.prototype.query;
  let sends = 0;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    if (this !== except) sends++;
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof original;
  try {
    return { result: await fn(), sends };
  } finally {
    pg.Client.prototype.query = original;
  }
}
