import type { ExecutionContext } from './types.js';

/** How long a batch may keep the event loop before it lets other work run. */
const SLICE_MS = 10;

const lastTurn = new WeakMap<ExecutionContext, number>();

/**
 * Gives the event loop a turn when the batch has had it for a slice. SQLite
 * calls are synchronous, so without this a long batch would run start to end
 * in microtasks: no other request could even be read, and releasing the
 * writer every commit interval would let nobody in.
 */
export async function yieldIfBusy(ctx: ExecutionContext): Promise<void> {
  const now = performance.now();
  const last = lastTurn.get(ctx);
  if (last === undefined) {
    lastTurn.set(ctx, now);
    return;
  }
  if (now - last < SLICE_MS) return;
  // Two turns: from inside the check phase one setImmediate would run again before I/O is polled.
  await new Promise<void>((resolve) => setImmediate(resolve));
  await new Promise<void>((resolve) => setImmediate(resolve));
  lastTurn.set(ctx, performance.now());
}
