import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Authenticator, bootstrapTokens, LAST_USED_INTERVAL_MS } from '../src/auth/authenticator.js';
import { DEFAULTS } from '../src/config.js';
import { startServer } from '../src/server.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { Store, TokenRecord } from '../src/store/types.js';
import { enabledBackends } from './support/backends.js';
import { describeEachBackend, startTestServer, TOKENS, type TestServer } from './support/server.js';

const sha = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');
const idOf = (token: string) => sha(token).slice(0, 12);

describeEachBackend('admin token routes', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => server?.close());

  const admin = { token: TOKENS.acmeAdmin };

  it('GET /admin/tokens lists the admin tenant\'s tokens only, never a token or its hash', async () => {
    const r = await server.call('GET', '/admin/tokens', admin);
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const items = r.json.items as Array<Record<string, unknown>>;
    expect(items.map((t) => t.tenant)).toEqual(['acme', 'acme', 'acme']);
    expect(items.map((t) => t.id).sort()).toEqual([TOKENS.acme, TOKENS.acmeRead, TOKENS.acmeAdmin].map(idOf).sort());
    const admins = items.find((t) => t.id === idOf(TOKENS.acmeAdmin));
    expect(admins).toMatchObject({ subject: `token:${idOf(TOKENS.acmeAdmin)}`, scopes: ['admin'], source: 'env' });
    expect(Object.keys(admins!).sort()).toEqual(['created', 'id', 'lastUsed', 'scopes', 'source', 'subject', 'tenant']);
    for (const token of Object.values(TOKENS)) {
      expect(r.text).not.toContain(token);
      expect(r.text).not.toContain(sha(token));
    }
  });

  it('refuses a token without the admin scope with 403 forbidden, and no token with 401', async () => {
    for (const method of ['GET', 'POST', 'DELETE']) {
      const path = method === 'DELETE' ? `/admin/tokens/${idOf(TOKENS.acmeRead)}` : '/admin/tokens';
      const r = await server.call(method, path, { json: method === 'POST' ? { scopes: ['admin'] } : undefined });
      expect(r.status, method).toBe(403);
      expect(r.headers.get('content-type')).toBe('application/problem+json');
      expect(r.json.code).toBe('forbidden');
      expect((await server.call(method, path, { token: null })).status).toBe(401);
    }
    // Nothing was created or deleted.
    expect((await server.call('GET', '/admin/tokens', admin)).json.items).toHaveLength(3);
  });

  it('POST creates a token, answers it once with its Location, and the token works with exactly its scopes', async () => {
    const r = await server.call('POST', '/admin/tokens', { ...admin, json: { scopes: ['read'] } });
    expect(r.status).toBe(201);
    const token = r.json.token as string;
    expect(token).toMatch(/^omb_/);
    expect(r.json).toMatchObject({ id: idOf(token), tenant: 'acme', scopes: ['read'], source: 'api', lastUsed: null });
    expect(r.headers.get('location')).toBe(`/admin/tokens/${idOf(token)}`);
    expect((await server.call('GET', '/v1/books', { token })).status).toBe(200);
    expect((await server.call('PUT', '/v1/books/b1', { token, json: {} })).status).toBe(403);
    const one = await server.call('GET', `/admin/tokens/${idOf(token)}`, admin);
    expect(one.status).toBe(200);
    expect(one.json).not.toHaveProperty('token');
    expect(one.text).not.toContain(token);
  });

  it('POST refuses another tenant (403), unknown scopes and members (400) and non-JSON (415)', async () => {
    const other = await server.call('POST', '/admin/tokens', { ...admin, json: { tenant: 'globex', scopes: ['read'] } });
    expect(other.status).toBe(403);
    expect(other.json.code).toBe('forbidden');
    const badScope = await server.call('POST', '/admin/tokens', { ...admin, json: { scopes: ['root'] } });
    expect(badScope.status).toBe(400);
    expect(badScope.json).toMatchObject({ code: 'bad_request', detail: expect.stringContaining('unknown scope "root"') });
    expect((await server.call('POST', '/admin/tokens', { ...admin, json: { scopes: ['read'], ttl: 5 } })).status).toBe(400);
    const text = await server.call('POST', '/admin/tokens', { ...admin, body: 'scopes=read', headers: { 'content-type': 'text/plain' } });
    expect(text.status).toBe(415);
    expect(text.json.code).toBe('unsupported_media_type');
    const broken = await server.call('POST', '/admin/tokens', { ...admin, body: '{', headers: { 'content-type': 'application/json' } });
    expect(broken.status).toBe(400);
    expect(broken.json.code).toBe('invalid_json');
  });

  it('DELETE revokes at once (the token answers 401 next), then 404 not_found; another tenant\'s token is 404 and keeps working', async () => {
    const created = await server.call('POST', '/admin/tokens', { ...admin, json: { scopes: ['read', 'write'] } });
    const token = created.json.token as string;
    expect((await server.call('GET', '/v1/books', { token })).status).toBe(200); // now cached
    const del = await server.call('DELETE', `/admin/tokens/${idOf(token)}`, admin);
    expect(del.status).toBe(204);
    expect((await server.call('GET', '/v1/books', { token })).status).toBe(401);
    const again = await server.call('DELETE', `/admin/tokens/${idOf(token)}`, admin);
    expect(again.status).toBe(404);
    expect(again.json.code).toBe('not_found');

    const foreign = await server.call('DELETE', `/admin/tokens/${idOf(TOKENS.globex)}`, admin);
    expect(foreign.status).toBe(404);
    expect((await server.call('GET', `/admin/tokens/${idOf(TOKENS.globex)}`, admin)).status).toBe(404);
    expect((await server.call('GET', '/v1/books', { token: TOKENS.globex })).status).toBe(200);
  });

  it('records when a token was last used', async () => {
    const created = await server.call('POST', '/admin/tokens', { ...admin, json: { scopes: ['read'] } });
    const token = created.json.token as string;
    const before = Date.now();
    expect((await server.call('GET', '/v1/books', { token })).status).toBe(200);
    const listed = (await server.call('GET', '/admin/tokens', admin)).json.items as Array<{ id: string; lastUsed: string | null }>;
    const used = listed.find((t) => t.id === idOf(token))!.lastUsed;
    expect(used).not.toBeNull();
    expect(Date.parse(used!)).toBeGreaterThanOrEqual(before - 1);
  });

  it('admin routes are not reachable from inside a batch', async () => {
    const r = await server.call('POST', '/batch', { ...admin, json: { requests: [{ method: 'GET', path: '/admin/tokens' }] } });
    expect(r.status).toBe(200);
    expect(r.json.responses[0].status).toBeGreaterThanOrEqual(400);
    expect(JSON.stringify(r.json)).not.toContain('"items"');
  });
});

