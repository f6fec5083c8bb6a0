import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import type { ApiRequest, ApiResponse } from '../api/types.js';
import type { Principal } from '../auth/principal.js';
import { executeBatch } from './execute.js';
import type { BatchCommit, ExecutionContext, Operation, ReadAhead, TransactionRunner } from './types.js';
import { validateBatch } from './validate.js';

const principal: Principal = { subject: 's', tenant: 't', scopes: new Set(['read', 'write']) };
type Spec = Partial<Operation> & { id: string };

function prepare(specs: Spec[]) {
  const operations: Operation[] = specs.map((s, index) => ({ index, method: 'GET', path: `/v1/x/${s.id}`, headers: {}, body: { kind: 'none' }, ...s }));
  return validateBatch({ operations, order: 'graph' }, { maxOperations: 100, batchPaths: new Set() });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A dispatcher that records what it was asked, how many requests were in flight, and whether a transaction was open. */
function recorder(answer: (req: ApiRequest) => ApiResponse = () => ({ status: 200, headers: { etag: '"e"' }, body: {} }), delay = 5) {
  const tx = new AsyncLocalStorage<string>();
  const seen: Array<{ path: string; headers: ReadonlyMap<string, string>; tx?: string }> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const transactions: TransactionRunner = {
    transaction: (fn) => tx.run(`tx${Math.random()}`, fn),
  };
  const ctx = (extra: Partial<ExecutionContext> = {}): ExecutionContext => ({
    principal,
    deadline: Date.now() + 10_000,
    transactions,
    dispatch: async (req) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      seen.push({ path: req.path, headers: req.headers, tx: tx.getStore() });
      await sleep(delay);
      inFlight--;
      return answer(req);
    },
    ...extra,
  });
  return { ctx, seen, max: () => maxInFlight };
}

