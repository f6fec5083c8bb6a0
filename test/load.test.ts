import { describe, expect, it } from 'vitest';
import { loadBackend, violations } from '../bench/load/load.js';
import { enabledBackends } from './support/backends.js';

/**
 * The load run of `npm run load`, short: 2 s at 10 and at 50 clients of
 * mixed batches on shared ids, then 8 clients × 50 If-Match increments
 * through ops, requests groups and parts. Judged on everything but the
 * timing limits (those belong to `npm run load`, on a machine not also
 * running the rest of the suite).
 */
const enabled = await enabledBackends();

describe('load', () => {
  it.each(enabled.map((b) => b.name))(
    'on %s: mixed batches from 10 and 50 clients all answer 2xx with no failed operation, and 400 If-Match increments end at 400',
    async (backend) => {
      const r = await loadBackend(backend, { clients: [10, 50], seconds: 2, warmupSeconds: 1, counterClients: 8, counterIncrements: 50 });
      console.log(`load on ${backend}:`, JSON.stringify(r.levels.map((l) => ({ clients: l.clients, batches: l.batches, ops: l.operationsPerSecond, healthzP99: l.healthz.p99 }))));
      expect(violations(r, false)).toEqual([]);
      for (const l of r.levels) {
        expect(l.batches, `batches answered at ${l.clients} clients`).toBeGreaterThan(l.clients);
        // /healthz was asked throughout and always answered 200 (the probe fails otherwise).
        expect(l.healthz.count).toBeGreaterThan(10);
      }
      expect(r.counter.final).toBe(400);
      expect(r.counter.conflicts, 'the clients did race').toBeGreaterThan(0);
      expect(Object.values(r.counter.byForm).every((n) => n > 100)).toBe(true);
    },
    120_000,
  );
});
