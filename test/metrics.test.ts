import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TOKENS, type TestServer } from './support/server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.close());

describe('accounting (SPEC 4.7)', () => {
  it('counts each batch operation as one request, like a direct request, and not the batch envelope', async () => {
    const before = s.services.meter.total('globex');
    await s.call('PUT', '/v1/m/1', { json: {}, token: TOKENS.globex });
    await s.call('POST', '/batch', {
      token: TOKENS.globex,
      json: { requests: [{ method: 'GET', path: '/v1/m/1' }, { method: 'GET', path: '/v1/m/2' }, { method: 'DELETE', path: '/v1/m/1' }] },
    });
    expect(s.services.meter.total('globex') - before).toBe(4);
  });

  it('GET /metrics answers the counters in Prometheus text to admins only', async () => {
    await s.call('GET', '/v1/m', { token: TOKENS.acmeAdmin });
    const r = await s.call('GET', '/metrics', { token: TOKENS.acmeAdmin });
    expect(r.status).toBe(200);
    expect(r.text).toMatch(/omnibus_requests_total\{tenant="acme",status="2xx"\} \d+/);
    expect(r.text).toMatch(/omnibus_requests_total\{tenant="globex",status="4xx"\} 1/);
    expect((await s.call('GET', '/metrics')).status).toBe(403);
    expect((await s.call('GET', '/metrics', { token: null })).status).toBe(401);
  });
});
