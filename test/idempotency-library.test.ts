import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Principal } from '../src/auth/principal.js';
import { IdempotencyGuard, MemoryBuckets, omnibus, RateLimiter, SqliteStore, type OmnibusOptions } from '../src/index.js';

/**
 * The library (`omnibus()` on a user's own Hono app) takes the same
 * Idempotency-Key and rate-limit machinery as the server, as options.
 */

const alice: Principal = { subject: 'alice', tenant: 't1', scopes: new Set(['read', 'write']) };
const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function userApp(options: (store: SqliteStore) => Partial<OmnibusOptions>) {
  const dir = mkdtempSync(join(tmpdir(), 'omnibus-idem-lib-'));
  const store = new SqliteStore({ path: join(dir, 'keys.db') });
  let hits = 0;
  const app = new Hono();
  app.post('/counter', (c) => c.json({ hit: ++hits }, 201));
  app.route('/', omnibus({ fetch: (req, env) => app.fetch(req, env), authenticate: (t) => (t === 'alice' ? alice : undefined), ...options(store) }));
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  closers.push(async () => {
    server.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const batch = async (requests: unknown[], headers: Record<string, string> = {}) => {
    const res = await fetch(`${url}/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer alice', ...headers },
      body: JSON.stringify({ requests }),
    });
    return { status: res.status, headers: res.headers, text: await res.text() };
  };
  return { batch, store, hits: () => hits };
}

describe('omnibus() with idempotency and a rate limit', () => {
  it('replays a keyed batch against the user’s own routes: they run once (keys claimed before the batch runs)', async () => {
    const app = await userApp((store) => ({ idempotency: new IdempotencyGuard(store.idempotencyKeys, { ttlS: 60, leaseS: 10 }) }));
    const ops = [{ method: 'POST', path: '/counter', body: {} }, { method: 'POST', path: '/counter', body: {} }];
    const first = await app.batch(ops, { 'idempotency-key': 'lib-1' });
    const again = await app.batch(ops, { 'idempotency-key': 'lib-1' });
    expect(first.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.text).toBe(first.text);
    expect(app.hits()).toBe(2);
    expect((await app.store.idempotencyKeys.find('t1', 'lib-1'))?.state).toBe('done');
    const reused = await app.batch([], { 'idempotency-key': 'lib-1' });
    expect(reused.status).toBe(422);
  });

  it('with the store as `transactions` too, the key commits inside the batch’s own transaction', async () => {
    const app = await userApp((store) => ({ transactions: store, idempotency: new IdempotencyGuard(store.idempotencyKeys, { ttlS: 60, leaseS: 10, transactions: store }) }));
    const first = await app.batch([{ method: 'POST', path: '/counter', body: {} }], { 'idempotency-key': 'lib-2' });
    const again = await app.batch([{ method: 'POST', path: '/counter', body: {} }], { 'idempotency-key': 'lib-2' });
    expect(again.text).toBe(first.text);
    expect(app.hits()).toBe(1);
  });

  it('the rate limit option refuses operations beyond the budget with 429 in their own result', async () => {
    const app = await userApp(() => ({ rateLimit: new RateLimiter({ limit: 2, windowS: 3600 }, new MemoryBuckets()) }));
    const r = await app.batch([1, 2, 3].map(() => ({ method: 'POST', path: '/counter', body: {} })));
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text).responses.map((x: { status: number }) => x.status)).toEqual([201, 201, 429]);
    expect(app.hits()).toBe(2);
  });

  it('failed authentications count against the client address there too', async () => {
    const app = await userApp(() => ({ rateLimit: new RateLimiter({ limit: 1, windowS: 3600 }, new MemoryBuckets()) }));
    expect((await app.batch([], { authorization: 'Bearer wrong' })).status).toBe(401);
    const over = await app.batch([], { authorization: 'Bearer wrong' });
    expect(over.status).toBe(429);
    expect(JSON.parse(over.text).code).toBe('rate_limited');
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
