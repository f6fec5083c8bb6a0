import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjectFor } from '../../src/auth/tokens.js';
import { omnibus } from '../../src/index.js';
import { startTestServer, TOKENS, type TestServer } from '../support/server.js';
import { dialect, DIALECTS, expectRefused, FREE_PATH_DIALECTS, HEADER_DIALECTS, operationStatuses, recordCount, send, sendOps, type PlainOp } from './dialects.js';

/**
 * Attack catalogue, headers: credentials, identity and routing headers,
 * method overrides, CR/LF/NUL and prototype keys inside operations, through
 * every dialect whose operations carry headers, over real HTTP (SQLite: what
 * is checked here happens before any store call; docs/SECURITY.md).
 */

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.close());

let n = 0;
const fresh = (prefix: string) => `${prefix}${++n}${Math.random().toString(36).slice(2, 6)}`;
const record = (tenant: string, collection: string, id: string) => s.services.store.getRecord({ tenant, collection, id });

const CREDENTIALS = (token: string): Record<string, string> => ({
  Authorization: `Bearer ${token}`,
  Cookie: `session=${token}; token=${token}`,
  'X-Api-Key': token,
  'Api-Key': token,
  'Proxy-Authorization': `Bearer ${token}`,
});

/** Salesforce clients inherit Authorization from the Composite request: inside a subrequest it is refused (400 invalid_header). */
const withoutAuthorization = (d: string, headers: Record<string, string>) => {
  if (d !== 'composite') return headers;
  const { Authorization: _dropped, ...rest } = headers;
  return rest;
};

describe('credential headers inside operations are never used', () => {
  describe.each(HEADER_DIALECTS)('$name', (d) => {
    it("another tenant's token and an admin token in Authorization, Cookie, X-Api-Key, Api-Key, Proxy-Authorization: the write runs as the batch principal, in its tenant", async () => {
      const c = fresh('cred');
      const ids = [TOKENS.globex, TOKENS.acmeAdmin].map((token) => ({ token, id: fresh('r') }));
      const ops: PlainOp[] = ids.map(({ token, id }) => ({ method: 'PUT', path: `/v1/${c}/${id}`, headers: withoutAuthorization(d.name, CREDENTIALS(token)), body: { v: 1 } }));
      const r = await sendOps(s, d, ops);
      expect(r.status, r.text).toBe(200);
      expect(operationStatuses(d, r)).toEqual([201, 201]);
      for (const { id } of ids) {
        const stored = await record('acme', c, id);
        expect(stored?.createdBy).toBe(subjectFor(TOKENS.acme));
        expect(await record('globex', c, id)).toBeUndefined();
      }
    });

    it('a read-only batch token with a read-write or admin token in the operation headers: 403 per operation, nothing written', async () => {
      const c = fresh('ro');
      const ops: PlainOp[] = [TOKENS.acme, TOKENS.acmeAdmin].map((token) => ({
        method: 'PUT',
        path: `/v1/${c}/x${token.length}`,
        headers: withoutAuthorization(d.name, CREDENTIALS(token)),
        body: { v: 1 },
      }));
      const before = await recordCount(s);
      const r = await sendOps(s, d, ops, { token: TOKENS.acmeRead });
      expect(r.status, r.text).toBe(200);
      expect(operationStatuses(d, r)[0]).toBe(403);
      expect(await recordCount(s)).toBe(before);
    });
  });

  it('composite: Authorization inside a subrequest is refused whole, 400 INVALID_HEADER, nothing runs', async () => {
    const before = await recordCount(s);
    const r = await sendOps(s, dialect('composite'), [
      { method: 'POST', path: '/v1/canary', body: {} },
      { method: 'PUT', path: '/v1/cred/x', headers: { Authorization: `Bearer ${TOKENS.globex}` }, body: {} },
    ]);
    expectRefused(r, 400, 'invalid_header');
    expect(await recordCount(s)).toBe(before);
  });

  it("a ?token= in an operation's path is removed (every dialect but requests): another tenant's token reads nothing of that tenant", async () => {
    const c = fresh('tq');
    expect((await s.call('PUT', `/v1/${c}/x`, { json: { resourceType: c, secret: 1 }, token: TOKENS.globex })).status).toBe(201);
    for (const d of FREE_PATH_DIALECTS.filter((x) => x.name !== 'requests' && x.name !== 'jsonapi-atomic')) {
      const r = await sendOps(s, d, [{ method: 'GET', path: `/v1/${c}/x?token=${TOKENS.globex}` }]);
      expect(r.status, `${d.name}: ${r.text}`).toBe(d.name === 'parts' ? 404 : 200);
      expect(operationStatuses(d, r), d.name).toEqual([404]);
      expect(r.text).not.toContain('secret');
    }
  });

  it('requests: a ?token= in an operation is authenticated like any token and never widens access: a read-only one cannot write, an unknown one is 401', async () => {
    const c = fresh('tq');
    const r = await sendOps(s, dialect('requests'), [
      { method: 'PUT', path: `/v1/${c}/a?token=${TOKENS.acmeRead}`, body: { v: 1 } },
      { method: 'PUT', path: `/v1/${c}/b?token=not-a-token`, body: { v: 1 } },
    ]);
    expect(operationStatuses(dialect('requests'), r)).toEqual([403, 401]);
    expect(await record('acme', c, 'a')).toBeUndefined();
    expect(await record('acme', c, 'b')).toBeUndefined();
  });
});

