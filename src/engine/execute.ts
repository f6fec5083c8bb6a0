import type { ApiRequest, ApiResponse } from '../api/types.js';
import type { Principal } from '../auth/principal.js';
import { ApiError, problem, problemHeaders, PROBLEM_CONTENT_TYPE, toApiError } from '../errors.js';
import { withLogFields } from '../log-context.js';
import { existingRecord } from './conditional-create.js';
import { yieldIfBusy } from './fairness.js';
import { members, planGraph, planSequence, type Unit } from './plan.js';
import { checkBackReferences, referenceRunner } from './references.js';
import { runGraph } from './run.js';
import type { PreparedOperation } from './validate.js';
import type { BatchCommit, BatchOutcome, CommitRecorder, ExecutionContext, OperationResult, ReadAhead } from './types.js';

/** Thrown inside a group's transaction to roll it back; carries the failing member's result. */
class GroupFailure extends Error {
  constructor(readonly result: OperationResult) {
    super('transaction group failed');
  }
}

/** The recorder refused to write (the key is another request's): the group rolls back and the whole batch fails with `cause`. */
class RecordRefused extends Error {
  constructor(override readonly cause: unknown) {
    super('the commit recorder refused');
  }
}

/** Runs one operation of a unit: dispatches it, by default; the graph runner resolves references first. */
export type OperationRunner = (p: PreparedOperation) => Promise<OperationResult>;

/**
 * Runs a validated batch: units in order, one at a time; groups inside one
 * store transaction, rolled back when a member ends >= 400 or throws; with
 * `stopOnError`, nothing after the first failure runs. Standalone operations
 * share the batch commit when the store offers one; the answer is returned
 * only once everything the batch did is committed.
 *
 * In `graph` order the batch is planned as a dependency graph (a bad
 * dependency is refused with 400 before anything runs) and run by
 * engine/run.ts with the same unit runners.
 */
export async function executeBatch(
  ops: PreparedOperation[],
  ctx: ExecutionContext,
  options: { stopOnError?: boolean; order?: 'request' | 'graph' } = {},
): Promise<BatchOutcome> {
  const stopOnError = options.stopOnError === true;
  const recorder = ctx.recorder;
  const standaloneWrites = ops.filter((p) => p.op.group === undefined && isWrite(p)).length;
  if (options.order === 'graph') {
    // Each lane of the graph runner (a slot of its concurrency) opens a batch commit of its own.
    const graph = planGraph(ops);
    // Units committing side by side on separate connections, or writes with no batch commit to
    // join: no one transaction can carry the recorder's row with the first effects.
    const sideBySide = (ctx.concurrency ?? 1) > 1 && graph.units.length > 1 && ops.some(isWrite);
    if (recorder && (sideBySide || (standaloneWrites > 0 && !ctx.transactions?.openBatchCommit))) await recordFirst(recorder);
    return runGraph(graph, ops.length, ctx, (writes) => ctx.transactions?.openBatchCommit?.({ standaloneWrites: writes, recorder }), stopOnError);
  }
  checkBackReferences(ops);
  const commit = ctx.transactions?.openBatchCommit?.({ standaloneWrites, recorder });
  // Standalone writes would each commit alone: the recorder's row goes first, before anything runs.
  if (recorder && standaloneWrites > 0 && !commit) await recordFirst(recorder);
  try {
    const outcome = await runUnits(planSequence(ops), ops.length, ctx, commit, stopOnError);
    await commit?.commit(outcome);
    return outcome;
  } catch (err) {
    await commit?.abort();
    throw err;
  }
}

/** The recorder's row on its own, outside any transaction, before the batch runs (a claim). */
async function recordFirst(recorder: CommitRecorder): Promise<void> {
  await recorder.write(undefined);
  recorder.committed();
}