const backends = await enabledBackends();

describe.each(backends)('OMNIBUS_TOKENS reconciled at start on $name', (backend) => {
  it('a token removed from the variable stops working; tokens made otherwise stay', async () => {
    const handle = await backend.open();
    try {
      const config = { ...DEFAULTS, port: 0 };
      const first = await startServer({ ...config, tokens: 'keep-me=acme:read;drop-me=acme:read' }, { store: handle.store });
      const extra = await first.services.auth.list();
      expect(extra.map((t) => t.source)).toEqual(['env', 'env']);
      const cli = await import('../src/auth/authenticator.js').then((m) => m.createToken(first.services.auth, 'acme', ['read'], 'cli'));
      await first.close();

      const second = await startServer({ ...config, tokens: 'keep-me=acme:read' }, { store: await handle.openSibling() });
      try {
        const get = (token: string) => fetch(`${second.url}/v1/books`, { headers: { authorization: `Bearer ${token}` } });
        expect((await get('keep-me')).status).toBe(200);
        expect((await get('drop-me')).status).toBe(401);
        expect((await get(cli.token)).status).toBe(200);
        expect(second.services.auth.removedEnvTokens).toEqual([idOf('drop-me')]);
        const ids = (await second.services.auth.list()).map((t) => t.id).sort();
        expect(ids).toEqual([idOf('keep-me'), cli.id].sort());
      } finally {
        await second.close();
      }
    } finally {
      await handle.cleanup();
    }
  });
});

describe.each(backends)('token store methods on $name', (backend) => {
  let store: Store;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const handle = await backend.open();
    store = handle.store;
    cleanup = handle.cleanup;
  });
  afterAll(async () => cleanup?.());

  const token = (hash: string, extra: Partial<TokenRecord> = {}): TokenRecord => ({
    hash,
    tenant: 'acme',
    subject: `token:${hash.slice(0, 12)}`,
    scopes: ['read'],
    created: '2026-01-01T00:00:00.000Z',
    ...extra,
  });

  it('lists with id, source and last use; touch never moves a time backwards; delete by id', async () => {
    const a = sha('a');
    const b = sha('b');
    await store.putToken(token(a, { source: 'env' }));
    await store.putToken(token(b, { created: '2026-01-02T00:00:00.000Z' }));
    expect(await store.listTokens()).toEqual([
      { id: a.slice(0, 12), tenant: 'acme', subject: `token:${a.slice(0, 12)}`, scopes: ['read'], created: '2026-01-01T00:00:00.000Z', lastUsed: null, source: 'env' },
      { id: b.slice(0, 12), tenant: 'acme', subject: `token:${b.slice(0, 12)}`, scopes: ['read'], created: '2026-01-02T00:00:00.000Z', lastUsed: null, source: 'cli' },
    ]);
    await store.touchTokens([{ hash: a, lastUsed: '2026-02-01T00:00:00.000Z' }]);
    await store.touchTokens([
      { hash: a, lastUsed: '2026-01-15T00:00:00.000Z' },
      { hash: b, lastUsed: '2026-03-01T00:00:00.000Z' },
    ]);
    const listed = await store.listTokens();
    expect(listed.map((t) => t.lastUsed)).toEqual(['2026-02-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z']);
    expect(await store.deleteToken(a.slice(0, 12))).toBe(true);
    expect(await store.deleteToken(a.slice(0, 12))).toBe(false);
    expect(await store.findToken(a)).toBeUndefined();
    expect((await store.listTokens()).map((t) => t.id)).toEqual([b.slice(0, 12)]);
  });
});

