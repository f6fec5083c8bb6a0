import { describe, expect, it } from 'vitest';
import type { Operation } from './types.js';
import { planGraph, planSequence } from './plan.js';
import { validateBatch } from './validate.js';

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
