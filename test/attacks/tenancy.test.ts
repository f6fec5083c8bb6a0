import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachBackend, startTestServer, TOKENS, type TestServer } from '../support/server.js';
import { DIALECTS, operationStatuses, recordCount, send, sendOps, xmlDocument, type AttackDialect } from './dialects.js';

/**
 * Attack catalogue, identity: another tenant's ids and refs, a read-only
 * token writing inside a batch, and the rate limit counting every operation,
 * through every dialect over real HTTP, on every backend (docs/SECURITY.md).
 */

const ATOMIC = new Set(['parts', 'jsonapi-atomic']);
/** OData multipart stops at the first failure unless asked to go on (OData 4.0); other dialects ignore it. */
const CONTINUE = { prefer: 'odata.continue-on-error' };

describeEachBackend('tenancy and scopes inside batches', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  const record = (tenant: string, collection: string, id: string) => s.services.store.getRecord({ tenant, collection, id });

  describe.each(DIALECTS.filter((d) => d.name !== 'xml'))('$name', (d: AttackDialect) => {
    const c = `Tn${d.name.replace(/[^a-z]/g, '')}`;

    it("another tenant's id: read, patch and delete answer 404 (existence does not leak), its record stays as it was", async () => {
      expect((await s.call('PUT', `/v1/${c}/g1`, { json: { resourceType: c, secret: 'globex' }, token: TOKENS.globex })).status).toBe(201);
      const before = (await record('globex', c, 'g1'))!;
      for (const op of [
        { method: 'GET', path: `/v1/${c}/g1` },
        { method: 'PATCH', path: `/v1/${c}/g1`, body: { secret: 'acme' } },
        { method: 'DELETE', path: `/v1/${c}/g1` },
      ]) {
        if (d.name === 'jsonapi-atomic' && op.method === 'GET') continue; // atomic operations only write
        const r = await sendOps(s, d, [op]);
        expect(operationStatuses(d, r), `${op.method}: ${r.text.slice(0, 300)}`).toEqual([404]);
        expect(r.text).not.toContain('globex');
      }
      expect(await record('globex', c, 'g1')).toEqual(before);
      expect(await record('acme', c, 'g1')).toBeUndefined();
    });

    it('a read-only token writing inside a batch: 403 forbidden per write (the whole batch where it is atomic), nothing written', async () => {
      expect((await s.call('PUT', `/v1/${c}/mine`, { json: { resourceType: c, v: 1 } })).status).toBeLessThan(300);
      const before = { count: await recordCount(s), rec: await record('acme', c, 'mine') };
      const writes = [
        { method: 'POST', path: `/v1/${c}`, body: { v: 2 } },
        { method: 'PUT', path: `/v1/${c}/new`, body: { v: 2 } },
        { method: 'PATCH', path: `/v1/${c}/mine`, body: { v: 2 } },
        { method: 'DELETE', path: `/v1/${c}/mine` },
      ];
      if (ATOMIC.has(d.name)) {
        for (const w of writes) {
          const r = await sendOps(s, d, [w], { token: TOKENS.acmeRead });
          expect(r.status, r.text.slice(0, 300)).toBe(403);
        }
      } else {
        const r = await sendOps(s, d, [{ method: 'GET', path: `/v1/${c}/mine` }, ...writes], { token: TOKENS.acmeRead, headers: CONTINUE });
        expect(r.status, r.text.slice(0, 300)).toBe(200);
        expect(operationStatuses(d, r)).toEqual([200, 403, 403, 403, 403]);
      }
      expect(await recordCount(s)).toBe(before.count);
      expect(await record('acme', c, 'mine')).toEqual(before.rec);
    });
  });

  describe('xml', () => {
    it("another tenant's ref: read, update and delete answer not_found, its object stays as it was", async () => {
      const created = await send(s, { path: '/api/object/batch', contentType: 'application/xml', body: xmlDocument('<create><object><attributes><a d="t" vt="16"><text>globex secret</text></a></attributes></object></create>') }, { token: TOKENS.globex });
      const ref = /ref="([^"]+)"/.exec(created.text)![1]!;
      const before = await record('globex', 'objects', ref);
      const object = '<object><attributes><a d="t" vt="16"><text>acme</text></a></attributes></object>';
      const r = await send(s, { path: '/api/object/batch', contentType: 'application/xml', body: xmlDocument(`<read ref="${ref}"/><update ref="${ref}">${object}</update><delete ref="${ref}"/>`) });
      expect(r.status).toBe(200);
      expect(r.text.match(/code="not_found"/g)).toHaveLength(3);
      expect(r.text).not.toContain('globex secret');
      expect(await record('globex', 'objects', ref)).toEqual(before);
    });

    it('a read-only token: create, update and delete answer forbidden, a read runs, nothing written', async () => {
      const created = await send(s, { path: '/api/object/batch', contentType: 'application/xml', body: xmlDocument('<create><object><attributes><a d="t" vt="16"><text>mine</text></a></attributes></object></create>') });
      const ref = /ref="([^"]+)"/.exec(created.text)![1]!;
      const before = { count: await recordCount(s), rec: await record('acme', 'objects', ref) };
      const object = '<object><attributes><a d="t" vt="16"><text>changed</text></a></attributes></object>';
      const r = await send(
        s,
        { path: '/api/object/batch', contentType: 'application/xml', body: xmlDocument(`<read ref="${ref}"/><create>${object}</create><update ref="${ref}">${object}</update><delete ref="${ref}"/>`) },
        { token: TOKENS.acmeRead },
      );
      expect(r.status, r.text).toBe(200);
      expect(r.text).toContain('<read index="0"');
      expect(r.text.match(/code="forbidden"/g)).toHaveLength(3);
      expect(await recordCount(s)).toBe(before.count);
      expect(await record('acme', 'objects', ref)).toEqual(before.rec);
    });
  });
});

