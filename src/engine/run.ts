import { AsyncResource } from 'node:async_hooks';
import { ApiError, toApiError } from '../errors.js';
import { apiRequest, dispatchOne, problemResult, runGroup, runSingle, type OperationRunner } from './execute.js';
import { members, referencedIds, type GraphPlan, type Unit } from './plan.js';
import { resolveReferences, type Finished } from './references.js';
import type { BatchCommit, BatchOutcome, ExecutionContext, OperationResult } from './types.js';
import type { PreparedOperation } from './validate.js';

/**
 * Runs a batch planned as a dependency graph (engine/plan.ts), with the unit
 * runners of engine/execute.ts:
 *
 * - a unit starts once every unit it depends on has finished; units with no
 *   path between them run concurrently, at most `ctx.concurrency` at a time.
 *   A group is one unit: one transaction on one connection, which no other
 *   unit's statement can join (the store carries a transaction in async
 *   context, and every unit starts from the runner's own context, never from
 *   inside another unit's);
 * - each of those slots is a lane with a batch commit of its own (when the
 *   store has one): the standalone operations that run in it share its
 *   transaction, one savepoint each, so the batch pays a commit per lane, not
 *   per operation. With several lanes, a lane commits before anything that
 *   depends on what it did may start (in another lane it would not see it),
 *   whenever it is left without work (so that it holds no row lock another
 *   lane waits for), and after each operation while a group runs (the group
 *   may need its rows). Reads then take no lane: what they depend on is
 *   committed. With one lane (SQLite, one writer) the batch runs in request
 *   order in one batch commit, as a request-order batch does;
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
 *   re-reads the store when the record changed since); the reads among them
 *   run back to back as one unit, answered from memory. Operations that
 *   start after a dependency never see the snapshot: they must see what it
 *   wrote.
 */
