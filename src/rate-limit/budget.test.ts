import { describe, expect, it } from 'vitest';
import type { Operation } from '../engine/types.js';
import { ApiError } from '../errors.js';
import { overBudget } from './budget.js';
import { MemoryBuckets } from './memory-buckets.js';
import { formatRateLimit, parseRateLimit } from './parse.js';

const op = (index: number, group?: string): Operation => ({ index, method: 'GET', path: '/v1/x', headers: {}, body: { kind: 'none' }, group });
const err = () => new ApiError(429, 'rate_limited', 'over');

describe('overBudget', () => {
  it('covers units in request order while the grant lasts; everything after the first uncovered unit is over', () => {
    const ops = [op(0), op(1), op(2), op(3)];
    expect([...overBudget(ops, 4, err).refused.keys()]).toEqual([]);
    expect([...overBudget(ops, 2, err).refused.keys()]).toEqual([2, 3]);
    expect(overBudget(ops, 0, err).refused.size).toBe(4);
    expect(overBudget(ops, 6, err).unused).toBe(2);
  });

  it('gives a group its budget whole or not at all, at its first member, and returns what it could not use', () => {
    // seed 002 lets members stand apart: the group t is ops 1 and 3
    const ops = [op(0), op(1, 't'), op(2), op(3, 't'), op(4)];
    const two = overBudget(ops, 2, err);
    expect([...two.refused.keys()]).toEqual([1, 2, 3, 4]);
    expect(two.unused).toBe(1);
    const three = overBudget(ops, 3, err);
    expect([...three.refused.keys()]).toEqual([2, 4]);
    expect(three.unused).toBe(0);
    expect([...overBudget(ops, 4, err).refused.keys()]).toEqual([4]);
  });
});

describe('MemoryBuckets', () => {
  it('starts full, grants whole tokens up to the level, refills over time and never above the capacity', async () => {
    let now = 0;
    const buckets = new MemoryBuckets(() => now);
    expect(await buckets.take('k', 3, 5, 1)).toEqual({ granted: 3, level: 2 });
    expect(await buckets.take('k', 3, 5, 1)).toEqual({ granted: 2, level: 0 });
    now = 1500;
    expect(await buckets.take('k', 3, 5, 1)).toMatchObject({ granted: 1 });
    now = 1_000_000;
    expect(await buckets.take('k', 10, 5, 1)).toEqual({ granted: 5, level: 0 });
    await buckets.give('k', 2, 5);
    expect(await buckets.take('k', 10, 5, 1)).toEqual({ granted: 2, level: 0 });
    expect(await buckets.sweep(0)).toBe(1);
  });
});

describe('parseRateLimit', () => {
  it('reads N/Ws, N/Wm, N/Wh and N/s', () => {
    expect(parseRateLimit('600/60s')).toEqual({ limit: 600, windowS: 60 });
    expect(parseRateLimit(' 600 / 1m ')).toEqual({ limit: 600, windowS: 60 });
    expect(parseRateLimit('10/s')).toEqual({ limit: 10, windowS: 1 });
    expect(parseRateLimit('5000/1h')).toEqual({ limit: 5000, windowS: 3600 });
    expect(parseRateLimit('10/500ms')).toEqual({ limit: 10, windowS: 0.5 });
    for (const bad of ['', '600', '600/60', '0/60s', '600/0s', '-1/60s', 'x/60s', '600/60 s s']) expect(parseRateLimit(bad), bad).toBeUndefined();
    expect(formatRateLimit({ limit: 600, windowS: 60 })).toBe('600/60s');
  });
});