describe('running a dependency graph', () => {
  it('runs independent operations concurrently, never more than the concurrency at a time', async () => {
    const r = recorder();
    const ops = prepare(Array.from({ length: 20 }, (_, i) => ({ id: `o${i}` })));
    const outcome = await executeBatch(ops, r.ctx({ concurrency: 4 }), { order: 'graph' });
    expect(outcome.results.map((x) => x.status)).toEqual(ops.map(() => 200));
    expect(r.max()).toBe(4);
  });

  it('with concurrency 1, runs exactly in request order', async () => {
    const r = recorder();
    const ops = prepare([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }, { id: 'c' }, { id: 'd', dependsOn: ['b'] }, { id: 'e' }]);
    await executeBatch(ops, r.ctx({ concurrency: 1 }), { order: 'graph' });
    expect(r.seen.map((s) => s.path)).toEqual(['/v1/x/a', '/v1/x/b', '/v1/x/c', '/v1/x/d', '/v1/x/e']);
    expect(r.max()).toBe(1);
  });

  it('starts a dependent only after its dependency finished, while independent work goes on', async () => {
    const done: string[] = [];
    const r = recorder();
    const ctx = r.ctx({ concurrency: 8 });
    ctx.dispatch = async (req) => {
      await sleep(req.path.endsWith('/slow') ? 30 : 1);
      done.push(req.path);
      return { status: 200, headers: {}, body: {} };
    };
    await executeBatch(prepare([{ id: 'slow' }, { id: 'fast' }, { id: 'after', dependsOn: ['slow'] }]), ctx, { order: 'graph' });
    expect(done).toEqual(['/v1/x/fast', '/v1/x/slow', '/v1/x/after']);
  });

  it('answers 424 failed_dependency, transitively, for dependents of a failure, and runs the rest', async () => {
    const r = recorder((req) => (req.path.endsWith('/a') ? { status: 404, headers: {}, body: {} } : { status: 200, headers: {}, body: {} }));
    const ops = prepare([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }, { id: 'c', dependsOn: ['b'] }, { id: 'd' }]);
    const outcome = await executeBatch(ops, r.ctx({ concurrency: 8 }), { order: 'graph' });
    expect(outcome.results.map((x) => [x.id, x.status, x.ran])).toEqual([
      ['a', 404, true],
      ['b', 424, false],
      ['c', 424, false],
      ['d', 200, true],
    ]);
    expect((outcome.results[1]!.body as { code: string }).code).toBe('failed_dependency');
    expect(r.seen.map((s) => s.path).sort()).toEqual(['/v1/x/a', '/v1/x/d']);
  });

  it('with stopOnError, starts nothing after the first failure and leaves what never started out', async () => {
    const r = recorder((req) => (req.path.endsWith('/b') ? { status: 500, headers: {}, body: {} } : { status: 200, headers: {}, body: {} }));
    const ops = prepare([{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd', dependsOn: ['a'] }]);
    const outcome = await executeBatch(ops, r.ctx({ concurrency: 1 }), { order: 'graph', stopOnError: true });
    expect(outcome.results.map((x) => x.id)).toEqual(['a', 'b']);
    expect(outcome.halted).toBe(true);
  });

  it("never lets another unit's operation run inside a group's transaction", async () => {
    const r = recorder(undefined, 3);
    const ops = prepare([
      { id: 's1' },
      { id: 'g1', group: 'g', method: 'PUT' },
      { id: 'g2', group: 'g', method: 'PUT' },
      { id: 'g3', group: 'g', method: 'PUT' },
      { id: 's2' },
      { id: 's3' },
      { id: 's4' },
    ]);
    const outcome = await executeBatch(ops, r.ctx({ concurrency: 8 }), { order: 'graph' });
    expect(outcome.results.every((x) => x.status === 200)).toBe(true);
    const members = r.seen.filter((s) => /\/g\d$/.test(s.path));
    const others = r.seen.filter((s) => /\/s\d$/.test(s.path));
    expect(new Set(members.map((m) => m.tx)).size).toBe(1);
    expect(members[0]!.tx).toBeDefined();
    expect(others.every((o) => o.tx === undefined)).toBe(true);
    expect(r.max()).toBeGreaterThan(1); // the singles did run beside the group
  });

  it('resolves references from earlier results, inside a group too', async () => {
    const r = recorder((req): ApiResponse =>
      req.method === 'POST' ? { status: 201, headers: { location: '/v1/x/k1', etag: '"e1"' }, body: {} } : { status: 200, headers: { etag: '"e2"' }, body: {} },
    );
    const ops = prepare([
      { id: 'a', method: 'POST', path: '/v1/x', group: 'g' },
      { id: 'b', method: 'PATCH', path: '$a', group: 'g', dependsOn: ['a'], headers: { 'if-match': '$a' }, references: { path: { id: 'a', rest: '' }, etags: { 'if-match': 'a' } } },
      { id: 'c', path: '$b/sub', dependsOn: ['b'], references: { path: { id: 'b', rest: '/sub' } } },
    ]);
    const outcome = await executeBatch(ops, r.ctx({ concurrency: 8 }), { order: 'graph' });
    expect(outcome.results.map((x) => x.status)).toEqual([201, 200, 200]);
    expect(r.seen.map((s) => s.path)).toEqual(['/v1/x', '/v1/x/k1', '/v1/x/k1/sub']);
    expect(r.seen[1]!.headers.get('if-match')).toBe('"e1"');
  });

  /** A store whose batch commits log what happens to them; `pending` is what a lane did since its last commit. */
  function laneStore(log: string[]) {
    let lanes = 0;
    const store: TransactionRunner = {
      transaction: (fn) => fn(),
      openBatchCommit: () => {
        const lane = ++lanes;
        let pending: string[] = [];
        return {
          get open() {
            return pending.length > 0;
          },
          run: async <T>(write: boolean, fn: () => Promise<T>) => {
            log.push(`in lane ${lane}`);
            const result = await fn();
            if (write) pending.push('w');
            return result;
          },
          commit: async () => {
            if (pending.length) log.push(`commit lane ${lane} (${pending.length})`);
            pending = [];
          },
          abort: async () => {},
        } as unknown as BatchCommit;
      },
    };
    return { store, lanes: () => lanes };
  }

  it('with concurrency 1, runs every standalone operation in one batch commit, committed once', async () => {
    const log: string[] = [];
    const { store, lanes } = laneStore(log);
    const r = recorder();
    const ops = prepare([{ id: 'a', method: 'PUT' }, { id: 'b', method: 'PUT', dependsOn: ['a'] }, { id: 'c', method: 'PUT' }, { id: 'd' }]);
    await executeBatch(ops, r.ctx({ concurrency: 1, transactions: store }), { order: 'graph' });
    expect([lanes(), log.filter((l) => l.startsWith('commit'))]).toEqual([1, ['commit lane 1 (3)']]);
    expect(log.filter((l) => l.startsWith('in lane'))).toEqual(['in lane 1', 'in lane 1', 'in lane 1', 'in lane 1']);
    expect(r.max()).toBe(1);
  });

  it('with several lanes, commits a lane before a dependent starts, and each lane once its work is done', async () => {
    const log: string[] = [];
    const { store, lanes } = laneStore(log);
    const r = recorder();
    const ctx = r.ctx({ concurrency: 4, transactions: store });
    const dispatch = ctx.dispatch;
    ctx.dispatch = (req) => (log.push(`run ${req.path}`), dispatch(req));
    const ops = prepare([...Array.from({ length: 8 }, (_, i) => ({ id: `w${i}`, method: 'PUT' })), { id: 'after', dependsOn: ['w0'] }]);
    await executeBatch(ops, ctx, { order: 'graph' });
    expect(lanes()).toBe(4);
    expect(r.max()).toBe(4);
    // Every write was committed, in no more commits than it took to let the dependent see w0.
    const committed = log.filter((l) => l.startsWith('commit')).map((l) => Number(/\((\d+)\)/.exec(l)![1]));
    expect(committed.reduce((x, y) => x + y, 0)).toBe(8);
    expect(committed.length).toBeLessThanOrEqual(5);
    const w0 = log.indexOf('run /v1/x/w0');
    const laneOfW0 = log[w0 - 1]!.replace('in lane ', '');
    const commitOfW0 = log.findIndex((l, i) => i > w0 && l.startsWith(`commit lane ${laneOfW0} `));
    expect(commitOfW0).toBeGreaterThan(w0);
    expect(log.indexOf('run /v1/x/after')).toBeGreaterThan(commitOfW0);
  });

  it('reads ahead what the first wave reads or writes, and runs only that wave inside the snapshot', async () => {
    const r = recorder();
    const snapshot = new AsyncLocalStorage<string>();
    const calls: string[][] = [];
    const readAhead: ReadAhead = (requests, run) => {
      calls.push(requests.map((q) => `${q.method} ${q.path}`));
      return snapshot.run('ahead', run);
    };
    const seenIn: Record<string, string | undefined> = {};
    const ctx = r.ctx({ concurrency: 8, readAhead });
    const dispatch = ctx.dispatch;
    ctx.dispatch = (req) => {
      seenIn[req.path] = snapshot.getStore();
      return dispatch(req);
    };
    const ops = prepare([{ id: 'a' }, { id: 'w', method: 'PUT' }, { id: 'p', method: 'POST', path: '/v1/x' }, { id: 'b' }, { id: 'c', dependsOn: ['w'] }]);
    const outcome = await executeBatch(ops, ctx, { order: 'graph' });
    expect(outcome.results.map((x) => x.status)).toEqual([200, 200, 200, 200, 200]);
    expect(calls).toEqual([['GET /v1/x/a', 'PUT /v1/x/w', 'GET /v1/x/b']]);
    expect(seenIn).toEqual({ '/v1/x/a': 'ahead', '/v1/x/w': 'ahead', '/v1/x': undefined, '/v1/x/b': 'ahead', '/v1/x/c': undefined });
  });

  it('refuses a bad dependency before anything runs', async () => {
    const r = recorder();
    await expect(executeBatch(prepare([{ id: 'a', dependsOn: ['b'] }, { id: 'b' }]), r.ctx(), { order: 'graph' })).rejects.toMatchObject({
      status: 400,
      code: 'invalid_dependency',
    });
    expect(r.seen).toEqual([]);
  });
});

describe('a request-order batch with a read-ahead', () => {
  /** A read-ahead that records what it was asked for and runs each run in a snapshot context of its own. */
  function snapshots(fetchesForWrite?: (req: ApiRequest) => boolean) {
    const snapshot = new AsyncLocalStorage<string>();
    const calls: string[][] = [];
    const fetch = <T>(requests: ApiRequest[], run: () => Promise<T>): Promise<T> => {
      calls.push(requests.map((q) => `${q.method} ${q.path}`));
      return snapshot.run(`run ${calls.length}`, run);
    };
    const readAhead: ReadAhead = fetchesForWrite ? Object.assign(fetch, { fetchesForWrite }) : fetch;
    return { readAhead, calls, current: () => snapshot.getStore() };
  }

  async function runWith(specs: Spec[], s: ReturnType<typeof snapshots>) {
    const r = recorder(() => ({ status: 200, headers: {}, body: {} }), 0);
    const seenIn: Record<string, string | undefined> = {};
    const ctx = r.ctx({ readAhead: s.readAhead });
    const dispatch = ctx.dispatch;
    ctx.dispatch = (req) => {
      seenIn[`${req.method} ${req.path}`] = s.current();
      return dispatch(req);
    };
    const outcome = await executeBatch(prepare(specs), ctx);
    expect(outcome.results.map((x) => x.status)).toEqual(specs.map(() => 200));
    return seenIn;
  }

  it('reads ahead runs of reads and of the writes the read-ahead covers; a create or a write it does not cover runs alone', async () => {
    const s = snapshots((req) => req.method !== 'POST' && req.path !== '/v1/x/uncovered');
    const seenIn = await runWith(
      [
        { id: 'a' },
        { id: 'b', method: 'PUT' },
        { id: 'c', method: 'DELETE' },
        { id: 'new', method: 'POST', path: '/v1/x' },
        { id: 'e' },
        { id: 'f', method: 'PATCH' },
        { id: 'uncovered', method: 'PUT' },
        { id: 'g' },
        { id: 'h' },
      ],
      s,
    );
    expect(s.calls).toEqual([
      ['GET /v1/x/a', 'PUT /v1/x/b', 'DELETE /v1/x/c'],
      ['GET /v1/x/e', 'PATCH /v1/x/f'],
      ['GET /v1/x/g', 'GET /v1/x/h'],
    ]);
    expect(seenIn).toEqual({
      'GET /v1/x/a': 'run 1',
      'PUT /v1/x/b': 'run 1',
      'DELETE /v1/x/c': 'run 1',
      'POST /v1/x': undefined,
      'GET /v1/x/e': 'run 2',
      'PATCH /v1/x/f': 'run 2',
      'PUT /v1/x/uncovered': undefined,
      'GET /v1/x/g': 'run 3',
      'GET /v1/x/h': 'run 3',
    });
  });

  it('without fetchesForWrite, a write ends the run of reads before it and runs outside any snapshot', async () => {
    const s = snapshots();
    const seenIn = await runWith([{ id: 'a' }, { id: 'b' }, { id: 'c', method: 'PUT' }, { id: 'd' }, { id: 'e' }], s);
    expect(s.calls).toEqual([
      ['GET /v1/x/a', 'GET /v1/x/b'],
      ['GET /v1/x/d', 'GET /v1/x/e'],
    ]);
    expect(seenIn['PUT /v1/x/c']).toBeUndefined();
  });
});
