import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../src/config.js';
import { startServer, type RunningServer } from '../src/server.js';
import { SQLITE_BACKEND, type BackendHandle } from './support/backends.js';
import { TOKEN_LIST, TOKENS } from './support/server.js';

/**
 * Request ids and what reaches the log, with the logger at debug level (every
 * line the server can write): the id a client sends, or one made up, comes
 * back on every answer and stands on every line of that request, a batch's
 * operation lines carry its index; and no token, cookie or API key sent in
 * any place a client can put one ever appears in the output.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let handle: BackendHandle;
let server: RunningServer;
const lines: string[] = [];
const parsed = () => lines.map((l) => JSON.parse(l) as Record<string, any>);

beforeAll(async () => {
  handle = await SQLITE_BACKEND.open();
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  server = await startServer({ ...DEFAULTS, port: 0, tokens: TOKEN_LIST }, { store: handle.store, logger });
});
afterAll(async () => {
  await server?.close();
  await handle?.cleanup();
});

function send(method: string, path: string, init: { headers?: Record<string, string>; body?: unknown; token?: string | null } = {}) {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token !== null) headers['authorization'] ??= `Bearer ${init.token ?? TOKENS.acme}`;
  if (init.body !== undefined) headers['content-type'] ??= 'application/json';
  return fetch(`${server.url}${path}`, { method, headers, body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body) });
}

describe('X-Request-Id', () => {
  it('a valid id sent by the client comes back on every kind of answer', async () => {
    const cases: Array<[string, () => Promise<Response>, number]> = [
      ['single GET 200', () => send('GET', '/v1/ids', { headers: { 'x-request-id': 'req-a.1' } }), 200],
      ['single GET 404', () => send('GET', '/v1/ids/missing', { headers: { 'x-request-id': 'b:2/3+4=@~_' } }), 404],
      ['no token 401', () => send('GET', '/v1/ids', { token: null, headers: { 'x-request-id': '01HZX3Q5N8V3K6' } }), 401],
      ['batch 200', () => send('POST', '/batch', { headers: { 'x-request-id': 'c'.repeat(128) }, body: { requests: [{ method: 'GET', path: '/v1/ids' }] } }), 200],
      ['refused batch 400', () => send('POST', '/batch', { headers: { 'x-request-id': 'refused-1' }, body: { requests: [{ method: 'GET', path: '/v1/../x' }] } }), 400],
      ['healthz', () => fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'health-1' } }), 200],
    ];
    const sent = ['req-a.1', 'b:2/3+4=@~_', '01HZX3Q5N8V3K6', 'c'.repeat(128), 'refused-1', 'health-1'];
    for (const [i, [label, call, status]] of cases.entries()) {
      const res = await call();
      await res.arrayBuffer();
      expect(res.status, label).toBe(status);
      expect(res.headers.get('x-request-id'), label).toBe(sent[i]);
    }
  });

  it('without one, or with one that is not plain, each request gets a fresh UUID and the client value is neither echoed nor logged', async () => {
    lines.length = 0;
    const bad = ['', 'x'.repeat(129), 'has space', '<script>', 'quote"d', 'ünï'];
    const ids: string[] = [];
    for (const value of [undefined, undefined, ...bad]) {
      const headers: Record<string, string> = value === undefined ? {} : { 'x-request-id': value };
      const res = await send('GET', '/v1/ids', { headers });
      await res.arrayBuffer();
      const id = res.headers.get('x-request-id')!;
      expect(id, JSON.stringify(value)).toMatch(UUID);
      ids.push(id);
    }
    expect(new Set(ids).size).toBe(ids.length);
    const output = lines.join('\n');
    for (const value of bad.filter((v) => v.length > 0)) expect(output).not.toContain(value);
    // ... and the fresh id is the one on that request's log line.
    expect(parsed().filter((l) => l['msg'] === 'request').map((l) => l['reqId'])).toEqual(ids);
  });
});

describe('log lines of a request', () => {
  it('every line written while a batch runs carries its request id; each operation line its index (and id where the format has one)', async () => {
    lines.length = 0;
    const res = await send('POST', '/v1/batch', {
      headers: { 'x-request-id': 'batch-log-1' },
      body: [
        { id: 'make', method: 'PUT', path: '/v1/logged/a', body: JSON.stringify({ v: 1 }) },
        { id: 'read', method: 'GET', path: '/v1/logged/a' },
        { id: 'gone', method: 'GET', path: '/v1/logged/none' },
      ],
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Array<{ code: number }>).map((r) => r.code)).toEqual([201, 200, 404]);
    const all = parsed();
    expect(all.length).toBeGreaterThan(3);
    for (const line of all) expect(line['reqId'], JSON.stringify(line)).toBe('batch-log-1');
    const ops = all.filter((l) => l['msg'] === 'batch operation');
    expect(ops.map((l) => [l['index'], l['opId'], l['dialect'], l['op'].status])).toEqual([
      [0, 'make', 'requests', 201],
      [1, 'read', 'requests', 200],
      [2, 'gone', 'requests', 404],
    ]);
    const request = all.filter((l) => l['msg'] === 'request');
    expect(request).toHaveLength(1);
    expect(request[0]).toMatchObject({ reqId: 'batch-log-1', method: 'POST', path: '/v1/batch', dialect: 'requests', status: 200 });
  });

  it('an operation that never ran (a failed dependency) still gets its line, with its index', async () => {
    lines.length = 0;
    const res = await send('POST', '/v1/$batch', {
      headers: { 'x-request-id': 'graph-log-1' },
      body: {
        requests: [
          { id: '1', method: 'GET', url: '/v1/logged/absent' },
          { id: '2', method: 'GET', url: '/v1/logged/a', dependsOn: ['1'] },
        ],
      },
    });
    expect(res.status).toBe(200);
    const all = parsed();
    for (const line of all) expect(line['reqId']).toBe('graph-log-1');
    const notRun = all.filter((l) => l['msg'] === 'batch operation not run');
    expect(notRun.map((l) => [l['index'], l['opId'], l['op'].status])).toEqual([[1, '2', 424]]);
  });
});

describe('credentials never reach the log', () => {
  it('tokens in Authorization, ?token= (batch and operation), Cookie, X-Api-Key and Proxy-Authorization, in every place a client can put them', async () => {
    lines.length = 0;
    const secrets = {
      cookie: 'session=cookie-secret-7f3a',
      apiKey: 'api-key-secret-19bd',
      proxy: 'Basic cHJveHktc2VjcmV0LTU1Yzk=',
    };
    const responses = await Promise.all([
      // The batch's own bearer token, and credential headers on the batch and on its operations.
      send('POST', '/batch', {
        headers: { cookie: secrets.cookie, 'x-api-key': secrets.apiKey, 'proxy-authorization': secrets.proxy },
        body: {
          requests: [
            { method: 'PUT', path: '/v1/creds/a', headers: { Authorization: `Bearer ${TOKENS.globex}`, Cookie: secrets.cookie, 'X-Api-Key': secrets.apiKey }, body: { v: 1 } },
            { method: 'GET', path: '/v1/creds/a', headers: { 'Proxy-Authorization': secrets.proxy } },
          ],
        },
      }),
      // ?token= on the batch URL and in an operation's path (the requests format).
      send('POST', `/v1/batch?token=${TOKENS.acme}`, {
        token: null,
        body: [
          { id: '1', method: 'GET', path: `/v1/creds/a?token=${TOKENS.acmeRead}` },
          { id: '2', method: 'GET', path: '/v1/creds/a', headers: `Authorization: Bearer ${TOKENS.acmeAdmin}\nCookie: ${secrets.cookie}` },
        ],
      }),
      // A single request with ?token=, and one with a wrong token (refused: 401 is logged too).
      send('GET', `/v1/creds/a?token=${TOKENS.acme}`, { token: null }),
      send('GET', '/v1/creds/a', { token: 'wrong-token-secret-8c1e' }),
      // The admin route that creates a token: its answer holds a new secret.
      send('POST', '/admin/tokens', { token: TOKENS.acmeAdmin, body: { tenant: 'acme', scopes: ['read'] } }),
    ]);
    const statuses = await Promise.all(responses.map(async (r) => ({ status: r.status, body: await r.text() })));
    expect(statuses.map((r) => r.status)).toEqual([200, 200, 200, 401, 201]);
    const created = (JSON.parse(statuses[4]!.body) as { token: string }).token;
    expect(created.length).toBeGreaterThan(10);

    const output = lines.join('\n');
    // The run was logged (its paths are there, without their queries) ...
    expect(parsed().filter((l) => l['msg'] === 'batch operation').length).toBe(4);
    expect(output).toContain('"path":"/v1/creds/a"');
    // ... and no credential is.
    for (const secret of [TOKENS.acme, TOKENS.acmeRead, TOKENS.acmeAdmin, TOKENS.globex, 'wrong-token-secret-8c1e', created, 'cookie-secret-7f3a', secrets.apiKey, 'cHJveHktc2VjcmV0LTU1Yzk=']) {
      expect(output, `a credential reached the log: ${secret.slice(0, 6)}…`).not.toContain(secret);
    }
  });
});
