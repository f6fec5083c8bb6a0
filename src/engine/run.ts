import { AsyncResource } from 'node:async_hooks';
import { ApiError, toApiError } from '../errors.js';
import { apiRequest, dispatchOne, problemResult, runGroup, runSingle, type OperationRunner } from './execute.js';
import { members, type GraphPlan, type Unit } from './plan.js';
import { resolveReferences, type Finished } from './references.js';
import type { BatchCommit, BatchOutcome, ExecutionContext, OperationResult } from './types.js';
import type { PreparedOperation } from './validate.js';

/**
 * Runs a batch planned as a dependency graph (engine/plan.ts), with the unit
 * runners of engine/execute.ts:
 *
 * - a unit starts once every unit it depends on has finished; units with no
 *   path between them run concurrently, at most `ctx.concurrency` at a time
 *   (one at a time with a batch commit open: its savepoints share one
 *   connection). A group is one unit: one transaction on one connection,
 *   which no other unit's statement can join (the store carries a
 *   transaction in async context, and every unit starts from the runner's
 *   own context, never from inside another unit's);
 * - when units wait for a free slot, the earliest in request order goes
 *   first, so with one slot the batch runs exactly in request order;
 * - a unit whose dependency failed (status >= 400, 424 included) does not
 *   run: each of its operations answers 424 `failed_dependency`, and so on
 *   down the graph;
 * - an operation's references are resolved just before it is dispatched,
 *   from the results of the operations it depends on;
 * - with `stopOnError`, nothing new starts after the first failure; units
 *   that never started have no result (`halted`);
 * - with `ctx.readAhead` (PostgreSQL), the records that the first wave of
 *   single operations (those that depend on nothing) reads or writes are
 *   fetched in one go before anything starts, and those operations run with
 *   that snapshot: they are independent of each other, so each may see the
 *   batch as it was when it began (a write stays compare-and-set, and
 *   re-reads the store when the record changed since). Operations that start
 *   after a dependency never see it: they must see what it wrote.
 */
export async function runGraph(
  plan: GraphPlan,
  count: number,
  ctx: ExecutionContext,
  commit: BatchCommit | undefined,
  stopOnError: boolean,
): Promise<BatchOutcome> {
  const { units, after, dependents } = plan;
  const results: OperationResult[] = new Array(count);
  const finished = new Map<string, Finished>();
  const limit = commit ? 1 : Math.max(1, Math.floor(ctx.concurrency ?? 1));
  const waitingFor = after.map((deps) => deps.length);
  const state = units.map((): 'waiting' | 'started' | 'skipped' => 'waiting');
  const failed = units.map(() => false);
  /** Units whose dependencies have all finished and that have not started, in request order. */
  const ready = units.flatMap((_, u) => (waitingFor[u] === 0 ? [u] : []));
  let running = 0;
  let halted = false;

  /** Dispatches one operation with its references resolved, and keeps its result for later references. */
  const run: OperationRunner = async (p) => {
    let resolved: PreparedOperation;
    try {
      resolved = resolveReferences(p, (id) => finished.get(id));
    } catch (err) {
      return problemResult(p, toApiError(err));
    }
    const result = await dispatchOne(resolved, ctx);
    if (p.op.id !== undefined) finished.set(p.op.id, { result, path: resolved.target.path });
    return result;
  };

  const snapshot = await firstWaveSnapshot(units, ready, ctx);

  const start = async (u: number): Promise<boolean> => {
    const unit = units[u]!;
    if (unit.kind === 'single') {
      const single = () => runSingle(unit.op, ctx, results, commit, run);
      return snapshot?.members.has(u) ? snapshot.enter(single) : single();
    }
    await commit?.commit(); // the group is all-or-none in a transaction of its own
    return runGroup(unit.members, ctx, results, run);
  };

  const skip = (u: number, because: Unit): void => {
    if (state[u] !== 'waiting') return;
    state[u] = 'skipped';
    failed[u] = true;
    for (const p of members(units[u]!)) results[p.op.index] = failedDependency(p, because);
    for (const d of dependents[u]!) skip(d, units[u]!);
  };

  const finish = (u: number, unitFailed: boolean): void => {
    failed[u] = unitFailed;
    if (unitFailed && stopOnError) halted = true;
    for (const d of dependents[u]!) {
      if (unitFailed) {
        if (!halted) skip(d, units[u]!);
      } else if (--waitingFor[d]! === 0 && state[d] === 'waiting') {
        let i = ready.length;
        while (i > 0 && ready[i - 1]! > d) i--;
        ready.splice(i, 0, d);
      }
    }
  };

  await new Promise<void>((resolve, reject) => {
    const pump = (): void => {
      while (!halted && running < limit && ready.length > 0) {
        const u = ready.shift()!;
        state[u] = 'started';
        running++;
        // Registered here, in the runner's own context: the next units never start inside this one's.
        start(u).then(
          (unitFailed) => {
            finish(u, unitFailed);
            running--;
            pump();
          },
          reject,
        );
      }
      if (running === 0) resolve();
    };
    pump();
  });

  if (!halted) return { results, halted: false };
  // Stopped early: units that never started have no answer.
  return { results: results.filter(Boolean), halted: state.includes('waiting') };
}

/** Runs a function inside the snapshot of the first wave's records. */
type EnterSnapshot = <T>(fn: () => Promise<T>) => Promise<T>;

/**
 * Reads ahead the records of the first wave's single operations on one
 * record (no path reference, no per-operation token) and gives back a way
 * to run each of them inside that snapshot.
 */
async function firstWaveSnapshot(
  units: Unit[],
  ready: number[],
  ctx: ExecutionContext,
): Promise<{ members: Set<number>; enter: EnterSnapshot } | undefined> {
  if (!ctx.readAhead) return undefined;
  const wave = ready.filter((u) => {
    const unit = units[u]!;
    return unit.kind === 'single' && unit.op.op.method !== 'POST' && unit.op.op.references?.path === undefined && unit.op.target.token === undefined;
  });
  if (wave.length < 2) return undefined;
  const requests = wave.map((u) => apiRequest((units[u] as Extract<Unit, { kind: 'single' }>).op, ctx.principal));
  // Bound inside the read-ahead, the function runs whatever it is given in that context, later.
  const enter = await ctx.readAhead(requests, async () => AsyncResource.bind(<T>(fn: () => Promise<T>) => fn()));
  return { members: new Set(wave), enter: enter as EnterSnapshot };
}

function failedDependency(p: PreparedOperation, because: Unit): OperationResult {
  const what = because.kind === 'group' ? `group ${JSON.stringify(because.key)}` : `request ${JSON.stringify(because.op.op.id ?? String(because.op.op.index))}`;
  const error = new ApiError(424, 'failed_dependency', `Not run: it depends on ${what}, which failed or did not run.`);
  return { ...problemResult(p, error), ran: false };
}