export async function runGraph(
  plan: GraphPlan,
  count: number,
  ctx: ExecutionContext,
  openCommit: (standaloneWrites: number) => BatchCommit | undefined,
  stopOnError: boolean,
): Promise<BatchOutcome> {
  const { units, after, dependents } = plan;
  const results: OperationResult[] = new Array(count);
  const finished = new Map<string, Finished>();
  const limit = Math.max(1, Math.floor(ctx.concurrency ?? 1));
  const lanes = new Array<BatchCommit | undefined>(limit);
  const writes = units.filter((unit) => unit.kind === 'single' && !isRead(unit)).length;
  /** The lane of slot `k`, opened at its first use; what a store decides per lane's expected share of the writes. */
  const lane = (k: number): BatchCommit | undefined => (lanes[k] ??= openCommit(Math.ceil(writes / limit)));
  const free = Array.from({ length: limit }, (_, k) => limit - 1 - k);
  let groupsRunning = 0;
  const waitingFor = after.map((deps) => deps.length);
  const state = units.map((): 'waiting' | 'started' | 'skipped' => 'waiting');
  const failed = units.map(() => false);
  /** Units whose dependencies have all finished and that have not started, in request order. */
  const ready = units.flatMap((_, u) => (waitingFor[u] === 0 ? [u] : []));
  let running = 0;
  let halted = false;

  /** Ids some operation refers to: only their results need keeping. */
  const referenced = new Set<string>();
  for (const unit of units) for (const p of members(unit)) if (p.op.references) for (const id of referencedIds(p)) referenced.add(id);

  /** Dispatches one operation with its references resolved, and keeps its result for later references. */
  const run: OperationRunner = (p) => {
    const kept = p.op.id !== undefined && referenced.has(p.op.id);
    // Most operations neither refer to nor are referred to: dispatched as they are, with no promise of the runner's own.
    if (!p.op.references && !kept) return dispatchOne(p, ctx);
    let resolved = p;
    if (p.op.references) {
      try {
        resolved = resolveReferences(p, (id) => finished.get(id));
      } catch (err) {
        return Promise.resolve(problemResult(p, toApiError(err)));
      }
    }
    return dispatchOne(resolved, ctx).then((result) => {
      if (kept) finished.set(p.op.id!, { result, path: resolved.target.path });
      return result;
    });
  };

  const snapshot = await firstWaveSnapshot(units, ready, ctx, limit);

  /**
   * Several lanes, no group and a snapshot: the first wave's independent
   * writes that the store admits share one transaction (see
   * TransactionRunner.openSharedCommit) instead of a lane each.
   */
  let shared: BatchCommit | undefined;
  const sharing =
    limit > 1 && snapshot !== undefined && ctx.sharesCommit !== undefined && ctx.transactions?.openSharedCommit !== undefined && units.every((unit) => unit.kind === 'single');
  /** The units that run in the shared commit and have not finished: when none is left it commits. */
  const sharers = new Set(
    sharing
      ? [...snapshot.members].filter((u) => {
          const op = (units[u] as Extract<Unit, { kind: 'single' }>).op;
          return dependents[u]!.length === 0 && !isRead(units[u]!) && op.op.ifNoneExist === undefined && ctx.sharesCommit!(apiRequest(op, ctx.principal));
        })
      : [],
  );
  const sharedCommit = (u: number): BatchCommit | undefined => (sharers.has(u) ? (shared ??= ctx.transactions!.openSharedCommit!()) : undefined);
  /** Unit `u` finished: the shared commit commits after the last of its units (it may hold a row lock a later one waits for). */
  const leaveShared = async (u: number): Promise<void> => {
    if (sharers.delete(u) && sharers.size === 0) await shared?.commit();
  };

  /**
   * Runs units `us` and says which of them failed (of those that started):
   * one unit, or reads of the snapshot back to back (they are answered from
   * memory, so running them side by side would only cost scheduling).
   */
  const start = async (us: number[], k: number): Promise<boolean[]> => {
    const unit = units[us[0]!]!;
    if (unit.kind === 'group') {
      await lanes[k]?.commit(); // the group is all-or-none in a transaction of its own
      groupsRunning++;
      try {
        return [await runGroup(unit.members, ctx, results, run)];
      } finally {
        groupsRunning--;
      }
    }
    // With several lanes a read needs none: everything it depends on is committed.
    const commit = limit > 1 && isRead(unit) ? undefined : (sharedCommit(us[0]!) ?? lane(k));
    if (!snapshot?.members.has(us[0]!)) return [await runSingle(unit.op, ctx, results, commit, run)];
    return snapshot.enter(async () => {
      const outcome: boolean[] = [];
      for (const u of us) {
        if (halted) break; // another unit failed under stopOnError: the rest do not start
        const unitFailed = await runSingle((units[u] as Extract<Unit, { kind: 'single' }>).op, ctx, results, commit, run);
        outcome.push(unitFailed);
        if (unitFailed && stopOnError) break;
      }
      return outcome;
    });
  };

  /** With several lanes: must lane `k` commit now that units `us` finished in it? */
  const mustCommit = (us: number[]): boolean => limit > 1 && (groupsRunning > 0 || us.some((u) => dependents[u]!.length > 0));

  /** A read of the snapshot: it runs with the other ready ones, back to back. */
  const isSnapshotRead = (u: number): boolean => snapshot?.members.has(u) === true && isRead(units[u]!);

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

  try {
    if (limit === 1) {
      // One slot: dependencies stand earlier, so request order is the order units become ready in.
      for (let u = 0; u < units.length && !halted; u++) {
        if (state[u] !== 'waiting') continue; // skipped: a dependency failed
        state[u] = 'started';
        finish(u, (await start([u], 0))[0]!);
      }
    } else {
      await new Promise<void>((resolve, reject) => {
        const pump = (): void => {
          while (!halted && free.length > 0 && ready.length > 0) {
            const u = ready.shift()!;
            const us = [u];
            if (isSnapshotRead(u)) {
              const rest = ready.splice(0);
              for (const v of rest) (isSnapshotRead(v) ? us : ready).push(v);
            }
            for (const v of us) state[v] = 'started';
            const k = free.pop()!;
            running++;
            // Registered here, in the runner's own context: the next units never start inside this one's.
            start(us, k)
              .then(async (outcome) => {
                if (mustCommit(us)) await lanes[k]?.commit();
                await leaveShared(u);
                // Reads cut short by stopOnError did not start.
                us.forEach((v, i) => (i < outcome.length ? finish(v, outcome[i]!) : (state[v] = 'waiting')));
                free.push(k);
                pump();
                // A lane left without work lets go of its locks: another lane or a group may wait for them.
                if (limit > 1 && lanes[k]?.open && free.includes(k)) {
                  free.splice(free.indexOf(k), 1);
                  await lanes[k]!.commit();
                  free.push(k);
                  pump();
                }
                running--;
                if (running === 0 && (halted || ready.length === 0)) resolve();
              })
              .catch(reject);
          }
          if (running === 0) resolve();
        };
        pump();
      });
    }
    // Stopped early: units that never started have no answer.
    const outcome: BatchOutcome = halted ? { results: results.filter(Boolean), halted: state.includes('waiting') } : { results, halted: false };
    // One lane: its last commit is the batch's last, so a recorder may keep the whole outcome with it.
    for (const l of lanes) await l?.commit(limit === 1 ? outcome : undefined);
    await shared?.commit();
    return outcome;
  } catch (err) {
    for (const l of lanes) await l?.abort().catch(() => {});
    await shared?.abort().catch(() => {});
    throw err;
  }
}

function isRead(unit: Unit): boolean {
  return unit.kind === 'single' && (unit.op.op.method === 'GET' || unit.op.op.method === 'HEAD');
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
  limit: number,
): Promise<{ members: Set<number>; enter: EnterSnapshot } | undefined> {
  if (!ctx.readAhead) return undefined;
  const plain = (unit: Unit): unit is Extract<Unit, { kind: 'single' }> =>
    unit.kind === 'single' && unit.op.resolvePath === undefined && unit.op.target.token === undefined;
  let wave = ready.filter((u) => plain(units[u]!) && (units[u] as Extract<Unit, { kind: 'single' }>).op.op.method !== 'POST');
  if (limit === 1) {
    // One slot runs in request order: a unit outside the first wave (a group, one that waits for
    // another) may write what a later member reads, so the snapshot stops before it. A POST of
    // the wave creates a fresh id, which no member reads.
    const first = new Set(ready);
    const cut = units.findIndex((unit, u) => !(first.has(u) && plain(unit)));
    if (cut >= 0) wave = wave.filter((u) => u < cut);
  }
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
