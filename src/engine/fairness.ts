/**
 * Longest stretch (ms) that batch operations run between two polls of the
 * sockets. SQLite calls are synchronous, so without a bound fifty batches in
 * flight would run start to end in microtasks and `/healthz`, or any other
 * request, would wait for all of them.
 */
const TURN_BUDGET_MS = 3;

let turnStartedAt = Number.NEGATIVE_INFINITY;
let waiting: Array<() => void> = [];

function startTurn(): void {
  const resume = waiting;
  waiting = [];
  turnStartedAt = performance.now();
  for (const r of resume) r();
}

/**
 * Called before each operation of a batch: once the operations of all
 * batches have had the event loop for the turn's budget, the caller waits
 * for the next turn, which comes after the loop has read its sockets (an
 * immediate queued now runs in the next turn, after the poll). Batches
 * resume in the order they stopped, so the oldest finish first.
 */
export function yieldIfBusy(): Promise<void> | undefined {
  if (performance.now() - turnStartedAt < TURN_BUDGET_MS) return undefined;
  if (waiting.length === 0) setImmediate(startTurn);
  return new Promise<void>((resolve) => waiting.push(resolve));
}