describe('identity and routing headers inside operations change neither who nor where', () => {
  const IDENTITY: Record<string, string> = {
    'X-Forwarded-For': '10.9.8.7',
    'X-Real-IP': '10.9.8.7',
    Host: 'evil.example',
    Forwarded: 'for=10.9.8.7;host=evil.example;proto=https',
    'X-Forwarded-Host': 'evil.example',
    'X-Forwarded-Proto': 'https',
    'X-Forwarded-Prefix': '/admin',
    'X-Original-URL': '/admin/tokens',
    'X-Rewrite-URL': '/admin/tokens',
  };

  describe.each(HEADER_DIALECTS)('$name', (d) => {
    it('X-Forwarded-For, X-Real-IP, Host, Forwarded, X-Forwarded-Host/-Prefix, X-Original-URL: the write lands at its own path in the batch tenant, its Location names no other host', async () => {
      const c = fresh('id');
      const tokens = await s.services.store.countTokens();
      const r = await sendOps(s, d, [{ method: 'PUT', path: `/v1/${c}/x`, headers: IDENTITY, body: { v: 1 } }]);
      expect(r.status, r.text).toBe(200);
      expect(operationStatuses(d, r)).toEqual([201]);
      expect((await record('acme', c, 'x'))?.createdBy).toBe(subjectFor(TOKENS.acme));
      expect(r.text).not.toContain('evil.example');
      expect(await s.services.store.countTokens()).toBe(tokens);
    });
  });
});

