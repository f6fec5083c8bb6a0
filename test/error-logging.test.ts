import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEFAULTS } from '../src/config.js';
import { startServer, type RunningServer } from '../src/server.js';
import { withPgClient, PG_TEST_URL, type BackendHandle } from './support/backends.js';
import { describeEachBackend, TOKEN_LIST, TOKENS } from './support/server.js';

const SECRET_VALUE = 'body-value-that-must-never-be-logged';

/**
 * A real store error inside a batch (a trigger on SQLite, a CHECK constraint
 * on PostgreSQL refuses the row) must reach the log once, at error level,
 * with what an operator needs, and nothing of the body or the token.
 */
describeEachBackend('5xx errors reach the log with their cause', (backend) => {
  let handle: BackendHandle;
  let server: RunningServer;
  const lines: string[] = [];

  beforeAll(async () => {
    handle = await backend.open();
    if (backend.name === 'sqlite') {
      const db = new Database(handle.location);
      db.exec(`CREATE TRIGGER refuse_boom BEFORE INSERT ON records WHEN json_extract(NEW.data, '$.boom') IS NOT NULL
               BEGIN SELECT RAISE(ABORT, 'refused by the refuse_boom trigger'); END`);
      db.close();
    } else {
      await withPgClient(PG_TEST_URL, (c) => c.query(`ALTER TABLE "${handle.location}".records ADD CONSTRAINT no_boom CHECK (NOT data ? 'boom')`));
    }
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    server = await startServer({ ...DEFAULTS, port: 0, tokens: TOKEN_LIST }, { store: handle.store, logger });
  });
  afterAll(async () => {
    await server?.close();
    await handle?.cleanup();
  });

  const errorLines = () => lines.map((l) => JSON.parse(l) as Record<string, any>).filter((l) => l['level'] >= 50);

  it('logs a store error inside an ops batch once, with dialect, index, code and stack', async () => {
    lines.length = 0;
    const res = await fetch(`${server.url}/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.acme}`, 'content-type': 'application/json', 'x-request-id': 'req-boom-1' },
      body: JSON.stringify({
        requests: [
          { method: 'PUT', path: '/v1/logged/fine', body: { ok: true } },
          { method: 'PUT', path: '/v1/logged/boom', body: { boom: SECRET_VALUE } },
        ],
      }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { responses: Array<{ status: number; body: { code: string } }> };
    expect(body.responses.map((r) => r.status)).toEqual([201, 500]);
    expect(body.responses[1]!.body.code).toBe('internal');
    const errors = errorLines();
    expect(errors).toHaveLength(1);
    const [line] = errors as [Record<string, any>];
    expect(line['reqId']).toBe('req-boom-1');
    expect(line['dialect']).toBe('ops');
    expect(line['index']).toBe(1);
    expect(line['method']).toBe('POST');
    expect(line['route']).toBe('/batch');
    expect(line['err'].message).toMatch(backend.name === 'sqlite' ? /refuse_boom/ : /no_boom/);
    expect(line['err'].code).toBe(backend.name === 'sqlite' ? 'SQLITE_CONSTRAINT_TRIGGER' : '23514');
    expect(line['err'].stack).toMatch(/\n\s+at /);
    const all = lines.join('\n');
    expect(all).not.toContain(SECRET_VALUE);
    expect(all).not.toContain(TOKENS.acme);
  });

  it('logs a store error of a single request with its request id, method and route', async () => {
    lines.length = 0;
    const res = await fetch(`${server.url}/v1/logged/single?token=${TOKENS.acme}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-boom-2' },
      body: JSON.stringify({ boom: SECRET_VALUE }),
    });
    expect(res.status).toBe(500);
    const errors = errorLines();
    expect(errors).toHaveLength(1);
    expect(errors[0]!['reqId']).toBe('req-boom-2');
    expect(errors[0]!['method']).toBe('PUT');
    expect(errors[0]!['route']).toBe('/v1/logged/single');
    expect(errors[0]!['dialect']).toBeUndefined();
    expect(errors[0]!['err'].code).toBe(backend.name === 'sqlite' ? 'SQLITE_CONSTRAINT_TRIGGER' : '23514');
    const all = lines.join('\n');
    expect(all).not.toContain(SECRET_VALUE);
    expect(all).not.toContain(TOKENS.acme);
  });

  it('does not log client mistakes at error level', async () => {
    lines.length = 0;
    const res = await fetch(`${server.url}/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.acme}`, 'content-type': 'application/json' },
      body: JSON.stringify({ requests: [{ method: 'GET', path: '/v1/logged/missing' }, { method: 'PATCH', path: '/v1/logged/missing', body: {} }] }),
    });
    expect(res.status).toBe(200);
    expect(errorLines()).toEqual([]);
  });
});