async function runUnits(
  units: Unit[],
  count: number,
  ctx: ExecutionContext,
  commit: BatchCommit | undefined,
  stopOnError: boolean,
): Promise<BatchOutcome> {
  const results: OperationResult[] = new Array(count);
  // References (OData multipart's $<Content-ID>) resolve from the results of the operations before.
  const refs = units.some((unit) => members(unit).some((p) => p.op.references)) ? referenceRunner((p) => dispatchOne(p, ctx)) : undefined;
  const halt = (u: number): BatchOutcome => ({
    results: results.filter(Boolean).slice(0, lastIndex(units[u]!) + 1),
    halted: u < units.length - 1,
  });
  for (let u = 0; u < units.length; ) {
    const unit = units[u]!;
    if (unit.kind === 'group') {
      await commit?.commit(); // the group is all-or-none in a transaction of its own
      const failed = await runGroup(unit.members, ctx, results, refs?.run);
      if (failed) refs?.settle(unit.members, results);
      if (failed && stopOnError) return halt(u);
      u++;
      continue;
    }
    const singles = snapshotRun(units, u, ctx);
    const run = async (): Promise<number> => {
      for (let k = 0; k < singles.length; k++) {
        if ((await runSingle(singles[k]!, ctx, results, commit, refs?.run)) && stopOnError) return k;
      }
      return -1;
    };
    // Read ahead only outside an open batch transaction: it reads what other connections see.
    const stoppedAt = singles.length > 1 && ctx.readAhead && !commit?.open ? await ctx.readAhead(singles.map((p) => apiRequest(p, ctx.principal)), run) : await run();
    if (stoppedAt >= 0) return halt(u + stoppedAt);
    u += singles.length;
  }
  return { results, halted: false };
}

/**
 * The standalone operation at `units[u]`, with the standalone operations
 * that directly follow it, when the store reads ahead and each of them is a
 * read or a write that the read-ahead covers (ReadAhead.fetchesForWrite): a
 * run that shares one snapshot. Anything else ends it: a group, a write
 * that is not of one named record (a create, a route outside the resource
 * API), a write with a reference or a token of its own.
 */
function snapshotRun(units: Unit[], u: number, ctx: ExecutionContext): PreparedOperation[] {
  const first = (units[u] as Extract<Unit, { kind: 'single' }>).op;
  const readAhead = ctx.readAhead;
  if (!readAhead || !inSnapshot(first, ctx.principal, readAhead)) return [first];
  const run = [first];
  for (let v = u + 1; v < units.length; v++) {
    const next = units[v]!;
    if (next.kind !== 'single' || !inSnapshot(next.op, ctx.principal, readAhead)) break;
    run.push(next.op);
  }
  return run;
}

function inSnapshot(p: PreparedOperation, principal: Principal, readAhead: ReadAhead): boolean {
  // A path reference names its record only once resolved; a token of its own reads as another principal.
  if (p.target.token !== undefined || p.resolvePath !== undefined) return false;
  if (!isWrite(p)) return true;
  return !p.op.references && readAhead.fetchesForWrite?.(apiRequest(p, principal)) === true;
}

function lastIndex(unit: Unit): number {
  return unit.kind === 'single' ? unit.op.op.index : unit.members[unit.members.length - 1]!.op.index;
}

/** Runs a standalone operation (in the batch commit when there is one); true when it failed. */
export async function runSingle(
  op: PreparedOperation,
  ctx: ExecutionContext,
  results: OperationResult[],
  commit?: BatchCommit,
  run: OperationRunner = (p) => dispatchOne(p, ctx),
): Promise<boolean> {
  await yieldIfBusy();
  let result: OperationResult;
  const refusal = ctx.refused?.get(op.op.index);
  if (Date.now() >= ctx.deadline) result = deadlineResult(op);
  else if (refusal) result = { ...problemResult(op, refusal), ran: false };
  else if (commit) result = await commit.run(isWrite(op), () => run(op), (r) => r.status >= 400);
  else result = await run(op);
  results[op.op.index] = result;
  return result.status >= 400;
}

function isWrite(p: PreparedOperation): boolean {
  return p.op.method !== 'GET' && p.op.method !== 'HEAD';
}