describe('method overrides are ignored', () => {
  const OVERRIDES = { 'X-HTTP-Method-Override': 'DELETE', 'X-Method-Override': 'DELETE', 'X-HTTP-Method': 'DELETE' };

  describe.each(HEADER_DIALECTS)('$name', (d) => {
    it('a GET carrying X-HTTP-Method-Override / X-Method-Override / X-HTTP-Method: DELETE and ?_method=DELETE reads and deletes nothing', async () => {
      const c = fresh('mo');
      expect((await s.call('PUT', `/v1/${c}/x`, { json: { keep: true } })).status).toBe(201);
      const r = await sendOps(s, d, [
        { method: 'GET', path: `/v1/${c}/x`, headers: OVERRIDES },
        { method: 'GET', path: `/v1/${c}/x?_method=DELETE`, headers: OVERRIDES },
      ]);
      expect(r.status, r.text).toBe(200);
      expect(operationStatuses(d, r)).toEqual([200, 200]);
      expect((await record('acme', c, 'x'))?.data).toEqual({ keep: true });
    });
  });

  it.each(DIALECTS.filter((d) => !d.headers && d.freePaths && d.name !== 'jsonapi-atomic'))('$name: a read with ?_method=DELETE deletes nothing', async (d) => {
    const c = `Mo${fresh('x')}`;
    expect((await s.call('PUT', `/v1/${c}/x`, { json: { resourceType: c, keep: true } })).status).toBe(201);
    const r = await sendOps(s, d, [{ method: 'GET', path: `/v1/${c}/x?_method=DELETE` }]);
    expect(r.status, r.text).toBe(200);
    expect((await record('acme', c, 'x'))?.data).toMatchObject({ keep: true });
  });
});

