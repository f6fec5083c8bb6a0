import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../src/auth/principal.js';
import { omnibus } from '../src/index.js';
import { describeEachBackend, startTestServer, type TestServer } from './support/server.js';

const alice: Principal = { subject: 'alice', tenant: 't1', scopes: new Set(['read', 'write']) };
const closers: Array<() => void> = [];
afterEach(() => closers.splice(0).forEach((c) => c()));

/** A user's app whose `/slow/:n` route takes 80 ms and counts how many requests it serves at once. */
async function slowApp(batchConcurrency?: number) {
  const app = new Hono();
  let now = 0;
  let most = 0;
  app.get('/slow/:n', async (c) => {
    now++;
    most = Math.max(most, now);
    await new Promise((r) => setTimeout(r, 80));
    now--;
    return c.json({ n: c.req.param('n') }, 200, { etag: `"${c.req.param('n')}"` });
  });
  app.route('/', omnibus({ fetch: (req, env) => app.fetch(req, env), authenticate: (t) => (t === 'alice' ? alice : undefined), batchConcurrency }));
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  closers.push(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const batch = async (requests: unknown[]) => {
    const started = performance.now();
    const res = await fetch(`${url}/v1/$batch`, {
      method: 'POST',
      headers: { authorization: 'Bearer alice', 'content-type': 'application/json' },
      body: JSON.stringify({ requests }),
    });
    return { status: res.status, json: (await res.json()) as any, ms: performance.now() - started, most: () => most };
  };
  return { batch };
}

const independent = (k: number) => Array.from({ length: k }, (_, i) => ({ id: String(i), method: 'GET', url: `/slow/${i}` }));

describe('odata-json concurrency (OMNIBUS_BATCH_CONCURRENCY)', () => {
  it('runs independent requests concurrently, 8 at a time by default, and answers in request order', async () => {
    const { batch } = await slowApp();
    const r = await batch(independent(16));
    expect(r.status).toBe(200);
    expect(r.json.responses.map((x: any) => [x.id, x.status, x.body.n])).toEqual(independent(16).map((q) => [q.id, 200, q.id]));
    expect(r.most()).toBe(8);
    expect(r.ms).toBeLessThan(16 * 80); // two waves of 80 ms; one by one could not take less than sixteen
  });

  it('never runs more than the configured concurrency at once', async () => {
    const { batch } = await slowApp(3);
    const r = await batch(independent(7));
    expect(r.json.responses.every((x: any) => x.status === 200)).toBe(true);
    expect(r.most()).toBe(3);
  });

  it('runs requests one by one with concurrency 1, and a dependsOn chain one by one whatever the concurrency', async () => {
    const one = await slowApp(1);
    const r1 = await one.batch(independent(4));
    expect(r1.most()).toBe(1);
    expect(r1.ms).toBeGreaterThanOrEqual(4 * 80 - 5);
    const eight = await slowApp(8);
    const chain = independent(4).map((q, i) => (i === 0 ? q : { ...q, dependsOn: [String(i - 1)] }));
    const r2 = await eight.batch(chain);
    expect(r2.json.responses.map((x: any) => x.status)).toEqual([200, 200, 200, 200]);
    expect(r2.most()).toBe(1);
  });
});

describeEachBackend('odata-json concurrency next to a transaction', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ batchConcurrency: 8 });
  });
  afterAll(() => s.close());

  it("no concurrent request sees a group's uncommitted writes, and the group's failure undoes all of them", async () => {
    const members = Array.from({ length: 6 }, (_, i) => ({ id: `w${i}`, method: 'PUT', url: `/v1/iso/r${i}`, body: { i }, atomicityGroup: 'g' }));
    const readers = Array.from({ length: 12 }, (_, i) => ({ id: `r${i}`, method: 'GET', url: `/v1/iso/r${i % 6}` }));
    const r = await s.call('POST', '/v1/$batch', {
      json: { requests: [...members, { id: 'fail', method: 'DELETE', url: '/v1/iso/missing', atomicityGroup: 'g' }, ...readers] },
    });
    expect(r.status).toBe(200);
    const status = (id: string) => r.json.responses.find((x: any) => x.id === id).status;
    expect(status('fail')).toBe(404);
    for (const m of members) expect(status(m.id)).toBe(424);
    for (const q of readers) expect(status(q.id)).toBe(404);
    expect((await s.call('GET', '/v1/iso?$top=100')).json.items).toEqual([]);
  });

  it('many independent writes and a group in one batch all land exactly once', async () => {
    const singles = Array.from({ length: 30 }, (_, i) => ({ id: `s${i}`, method: 'PUT', url: `/v1/many/s${i}`, body: { i } }));
    const group = Array.from({ length: 5 }, (_, i) => ({ id: `g${i}`, method: 'POST', url: '/v1/many', body: { g: i }, atomicityGroup: 'grp' }));
    const after = { id: 'count', method: 'GET', url: '/v1/many?$top=100', dependsOn: ['grp', ...singles.map((q) => q.id)] };
    const r = await s.call('POST', '/v1/$batch', { json: { requests: [...singles.slice(0, 15), ...group, ...singles.slice(15), after] } });
    expect(r.json.responses.filter((x: any) => x.status === 201)).toHaveLength(35);
    expect(r.json.responses.at(-1).body.items).toHaveLength(35);
  });
});