/** Runs a group in one store transaction, all or nothing; true when it failed. */
export async function runGroup(
  members: PreparedOperation[],
  ctx: ExecutionContext,
  results: OperationResult[],
  run: OperationRunner = (p) => dispatchOne(p, ctx),
): Promise<boolean> {
  if (!ctx.transactions) {
    const error = new ApiError(400, 'bad_request', 'Transaction groups need a store that supports transactions.');
    members.forEach((m, i) => (results[m.op.index] = i === 0 ? problemResult(m, error) : rolledBack(m)));
    return true;
  }
  let done: OperationResult[] = [];
  // The first transaction of the batch to commit carries the recorder's row; a group that is the
  // whole batch hands it the whole outcome.
  const recorder = ctx.recorder && !ctx.recorder.recorded ? ctx.recorder : undefined;
  const whole = results.length === members.length;
  let wrote = false;
  try {
    await ctx.transactions.transaction(async () => {
      done = []; // the store may re-run this function from the start (a deadlock was broken)
      wrote = false;
      await ctx.lockAhead?.(members.filter(isWrite).map((m) => apiRequest(m, ctx.principal)));
      for (const m of members) {
        await yieldIfBusy();
        const result = Date.now() >= ctx.deadline ? deadlineResult(m) : await run(m);
        if (result.status >= 400) throw new GroupFailure(result);
        done.push(result);
      }
      if (recorder && !recorder.recorded) {
        await recorder.write(whole ? { results: [...done], halted: false } : undefined).catch((e: unknown) => Promise.reject(new RecordRefused(e)));
        wrote = true;
      }
    });
  } catch (err) {
    if (err instanceof RecordRefused) throw err.cause;
    if (err instanceof GroupFailure) {
      // The failing member keeps its own answer; every other member reports the rollback.
      for (const m of members) results[m.op.index] = m.op.index === err.result.index ? err.result : rolledBack(m);
    } else {
      // The transaction itself failed (BEGIN or COMMIT, a lost connection, a conflict that
      // kept coming back): no member's effect was kept.
      const error = toApiError(err);
      if (!(err instanceof ApiError)) ctx.onUnexpectedError?.(err);
      for (const m of members) results[m.op.index] = { ...problemResult(m, error), ran: false };
    }
    return true;
  }
  if (wrote) recorder!.committed();
  for (const r of done) results[r.index] = r;
  return false;
}

export function apiRequest(p: PreparedOperation, principal: Principal): ApiRequest {
  return { method: p.op.method, path: p.target.path, query: p.target.query, headers: p.headers, body: p.op.body, principal };
}

export function dispatchOne(p: PreparedOperation, ctx: ExecutionContext): Promise<OperationResult> {
  const refusal = ctx.refused?.get(p.op.index);
  if (refusal) return Promise.resolve({ ...problemResult(p, refusal), ran: false });
  return withLogFields({ index: p.op.index, ...(p.op.id !== undefined ? { opId: p.op.id } : {}) }, () => dispatchAs(p, ctx));
}

async function dispatchAs(p: PreparedOperation, ctx: ExecutionContext): Promise<OperationResult> {
  let principal = ctx.principal;
  if (p.target.token !== undefined && ctx.authenticateOperation) {
    const other = await ctx.authenticateOperation(p.target.token);
    if (!other) return problemResult(p, new ApiError(401, 'unauthorized', 'The operation token is not valid.'));
    principal = other;
  }
  let res: ApiResponse;
  try {
    if (p.op.ifNoneExist !== undefined) {
      const existing = await existingRecord(p, principal, ctx.dispatch);
      if (existing) return existing;
    }
    res = await ctx.dispatch(apiRequest(p, principal));
  } catch (err) {
    if (!(err instanceof ApiError)) ctx.onUnexpectedError?.(err);
    return problemResult(p, toApiError(err));
  }
  return { index: p.op.index, id: p.op.id, status: res.status, headers: res.headers, body: res.body, text: res.text, ran: true };
}

export function problemResult(p: PreparedOperation, err: ApiError): OperationResult {
  return {
    index: p.op.index,
    id: p.op.id,
    status: err.status,
    headers: problemHeaders(err),
    body: err.toProblem(),
    ran: err.status !== 504,
  };
}

function deadlineResult(p: PreparedOperation): OperationResult {
  return {
    ...problemResult(p, new ApiError(504, 'deadline_exceeded', 'The batch deadline passed before this operation started.')),
    ran: false,
  };
}

function rolledBack(p: PreparedOperation): OperationResult {
  return {
    index: p.op.index,
    id: p.op.id,
    status: 424,
    headers: { 'content-type': PROBLEM_CONTENT_TYPE },
    body: problem(424, 'transaction_rolled_back', 'Another operation of this transaction failed, so none of its effects were kept.'),
    ran: false,
  };
}