describe('CR, LF and NUL in header names and values', () => {
  const names = ['X-A\r\nX-Injected', 'X-A\nB', 'X-A\u0000', 'X A', 'X-A:B', '', 'Héader'];
  const values = ['a\r\nX-Injected: 1', 'a\nb', 'a\rb', 'a\u0000b', 'a\u0007b'];

  describe.each(HEADER_DIALECTS.filter((d) => d.name !== 'requests' && d.name !== 'odata-multipart'))('$name (headers are an object)', (d) => {
    it('a header name with CR/LF/NUL, a space, a colon or non-token characters: 400 invalid_header, nothing written', async () => {
      for (const name of names) {
        const before = await recordCount(s);
        const r = await sendOps(s, d, [{ method: 'POST', path: '/v1/canary', body: {} }, { method: 'GET', path: '/v1/canary', headers: { [name]: 'x' } }]);
        expectRefused(r, 400, 'invalid_header');
        expect(await recordCount(s)).toBe(before);
      }
    });
    it('a header value with CR, LF, NUL or another control character: 400 invalid_header, nothing written', async () => {
      for (const value of values) {
        const before = await recordCount(s);
        const r = await sendOps(s, d, [{ method: 'POST', path: '/v1/canary', body: {} }, { method: 'GET', path: '/v1/canary', headers: { 'X-A': value } }]);
        expectRefused(r, 400, 'invalid_header');
        expect(await recordCount(s)).toBe(before);
      }
    });
  });

  it('requests (headers are one string of lines): NUL or a control character in a value, or a name that is no token: 400 invalid_header, nothing written', async () => {
    for (const line of ['X-A: a\u0000b', 'X-A: a\u0007b', 'X A: b', 'X-A\u0000: b', ': b']) {
      const before = await recordCount(s);
      const r = await send(s, {
        path: '/v1/batch',
        contentType: 'application/json',
        body: JSON.stringify([
          { id: 'c', method: 'POST', path: '/v1/canary', body: '{}' },
          { id: 'x', method: 'GET', path: '/v1/canary', headers: line },
        ]),
      });
      expectRefused(r, 400, 'invalid_header');
      expect(await recordCount(s)).toBe(before);
    }
  });

  it('odata-multipart (headers are lines of the part): NUL or a control character in a header: 400, nothing written', async () => {
    for (const headers of [{ 'X-A': 'a\u0000b' }, { 'X-A': 'a\u0007b' }, { 'X-A\u0000': 'b' }] as Record<string, string>[]) {
      const before = await recordCount(s);
      const r = await sendOps(s, dialect('odata-multipart'), [{ method: 'POST', path: '/v1/canary', body: {} }, { method: 'GET', path: '/v1/canary', headers }]);
      expect(r.status, r.text).toBe(400);
      expect(await recordCount(s)).toBe(before);
    }
  });

  it('a header value that is no byte string (a character above U+00FF, a lone surrogate): 400 invalid_header in every dialect, nothing written', async () => {
    for (const d of HEADER_DIALECTS.filter((x) => x.name !== 'odata-multipart')) {
      for (const value of ['price \u20ac', 'a\ud800b']) {
        const before = await recordCount(s);
        const r = await sendOps(s, d, [{ method: 'POST', path: '/v1/canary', body: {} }, { method: 'GET', path: '/v1/canary', headers: { 'X-A': value } }]);
        expectRefused(r, 400, 'invalid_header');
        expect(await recordCount(s)).toBe(before);
      }
    }
  });

  it("library mode (omnibus() dispatching through the user's own fetch handler, which builds Web Headers): such a value is 400 invalid_header, not a 500", async () => {
    const app = new Hono();
    let reached = 0;
    app.get('/hello', (c) => {
      reached++;
      return c.json({ ok: true });
    });
    app.route('/', omnibus({ fetch: (req, env) => app.fetch(req, env), authenticate: (t) => (t === 'k' ? { subject: 'u', tenant: 't', scopes: new Set(['read', 'write']) } : undefined) }));
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const started = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(started));
    });
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/batch`;
      for (const value of ['price \u20ac', 'a\ud800b']) {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
          body: JSON.stringify({ requests: [{ method: 'GET', path: '/hello', headers: { 'X-A': value } }] }),
        });
        const text = await res.text();
        expect(res.status, text).toBe(400);
        expect(JSON.parse(text).code).toBe('invalid_header');
      }
      expect(reached).toBe(0);
    } finally {
      server.close();
    }
  });

  it('a batch request header value with CR/LF cannot reach the server at all (the HTTP client refuses it), so a requests batch cannot inherit one', async () => {
    await expect(s.call('POST', '/v1/batch', { json: [], headers: { 'x-a': 'a\r\nx-b: c' } })).rejects.toThrow();
  });
});

describe('__proto__ and constructor in header objects', () => {
  describe.each(HEADER_DIALECTS.filter((d) => d.name !== 'requests' && d.name !== 'odata-multipart'))('$name', (d) => {
    it('a header object with own __proto__, constructor and prototype members pollutes nothing; a __proto__ member, even an object, is dropped, never a prototype', async () => {
      const own = Object.getOwnPropertyNames(Object.prototype).sort();
      const c = fresh('hp');
      // Written as JSON text: an object literal would set the prototype instead of carrying the member.
      const doc = d.build([{ method: 'PUT', path: `/v1/${c}/x`, headers: { 'X-Placeholder': 'p' }, body: { v: 1 } }]);
      const body = doc.body.replace('"X-Placeholder":"p"', '"__proto__":"x","constructor":"y","prototype":"z","hasOwnProperty":"w"');
      expect(body).not.toBe(doc.body);
      const r = await send(s, { ...doc, body });
      expect(r.status, r.text).toBe(200);
      expect(operationStatuses(d, r)).toEqual([201]);
      // Zod's record drops a __proto__ member whatever its value, so it never becomes the header object's prototype.
      const nested = await send(s, { ...doc, body: doc.body.replace('"X-Placeholder":"p"', '"__proto__":{"polluted":"yes","if-match":"\\"nope\\""}') });
      expect(nested.status, nested.text).toBe(200);
      expect(operationStatuses(d, nested)).toEqual([200]); // no inherited If-Match: the PUT is unconditional
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
      expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(own);
    });
  });

  it('requests: header lines named __proto__ and constructor pollute nothing', async () => {
    const c = fresh('hp');
    const r = await send(s, {
      path: '/v1/batch',
      contentType: 'application/json',
      body: JSON.stringify([{ id: 'a', method: 'PUT', path: `/v1/${c}/x`, headers: '__proto__: polluted\nconstructor: x\nContent-Type: application/json', body: '{"v":1}' }]),
    });
    expect(r.status, r.text).toBe(200);
    expect(r.json[0].code).toBe(201);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});
