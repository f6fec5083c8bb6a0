import { describe, expect, it } from 'vitest';
import { yieldIfBusy } from './fairness.js';

/** A synchronous operation of `ms` milliseconds, as a SQLite call is. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

async function batch(ops: number, ms: number, done: { n: number }): Promise<void> {
  for (let i = 0; i < ops; i++) {
    await yieldIfBusy();
    busy(ms);
    done.n++;
  }
}

describe('yieldIfBusy', () => {
  it('lets a timer run while batches of synchronous operations are in flight, long before they end', async () => {
    const done = { n: 0 };
    let seenAt = -1;
    const timer = new Promise<void>((resolve) =>
      setTimeout(() => {
        seenAt = done.n;
        resolve();
      }, 0),
    );
    await Promise.all([batch(40, 1, done), batch(40, 1, done), batch(40, 1, done), timer]);
    expect(done.n).toBe(120);
    // Without yielding, all 120 operations (120 ms) would run first.
    expect(seenAt).toBeGreaterThanOrEqual(0);
    expect(seenAt).toBeLessThan(20);
  });

  it('runs several short operations in one turn rather than one per turn', async () => {
    const done = { n: 0 };
    let turns = 0;
    let counting = true;
    const countTurns = (): void => {
      turns++;
      if (counting) setImmediate(countTurns);
    };
    setImmediate(countTurns);
    await batch(2000, 0.005, done);
    counting = false;
    expect(done.n).toBe(2000);
    expect(turns).toBeLessThan(200);
  });

  it('resumes batches in the order they stopped', async () => {
    const order: string[] = [];
    busy(5); // the turn's budget is spent: every caller below waits for the next turn
    const a = yieldIfBusy()?.then(() => order.push('a'));
    const b = yieldIfBusy()?.then(() => order.push('b'));
    const c = yieldIfBusy()?.then(() => order.push('c'));
    expect([a, b, c].every((p) => p instanceof Promise)).toBe(true);
    await Promise.all([a, b, c]);
    expect(order).toEqual(['a', 'b', 'c']);
  });
});
