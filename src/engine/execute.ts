import type { ApiResponse } from '../api/types.js';
import { ApiError, problem, PROBLEM_CONTENT_TYPE, toApiError } from '../errors.js';
import type { PreparedOperation } from './validate.js';
import type { BatchOutcome, ExecutionContext, OperationResult } from './types.js';

/** A unit of the plan: one operation, or a transaction group run at its first member's position. */
type Unit = { kind: 'single'; op: PreparedOperation } | { kind: 'group'; key: string; members: PreparedOperation[] };

/** Thrown inside a group's transaction to roll it back; carries the failing member's result. */
class GroupFailure extends Error {
  constructor(readonly result: OperationResult) {
    super('transaction group failed');
  }
}

/** Orders operations into units: request order, each group where its first member stands. */
export function plan(ops: PreparedOperation[]): Unit[] {
  const units: Unit[] = [];
  const groups = new Map<string, Extract<Unit, { kind: 'group' }>>();
  for (const op of ops) {
    const key = op.op.group;
    if (key === undefined) {
      units.push({ kind: 'single', op });
      continue;
    }
    let unit = groups.get(key);
    if (!unit) {
      unit = { kind: 'group', key, members: [] };
      groups.set(key, unit);
      units.push(unit);
    }
    unit.members.push(op);
  }
  return units;
}

/**
 * Runs a validated batch: units in order, one at a time; groups inside one
 * store transaction, rolled back when a member ends >= 400 or throws; with
 * `stopOnError`, nothing after the first failure runs.
 */
export async function executeBatch(
  ops: PreparedOperation[],
  ctx: ExecutionContext,
  options: { stopOnError?: boolean } = {},
): Promise<BatchOutcome> {
  const results: OperationResult[] = new Array(ops.length);
  const units = plan(ops);
  let halted = false;
  for (let u = 0; u < units.length; u++) {
    const unit = units[u]!;
    const failed = unit.kind === 'single' ? await runSingle(unit.op, ctx, results) : await runGroup(unit.members, ctx, results);
    if (failed && options.stopOnError) {
      halted = u < units.length - 1;
      return { results: results.filter(Boolean).slice(0, lastIndex(unit) + 1), halted };
    }
  }
  return { results, halted };
}

function lastIndex(unit: Unit): number {
  return unit.kind === 'single' ? unit.op.op.index : unit.members[unit.members.length - 1]!.op.index;
}

async function runSingle(op: PreparedOperation, ctx: ExecutionContext, results: OperationResult[]): Promise<boolean> {
  const result = Date.now() >= ctx.deadline ? deadlineResult(op) : await dispatchOne(op, ctx);
  results[op.op.index] = result;
  return result.status >= 400;
}

async function runGroup(members: PreparedOperation[], ctx: ExecutionContext, results: OperationResult[]): Promise<boolean> {
  if (!ctx.transactions) {
    const error = new ApiError(400, 'bad_request', 'Transaction groups need a store that supports transactions.');
    members.forEach((m, i) => (results[m.op.index] = i === 0 ? problemResult(m, error) : rolledBack(m)));
    return true;
  }
  const done: OperationResult[] = [];
  try {
    await ctx.transactions.transaction(async () => {
      for (const m of members) {
        const result = Date.now() >= ctx.deadline ? deadlineResult(m) : await dispatchOne(m, ctx);
        if (result.status >= 400) throw new GroupFailure(result);
        done.push(result);
      }
    });
  } catch (err) {
    if (err instanceof GroupFailure) {
      // The failing member keeps its own answer; every other member reports the rollback.
      for (const m of members) results[m.op.index] = m.op.index === err.result.index ? err.result : rolledBack(m);
    } else {
      // The transaction itself failed (BEGIN or COMMIT, a lost connection): no member's effect was kept.
      const error = toApiError(err);
      for (const m of members) results[m.op.index] = { ...problemResult(m, error), ran: false };
    }
    return true;
  }
  for (const r of done) results[r.index] = r;
  return false;
}

async function dispatchOne(p: PreparedOperation, ctx: ExecutionContext): Promise<OperationResult> {
  let principal = ctx.principal;
  if (p.target.token !== undefined && ctx.authenticateOperation) {
    const other = await ctx.authenticateOperation(p.target.token);
    if (!other) return problemResult(p, new ApiError(401, 'unauthorized', 'The operation token is not valid.'));
    principal = other;
  }
  let res: ApiResponse;
  try {
    res = await ctx.dispatch({
      method: p.op.method,
      path: p.target.path,
      query: p.target.query,
      headers: p.headers,
      body: p.op.body,
      principal,
    });
  } catch (err) {
    return problemResult(p, toApiError(err));
  }
  return { index: p.op.index, id: p.op.id, status: res.status, headers: res.headers, body: res.body, text: res.text, ran: true };
}

function problemResult(p: PreparedOperation, err: ApiError): OperationResult {
  return {
    index: p.op.index,
    id: p.op.id,
    status: err.status,
    headers: { 'content-type': PROBLEM_CONTENT_TYPE },
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
