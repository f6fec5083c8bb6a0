import { ApiError, toApiError } from '../errors.js';
import { apiRequest, dispatchOne, isReadAheadable, problemResult, runGroup, runSingle, type OperationRunner } from './execute.js';
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
 * - ready single-record reads start together as one unit read ahead in one
 *   go (`ctx.readAhead`), the way the request-order runner reads runs of
 *   GETs.
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
  let ready = units.flatMap((_, u) => (waitingFor[u] === 0 ? [u] : []));
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

  /** Runs units `us`: one unit, or single-record reads back to back inside one read-ahead. Says which failed (of those started). */
  const start = async (us: number[]): Promise<boolean[]> => {
    if (us.length === 1) {
      const unit = units[us[0]!]!;
      if (unit.kind === 'single') return [await runSingle(unit.op, ctx, results, commit, run)];
      await commit?.commit(); // the group is all-or-none in a transaction of its own
      return [await runGroup(unit.members, ctx, results, run)];
    }
    const ops = us.map((u) => (units[u] as Extract<Unit, { kind: 'single' }>).op);
    return ctx.readAhead!(
      ops.map((p) => apiRequest(p, ctx.principal)),
      async () => {
        const outcome: boolean[] = [];
        for (const p of ops) {
          if (halted) break; // another unit failed under stopOnError: the rest do not start
          const readFailed = await runSingle(p, ctx, results, commit, run);
          outcome.push(readFailed);
          if (readFailed && stopOnError) break;
        }
        return outcome;
      },
    );
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
        const us = ctx.readAhead && isRead(units[u]!) ? [u, ...ready.filter((v) => isRead(units[v]!))] : [u];
        if (us.length > 1) ready = ready.filter((v) => !us.includes(v));
        for (const v of us) state[v] = 'started';
        running++;
        start(us).then(
          (outcome) => {
            // A read run cut short by stopOnError leaves its last reads unstarted.
            us.forEach((v, k) => (k < outcome.length ? finish(v, outcome[k]!) : (state[v] = 'waiting')));
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

function isRead(unit: Unit): boolean {
  return unit.kind === 'single' && isReadAheadable(unit.op) && unit.op.op.references?.path === undefined;
}

function failedDependency(p: PreparedOperation, because: Unit): OperationResult {
  const what = because.kind === 'group' ? `group ${JSON.stringify(because.key)}` : `request ${JSON.stringify(because.op.op.id ?? String(because.op.op.index))}`;
  const error = new ApiError(424, 'failed_dependency', `Not run: it depends on ${what}, which failed or did not run.`);
  return { ...problemResult(p, error), ran: false };
}