describe('Authenticator last use', () => {
  afterEach(() => vi.useRealTimers());

  it('writes a token\'s last use at most once a minute, in one call for several tokens', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    vi.setSystemTime(new Date('2026-05-01T10:00:00.000Z'));
    const calls: Array<Array<{ hash: string; lastUsed: string }>> = [];
    const rows = new Map([sha('t1'), sha('t2')].map((h) => [h, { hash: h, tenant: 'acme', subject: 's', scopes: ['read' as const], created: 'c' }]));
    const store = {
      findToken: async (hash: string) => rows.get(hash),
      touchTokens: async (uses: Array<{ hash: string; lastUsed: string }>) => void calls.push(uses),
      listTokens: async () => [],
    } as unknown as Store;
    const auth = new Authenticator(store);
    for (let i = 0; i < 5; i++) {
      await auth.authenticate('t1');
      await auth.authenticate('t2');
    }
    expect(await auth.authenticate('nope')).toBeUndefined();
    expect(calls).toHaveLength(0); // nothing written on the request path
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toEqual([[
      { hash: sha('t1'), lastUsed: '2026-05-01T10:00:00.000Z' },
      { hash: sha('t2'), lastUsed: '2026-05-01T10:00:00.000Z' },
    ]]);
    await vi.advanceTimersByTimeAsync(30_000);
    await auth.authenticate('t1');
    await vi.advanceTimersByTimeAsync(2_000);
    expect(calls).toHaveLength(1); // within the minute: no second write
    await vi.advanceTimersByTimeAsync(LAST_USED_INTERVAL_MS);
    await auth.authenticate('t1');
    await auth.flushUses();
    expect(calls).toHaveLength(2);
    expect(calls[1]).toEqual([{ hash: sha('t1'), lastUsed: new Date(Date.now()).toISOString() }]);
  });

  it('a token first used inside a transaction that rolls back still gets its last use recorded', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'omnibus-tokens-'));
    const store = new SqliteStore({ path: join(dir, 'o.db') });
    try {
      const auth = new Authenticator(store);
      await bootstrapTokens(auth, 'inside=acme:read,write');
      await expect(
        store.transaction(async () => {
          expect(await auth.authenticate('inside')).toBeDefined();
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      await auth.flushUses();
      const [info] = await store.listTokens();
      expect(info!.lastUsed).not.toBeNull();
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('migration 3 on a database made before it', () => {
  it('gives existing tokens their id and source "unknown", and they keep working', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'omnibus-tokens-'));
    const path = join(dir, 'old.db');
    try {
      const db = new Database(path);
      db.exec('CREATE TABLE omnibus_migrations (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)');
      for (const m of MIGRATIONS.filter((m) => m.version < 3)) {
        for (const sql of m.sqlite) db.exec(sql);
        db.prepare('INSERT INTO omnibus_migrations VALUES (?, ?)').run(m.version, 'then');
      }
      db.prepare('INSERT INTO tokens VALUES (?, ?, ?, ?, ?)').run(sha('old'), 'acme', 'token:x', 'read', '2025-01-01T00:00:00.000Z');
      db.close();
      const store = new SqliteStore({ path });
      try {
        expect(await store.listTokens()).toEqual([
          { id: idOf('old'), tenant: 'acme', subject: 'token:x', scopes: ['read'], created: '2025-01-01T00:00:00.000Z', lastUsed: null, source: 'unknown' },
        ]);
        expect(await new Authenticator(store).authenticate('old')).toMatchObject({ tenant: 'acme' });
        // An unknown-source token is not taken for an OMNIBUS_TOKENS one: reconciling leaves it.
        await bootstrapTokens(new Authenticator(store), undefined);
        expect(await store.listTokens()).toHaveLength(1);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