describe('the rate limit counts every operation of a batch', () => {
  const servers: TestServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((x) => x.close()));
  });

  it.each(DIALECTS)('$name: a budget of 5 and a batch of 8 operations: 3 answer 429 rate_limited (an atomic batch: 429 whole); a new X-Forwarded-For buys nothing', async (d) => {
    const s = await startTestServer({ rateLimit: { limit: 5, windowS: 3600 } });
    servers.push(s);
    const reads = Array.from({ length: 8 }, (_, i) => ({ method: 'GET', path: `/v1/Rl/r${i}` }));
    const ops = ATOMIC.has(d.name) ? reads.map((r) => ({ ...r, method: 'PUT', body: { v: 1 } })) : reads;
    const r = await sendOps(s, d, ops, { headers: { ...CONTINUE, 'x-forwarded-for': '10.0.0.1', 'x-real-ip': '10.0.0.1' } });
    if (ATOMIC.has(d.name)) {
      expect(r.status, r.text.slice(0, 300)).toBe(429);
      expect(await recordCount(s)).toBe(0);
      return;
    }
    expect(r.status, r.text.slice(0, 300)).toBe(200);
    expect(r.text.match(/rate_limited/gi), r.text.slice(0, 2000)).toHaveLength(3);
    // Another forwarding address on the next batch is the same principal: its budget is spent.
    const again = await sendOps(s, d, reads.slice(0, 2), { headers: { ...CONTINUE, 'x-forwarded-for': '10.9.9.9', forwarded: 'for=10.9.9.9' } });
    expect(again.text.match(/rate_limited/gi)).toHaveLength(2);
    expect((await s.call('GET', '/v1/Rl/x', { headers: { 'x-forwarded-for': '10.1.1.1' } })).status).toBe(429);
  });

  it('failed authentications count against the socket address, whatever X-Forwarded-For says', async () => {
    const s = await startTestServer({ rateLimit: { limit: 3, windowS: 3600 } });
    servers.push(s);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push((await s.call('POST', '/batch', { json: { requests: [] }, token: `wrong-${i}`, headers: { 'x-forwarded-for': `10.0.0.${i}` } })).status);
    }
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(statuses.slice(3)).toEqual([429, 429]);
  });
});
