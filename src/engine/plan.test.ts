import { describe, expect, it } from 'vitest';
import type { Operation } from './types.js';
import { planGraph, planSequence } from './plan.js';
import { ApiError } from '../errors.js';
import { checkBackReferences } from './references.js';
import { refusedOperationIndex, validateBatch } from './validate.js';

type Spec = Partial<Operation> & { id: string };

function prepare(specs: Spec[]) {
  const operations: Operation[] = specs.map((s, index) => ({ index, method: 'GET', path: `/v1/x/${s.id}`, headers: {}, body: { kind: 'none' }, ...s }));
  return validateBatch({ operations, order: 'graph' }, { maxOperations: 100, batchPaths: new Set() });
}

function refused(specs: Spec[]): string {
  try {
    planGraph(prepare(specs));
  } catch (err) {
    expect(err).toMatchObject({ status: 400, code: 'invalid_dependency' });
    return (err as Error).message;
  }
  throw new Error('the plan was accepted');
}

describe('planGraph', () => {
  it('makes independent operations independent units and dependsOn edges between them', () => {
    const plan = planGraph(prepare([{ id: 'a' }, { id: 'b' }, { id: 'c', dependsOn: ['a', 'b'] }, { id: 'd', dependsOn: ['c'] }]));
    expect(plan.units.map((u) => u.kind)).toEqual(['single', 'single', 'single', 'single']);
    expect(plan.after).toEqual([[], [], [0, 1], [2]]);
    expect(plan.dependents).toEqual([[2], [2], [3], []]);
  });

  it('makes adjacent members of a group one unit; a dependency on the group name waits for all of it', () => {
    const plan = planGraph(
      prepare([{ id: 'a' }, { id: 'g1', group: 'g', dependsOn: ['a'] }, { id: 'g2', group: 'g', dependsOn: ['g1'] }, { id: 'z', dependsOn: ['g'] }]),
    );
    expect(plan.units.map((u) => (u.kind === 'group' ? u.members.map((m) => m.op.id) : u.op.op.id))).toEqual(['a', ['g1', 'g2'], 'z']);
    expect(plan.after).toEqual([[], [0], [1]]);
  });

  it('refuses an unknown dependency', () => {
    expect(refused([{ id: 'a', dependsOn: ['nope'] }])).toContain('"nope"');
  });

  it('refuses a forward dependency, a self-dependency and a cycle', () => {
    expect(refused([{ id: 'a', dependsOn: ['b'] }, { id: 'b' }])).toContain('does not stand before it');
    expect(refused([{ id: 'a', dependsOn: ['a'] }])).toContain('does not stand before it');
    expect(refused([{ id: 'a', dependsOn: ['b'] }, { id: 'b', dependsOn: ['a'] }])).toContain('forward or cyclic');
  });

  it('refuses a dependency on the group the operation itself belongs to', () => {
    refused([{ id: 'a', group: 'g' }, { id: 'b', group: 'g', dependsOn: ['g'] }]);
  });

  it('refuses group members that do not stand next to each other', () => {
    expect(refused([{ id: 'a', group: 'g' }, { id: 'b' }, { id: 'c', group: 'g' }])).toContain('next to each other');
  });

  it('refuses a name that is both an id and a group', () => {
    refused([{ id: 'g' }, { id: 'b', group: 'g' }]);
  });

  it('accepts a reference covered by dependsOn, directly or transitively', () => {
    const plan = planGraph(
      prepare([
        { id: 'a', method: 'POST', path: '/v1/x' },
        { id: 'b', dependsOn: ['a'] },
        { id: 'c', dependsOn: ['b'], path: '$a', references: { path: { id: 'a', rest: '' }, etags: { 'if-match': 'b' } } },
      ]),
    );
    expect(plan.after[2]).toEqual([1]);
  });

  it('refuses a reference not covered by dependsOn, and one to no operation', () => {
    expect(refused([{ id: 'a' }, { id: 'b', path: '$a', references: { path: { id: 'a', rest: '' } } }])).toContain('does not depend on it');
    expect(refused([{ id: 'a' }, { id: 'b', dependsOn: ['a'], references: { etags: { 'if-match': 'zz' } } }])).toContain('$zz');
  });
});

describe('planSequence', () => {
  it('keeps request order and puts a group, members apart or not, where its first member stands', () => {
    const units = planSequence(prepare([{ id: 'a', group: 't' }, { id: 'b' }, { id: 'c', group: 't' }]));
    expect(units.map((u) => (u.kind === 'group' ? u.members.map((m) => m.op.id) : u.op.op.id))).toEqual([['a', 'c'], 'b']);
  });
});

describe('refusals and body references', () => {
  const op = (index: number, path: string, extra: Partial<Operation> = {}): Operation => ({ index, method: 'GET', path, headers: {}, body: { kind: 'none' }, ...extra });
  const limits = { maxOperations: 3, batchPaths: new Set(['/batch']) };
  const refusal = (ops: Operation[]): ApiError => {
    try {
      checkBackReferences(validateBatch({ operations: ops }, limits));
    } catch (err) {
      if (err instanceof ApiError) return err;
      throw err;
    }
    throw new Error('not refused');
  };

  it('validateBatch tells which operation it refused the batch for; a batch-wide refusal names none', () => {
    const nested = refusal([op(0, '/v1/a'), op(1, '/v1/b'), op(2, '/batch')]);
    expect([nested.code, refusedOperationIndex(nested)]).toEqual(['nested_batch', 2]);
    const dots = refusal([op(0, '/v1/a/..')]);
    expect([dots.code, refusedOperationIndex(dots)]).toEqual(['invalid_path', 0]);
    const many = refusal([op(0, '/a'), op(1, '/b'), op(2, '/c'), op(3, '/d')]);
    expect([many.code, refusedOperationIndex(many)]).toEqual(['batch_too_large', undefined]);
  });

  it('a body reference names an earlier operation, in request order and in a graph', () => {
    const json = { kind: 'json' as const, value: { x: null } };
    const to = (id: string) => ({ body: [{ at: ['x'], parts: [{ id, select: ['id'] }] }] });
    const later = refusal([op(0, '/v1/a', { id: 'a', method: 'POST', body: json, references: to('b') }), op(1, '/v1/b', { id: 'b' })]);
    expect(later.code).toBe('invalid_dependency');
    expect(refusal([op(0, '/v1/a', { id: 'a', method: 'POST', body: json, references: to('zz') })]).code).toBe('invalid_dependency');
    expect(refused([{ id: 'a' }, { id: 'b', method: 'POST', body: json, references: to('a') }])).toMatch(/does not depend on it/);
    expect(() => planGraph(prepare([{ id: 'a' }, { id: 'b', method: 'POST', body: json, references: to('a'), dependsOn: ['a'] }]))).not.toThrow();
  });
});
