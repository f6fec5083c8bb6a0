import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { batchPrincipal, omnibus, type OmnibusOptions } from '../src/index.js';
import type { Principal } from '../src/auth/principal.js';

const alice: Principal = { subject: 'alice', tenant: 't1', scopes: new Set(['read', 'write']) };
const closers: Array<() => void> = [];
afterEach(() => closers.splice(0).forEach((c) => c()));

/** A user's own Hono app with a custom route, and Omnibus's batch endpoints mounted on it, over real HTTP. */
async function userApp(options: Partial<OmnibusOptions> = {}) {
  const app = new Hono();
  const seen: Array<{ who?: string; auth?: string | null }> = [];
  app.get('/hello/:name', (c) => {
    const who = batchPrincipal(c.env)?.subject;
    seen.push({ who, auth: c.req.header('authorization') ?? null });
    return c.json({ hi: c.req.param('name'), who: who ?? null });
  });
  app.get('/slow', async (c) => {
    await new Promise((r) => setTimeout(r, 60));
    return c.json({ slow: true });
  });
  app.route(
    '/',
    omnibus({
      fetch: (req, env) => app.fetch(req, env),
      authenticate: (token) => (token === 'alice-token' ? alice : undefined),
      ...options,
    }),
  );
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  closers.push(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const batch = async (requests: unknown[], token = 'alice-token') => {
    const res = await fetch(`${url}/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ requests }),
    });
    return { status: res.status, json: (await res.json()) as any };
  };
  return { batch, seen };
}

describe('omnibus() on a user app', () => {
  it('batches against the user’s own routes, with the batch principal in-process and no credentials forwarded', async () => {
    const { batch, seen } = await userApp();
    const r = await batch([
      { method: 'GET', path: '/hello/ann' },
      { method: 'GET', path: '/hello/bob', headers: { Authorization: 'Bearer someone-else' } },
      { method: 'GET', path: '/nope' },
    ]);
    expect(r.status).toBe(200);
    expect(r.json.responses.map((x: any) => x.status)).toEqual([200, 200, 404]);
    expect(r.json.responses[0].body).toEqual({ hi: 'ann', who: 'alice' });
    expect(r.json.responses[1].body).toEqual({ hi: 'bob', who: 'alice' });
    expect(seen.map((x) => x.auth)).toEqual([null, null]);
  });

  it('answers 401 when the user’s authenticate() refuses the token', async () => {
    const { batch } = await userApp();
    const r = await batch([{ method: 'GET', path: '/hello/x' }], 'wrong');
    expect(r.status).toBe(401);
    expect(r.json.code).toBe('unauthorized');
  });

  it('a slow batch past its deadline answers 504 deadline_exceeded for the operations not started', async () => {
    const { batch } = await userApp({ batchDeadlineMs: 100 });
    const started = Date.now();
    const r = await batch([
      { method: 'GET', path: '/slow' },
      { method: 'GET', path: '/slow' },
      { method: 'GET', path: '/slow' },
      { method: 'GET', path: '/hello/late' },
    ]);
    expect(r.status).toBe(200);
    const statuses = r.json.responses.map((x: any) => x.status);
    expect(statuses.slice(0, 2)).toEqual([200, 200]);
    expect(statuses.slice(2)).toEqual([504, 504]);
    expect(r.json.responses[3].body.code).toBe('deadline_exceeded');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('refuses transaction groups when no transaction runner was given', async () => {
    const app = new Hono();
    app.get('/x', (c) => c.json({}));
    app.route('/', omnibus({ fetch: (r, e) => app.fetch(r, e), authenticate: () => alice }));
    const res = await app.fetch(
      new Request('http://local/v1/batch', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer x' },
        body: JSON.stringify([
          { id: '1', method: 'GET', path: '/x', transaction: 'T' },
          { id: '2', method: 'GET', path: '/x', transaction: 'T' },
        ]),
      }),
    );
    const body = (await res.json()) as any[];
    expect(body.map((x) => x.code)).toEqual([400, 424]);
  });
});
