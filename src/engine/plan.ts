import { ApiError } from '../errors.js';
import type { PreparedOperation } from './validate.js';

/** A unit of a plan: one operation, or a transaction group that runs as one (SPEC 4.5). */
export type Unit = { kind: 'single'; op: PreparedOperation } | { kind: 'group'; key: string; members: PreparedOperation[] };

/**
 * A batch as a dependency graph of units. `after[u]` lists the units that
 * must finish before unit `u` starts, `dependents[u]` the units that wait
 * for it; both hold unit indices, and units stand in request order (a group
 * where its first member stands).
 */
export interface GraphPlan {
  units: Unit[];
  after: (readonly number[])[];
  dependents: number[][];
}

/**
 * The units of a batch that runs in request order: each operation where it
 * stands, each group at its first member's position with all its members
 * (seed 002 lets a group's members stand apart).
 */
export function planSequence(ops: PreparedOperation[]): Unit[] {
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
 * Plans a batch as a dependency graph and checks it before anything runs;
 * every violation is 400 `invalid_dependency`:
 * - `dependsOn` names an operation id or a group, which must stand earlier
 *   in the batch (all of a group's members before the dependent), so an
 *   unknown, forward or cyclic dependency is refused;
 * - the members of a group stand next to each other;
 * - an operation that refers to another's result (`references`) depends on
 *   it, directly or transitively.
 * Because every edge points back in request order, the graph has no cycle.
 */
export function planGraph(ops: PreparedOperation[]): GraphPlan {
  const byId = new Map<string, number>();
  for (const p of ops) if (p.op.id !== undefined) byId.set(p.op.id, p.op.index);
  const groups = groupRanges(ops);
  for (const name of groups.keys()) {
    if (byId.has(name)) throw invalid(`The name ${JSON.stringify(name)} is both an operation id and a group, so a dependency on it is ambiguous.`);
  }

  // Direct dependencies of each operation, as operation indices.
  const direct: (readonly number[])[] = ops.map((p) => {
    if (p.op.dependsOn === undefined || p.op.dependsOn.length === 0) return NONE;
    const deps = new Set<number>();
    for (const name of p.op.dependsOn ?? []) {
      const index = byId.get(name);
      const group = groups.get(name);
      if (index === undefined && group === undefined) {
        throw invalid(`${label(p)} depends on ${JSON.stringify(name)}, which is no operation id or group of this batch.`);
      }
      const last = index ?? group!.last;
      if (last >= p.op.index) {
        throw invalid(`${label(p)} depends on ${JSON.stringify(name)}, which does not stand before it (a forward or cyclic dependency).`);
      }
      if (index !== undefined) deps.add(index);
      else for (let i = group!.first; i <= group!.last; i++) deps.add(i);
    }
    return [...deps];
  });

  for (const p of ops) {
    if (!p.op.references) continue;
    for (const id of referencedIds(p)) {
      const index = byId.get(id);
      if (index === undefined) throw invalid(`${label(p)} refers to $${id}, which is no operation of this batch.`);
      if (!dependsOn(direct, p.op.index, index)) {
        throw invalid(`${label(p)} refers to $${id} but does not depend on it; add ${JSON.stringify(id)} to its dependsOn.`);
      }
    }
  }

  const units: Unit[] = [];
  const unitOf: number[] = new Array(ops.length);
  for (const p of ops) {
    const key = p.op.group;
    const previous = units[units.length - 1];
    if (key !== undefined && previous?.kind === 'group' && previous.key === key) {
      previous.members.push(p);
    } else {
      units.push(key === undefined ? { kind: 'single', op: p } : { kind: 'group', key, members: [p] });
    }
    unitOf[p.op.index] = units.length - 1;
  }
  const after = units.map((unit, u) => {
    if (unit.kind === 'single' && direct[unit.op.op.index]!.length === 0) return NONE;
    const deps = new Set<number>();
    for (const p of members(units[u]!)) for (const d of direct[p.op.index]!) if (unitOf[d] !== u) deps.add(unitOf[d]!);
    return [...deps].sort((a, b) => a - b);
  });
  const dependents: number[][] = units.map(() => []);
  after.forEach((deps, u) => deps.forEach((d) => dependents[d]!.push(u)));
  return { units, after, dependents };
}

/** No dependencies: shared, as most operations of a batch have none (never written to). */
const NONE: readonly number[] = Object.freeze([]) as readonly number[];

/** Whether operation `from` depends on operation `to`, directly or transitively (searched only for references). */
function dependsOn(direct: (readonly number[])[], from: number, to: number): boolean {
  const seen = new Set<number>();
  const stack = [from];
  while (stack.length > 0) {
    for (const d of direct[stack.pop()!]!) {
      if (d === to) return true;
      // Dependencies stand earlier, so nothing before `to` can lead to it.
      if (d > to && !seen.has(d)) {
        seen.add(d);
        stack.push(d);
      }
    }
  }
  return false;
}

export function members(unit: Unit): PreparedOperation[] {
  return unit.kind === 'single' ? [unit.op] : unit.members;
}

/** First and last index of each group; members that do not stand together are refused. */
function groupRanges(ops: PreparedOperation[]): Map<string, { first: number; last: number }> {
  const ranges = new Map<string, { first: number; last: number }>();
  for (const p of ops) {
    const key = p.op.group;
    if (key === undefined) continue;
    const range = ranges.get(key);
    if (!range) ranges.set(key, { first: p.op.index, last: p.op.index });
    else if (range.last === p.op.index - 1) range.last = p.op.index;
    else throw invalid(`The members of group ${JSON.stringify(key)} must stand next to each other; ${label(p)} is apart from them.`);
  }
  return ranges;
}

/** The operation ids whose results this operation's path, URL, headers or body stand for. */
export function referencedIds(p: PreparedOperation): string[] {
  const refs = p.op.references;
  if (!refs) return [];
  const ids = refs.path ? [refs.path.id] : [];
  if (refs.etags) ids.push(...Object.values(refs.etags));
  for (const ref of refs.body ?? []) for (const part of ref.parts) if (typeof part !== 'string') ids.push(part.id);
  for (const part of refs.url ?? []) if (typeof part !== 'string') ids.push(part.id);
  return ids;
}

function label(p: PreparedOperation): string {
  return p.op.id !== undefined ? `Request ${JSON.stringify(p.op.id)}` : `Operation ${p.op.index}`;
}

function invalid(detail: string): ApiError {
  return new ApiError(400, 'invalid_dependency', detail);
}
