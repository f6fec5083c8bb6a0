import type { Operation } from '../engine/types.js';
import type { ApiError } from '../errors.js';

/**
 * Which operations of a batch a grant of `granted` tokens covers: units in
 * request order (an operation, or a whole transaction group where its first
 * member stands) as long as the grant lasts. A group gets its budget whole or
 * not at all (a group of which one member could not run would fail anyway),
 * and once one unit is over the budget so is every unit after it. The
 * operations not covered answer `error` without running; `unused` tokens
 * (granted, but the next unit needed more) go back to the bucket.
 */
export function overBudget(operations: readonly Operation[], granted: number, error: () => ApiError): { refused: Map<number, ApiError>; unused: number } {
  const refused = new Map<number, ApiError>();
  if (granted >= operations.length) return { refused, unused: granted - operations.length };
  const groupSize = new Map<string, number>();
  for (const op of operations) if (op.group !== undefined) groupSize.set(op.group, (groupSize.get(op.group) ?? 0) + 1);
  const decided = new Map<string, boolean>();
  let left = granted;
  let over = false;
  let err: ApiError | undefined;
  for (const op of operations) {
    let covered: boolean;
    if (op.group !== undefined && decided.has(op.group)) {
      covered = decided.get(op.group)!;
    } else {
      const size = op.group === undefined ? 1 : groupSize.get(op.group)!;
      covered = !over && left >= size;
      if (covered) left -= size;
      else over = true;
      if (op.group !== undefined) decided.set(op.group, covered);
    }
    if (!covered) refused.set(op.index, (err ??= error()));
  }
  return { refused, unused: left };
}
