import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TOKENS, type TestServer } from '../support/server.js';
import { dialect, HEADER_DIALECTS, operationStatuses, recordCount, send, sendOps } from './dialects.js';

/**
 * The published batch-endpoint vulnerabilities, replayed against Omnibus
 * over real HTTP (docs/SECURITY.md says why each does not apply).
 */

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.close());

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.test.ts') ? [path] : [];
  });
}

describe('CVE-2014-7205 (hapi bassmaster: batch references evaluated as JavaScript)', () => {
  it('no source file evaluates text as code (no eval, new Function, node:vm)', () => {
    const files = sourceFiles(join(import.meta.dirname, '../../src'));
    expect(files.length).toBeGreaterThan(50);
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      expect(text, file).not.toMatch(/\beval\s*\(|new\s+Function\s*\(|\bFunction\s*\(\s*['"`]|from\s+['"](node:)?vm['"]/);
    }
  });

  it('code in a reference is data: Composite looks it up as member names and finds nothing (400 PROCESSING_HALTED), OData refuses it before anything runs', async () => {
    const composite = await send(s, {
      path: '/services/data/v59.0/composite',
      contentType: 'application/json',
      body: JSON.stringify({
        compositeRequest: [
          { method: 'POST', url: '/v1/Cve', referenceId: 'a', body: {} },
          { method: 'GET', url: "/v1/Cve/@{a.id');process.exit(1);('}", referenceId: 'b' },
          { method: 'GET', url: '/v1/Cve/@{a.constructor.constructor}', referenceId: 'c' },
        ],
      }),
    });
    expect(composite.status, composite.text).toBe(200);
    expect(operationStatuses(dialect('composite'), composite)).toEqual([201, 400, 400]);
    expect(composite.text.match(/PROCESSING_HALTED/g)).toHaveLength(2);
    const before = await recordCount(s);
    const odata = await send(s, {
      path: '/v1/$batch',
      contentType: 'application/json',
      body: JSON.stringify({ requests: [{ id: '1', method: 'POST', url: '/v1/Cve', body: {} }, { id: '2', method: 'GET', url: "$1');process.exit(1);//", dependsOn: ['1'] }] }),
    });
    expect(odata.status, odata.text).toBe(400);
    expect(await recordCount(s)).toBe(before);
  });

  it('a reference that walks into constructor or __proto__ of an earlier answer finds no value there (400 PROCESSING_HALTED), never a function', async () => {
    const r = await send(s, {
      path: '/services/data/v59.0/composite',
      contentType: 'application/json',
      body: JSON.stringify({
        compositeRequest: [
          { method: 'POST', url: '/v1/Cve', referenceId: 'a', body: { n: 1 } },
          { method: 'PUT', url: '/v1/Cve/x1', referenceId: 'b', body: { v: '@{a.constructor}' } },
          { method: 'PUT', url: '/v1/Cve/x2', referenceId: 'c', body: { v: '@{a.__proto__}' } },
        ],
      }),
    });
    expect(r.status, r.text).toBe(200);
    expect(operationStatuses(dialect('composite'), r)).toEqual([201, 400, 400]);
    expect(r.text).toContain('PROCESSING_HALTED');
    expect((await s.call('GET', '/v1/Cve/x1')).status).toBe(404);
  });

  it('the server is still up', async () => {
    expect((await s.call('GET', '/healthz', { token: null })).status).toBe(200);
  });
});

describe('CVE-2022-24112 (APISIX batch-requests: X-Real-IP smuggled in a pipelined request reached the admin API)', () => {
  describe.each(HEADER_DIALECTS)('$name', (d) => {
    it('an operation to /admin/tokens carrying X-Real-IP/X-Forwarded-For 127.0.0.1 and the admin token as X-Api-Key/Authorization lists and creates no token', async () => {
      const tokens = await s.services.store.countTokens();
      const smuggled = { 'X-Real-IP': '127.0.0.1', 'X-Forwarded-For': '127.0.0.1', 'X-Api-Key': TOKENS.acmeAdmin, ...(d.name === 'composite' ? {} : { Authorization: `Bearer ${TOKENS.acmeAdmin}` }) };
      const r = await sendOps(
        s,
        d,
        [
          { method: 'GET', path: '/admin/tokens', headers: smuggled },
          { method: 'POST', path: '/admin/tokens', headers: smuggled, body: { tenant: 'acme', scopes: ['admin'] } },
        ],
        { headers: { prefer: 'odata.continue-on-error' } },
      );
      expect(r.status, r.text.slice(0, 300)).toBe(200);
      for (const status of operationStatuses(d, r)) expect(status).toBeGreaterThanOrEqual(400);
      expect(r.text).not.toMatch(/"scopes"|acme-admin/);
      expect(await s.services.store.countTokens()).toBe(tokens);
    });
  });

  it('even an admin batch principal cannot reach the admin routes through a batch operation', async () => {
    const tokens = await s.services.store.countTokens();
    const r = await sendOps(s, dialect('ops'), [{ method: 'POST', path: '/admin/tokens', body: { tenant: 'globex', scopes: ['admin'] } }], { token: TOKENS.acmeAdmin });
    expect(operationStatuses(dialect('ops'), r)[0]).toBeGreaterThanOrEqual(400);
    expect(await s.services.store.countTokens()).toBe(tokens);
  });
});
