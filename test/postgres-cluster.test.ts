import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCI, PG_TEST_URL, pgAvailable, POSTGRES_BACKEND, withPgClient } from './support/backends.js';
import { startTestServer, TOKEN_LIST, TOKENS, type TestServer } from './support/server.js';

/**
 * PostgreSQL only: several Omnibus nodes on one database, and connections
 * killed under load. Skipped loudly when PostgreSQL is unreachable, except in
 * CI, where that fails the run.
 */
const available = await pgAvailable();
if (!available && !isCI()) console.warn('\n*** PostgreSQL unreachable: postgres-cluster tests SKIPPED (they fail under CI=true) ***\n');
const run = available || isCI();

const admin = withPgClient;

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

const BIN = join(import.meta.dirname, '..', 'bin', 'omnibus.js');

function startNode(databaseUrl: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl, OMNIBUS_TOKENS: TOKEN_LIST, LOG_LEVEL: 'warn' };
  delete env['OMNIBUS_DB'];
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('exit', (code) => reject(new Error(`node exited (${code}): ${out}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { ready, stop: async () => (child.kill('SIGTERM'), exited) };
}

async function ops(url: string, token: string, requests: unknown[]) {
  const res = await fetch(`${url}/batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ requests }),
  });
  return { status: res.status, json: (await res.json()) as any };
}

describe.runIf(run)('two Omnibus processes on one PostgreSQL database', () => {
  const database = `omnibus_nodes_${randomBytes(5).toString('hex')}`;
  const url = withDatabase(PG_TEST_URL, database);
  let nodes: Array<ReturnType<typeof startNode>> = [];
  let urls: string[] = [];

  beforeAll(async () => {
    await admin(PG_TEST_URL, (c) => c.query(`CREATE DATABASE ${database}`));
    nodes = [startNode(url), startNode(url)];
    urls = await Promise.all(nodes.map((n) => n.ready));
  }, 60_000);
  afterAll(async () => {
    for (const n of nodes) await n.stop();
    await admin(PG_TEST_URL, (c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
  }, 60_000);

  it('interleaved If-Match increments through both nodes lose no update', async () => {
    await ops(urls[0]!, TOKENS.acme, [{ method: 'PUT', path: '/v1/counters/shared', body: { n: 0 } }]);
    let successes = 0;
    const client = async (k: number) => {
      for (let done = 0; done < 20; ) {
        const node = urls[(k + done) % 2]!;
        const read = (await ops(node, TOKENS.acme, [{ method: 'GET', path: '/v1/counters/shared' }])).json.responses[0];
        const other = urls[(k + done + 1) % 2]!;
        const write = await ops(other, TOKENS.acme, [
          { method: 'PUT', path: '/v1/counters/shared', headers: { 'If-Match': read.headers.etag }, body: { n: read.body.n + 1 } },
        ]);
        const status = write.json.responses[0].status;
        expect([200, 412]).toContain(status);
        if (status === 200) {
          successes++;
          done++;
        }
      }
    };
    await Promise.all(Array.from({ length: 6 }, (_, k) => client(k)));
    const final = (await ops(urls[1]!, TOKENS.acme, [{ method: 'GET', path: '/v1/counters/shared' }])).json.responses[0];
    expect(successes).toBe(120);
    expect(final.body.n).toBe(120);
  }, 120_000);

  it('tenants never see each other across nodes, even with the same ids', async () => {
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        Promise.all([
          ops(urls[i % 2]!, TOKENS.acme, [{ method: 'PUT', path: `/v1/twin/r${i}`, body: { owner: 'acme', i } }]),
          ops(urls[(i + 1) % 2]!, TOKENS.globex, [{ method: 'PUT', path: `/v1/twin/r${i}`, body: { owner: 'globex', i } }]),
        ]),
      ),
    );
    for (const [token, owner] of [
      [TOKENS.acme, 'acme'],
      [TOKENS.globex, 'globex'],
    ] as const) {
      for (const node of urls) {
        const list = (await ops(node, token, [{ method: 'GET', path: '/v1/twin?$top=100' }])).json.responses[0].body.items;
        expect(list).toHaveLength(10);
        expect(new Set(list.map((x: any) => x.owner))).toEqual(new Set([owner]));
      }
    }
  }, 60_000);
});

describe.runIf(run)('PostgreSQL connections killed while batches run', () => {
  const appName = `omnibus_chaos_${randomBytes(4).toString('hex')}`;
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({}, { ...POSTGRES_BACKEND, open: () => POSTGRES_BACKEND.open({ postgres: { applicationName: appName } }) });
  }, 60_000);
  afterAll(() => s?.close());

  const kill = () =>
    admin(PG_TEST_URL, (c) =>
      c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [appName]),
    );

  it('in-flight batches fail cleanly (5xx, groups rolled back) and the server recovers without a restart', async () => {
    const batches = 40;
    const statuses: number[] = [];
    const work = (async () => {
      for (let b = 0; b < batches; b++) {
        const res = await s.call('POST', '/v1/batch', {
          json: Array.from({ length: 5 }, (_, i) => ({ id: String(i), method: 'PUT', path: `/v1/chaos/b${b}-${i}`, body: '{"x":1}', transaction: 'T' })),
        });
        expect(res.status).toBe(200);
        for (const r of res.json) statuses.push(r.code);
        // Either every member committed or none did.
        const codes = new Set<number>(res.json.map((r: any) => r.code as number));
        expect(codes.has(201) ? codes.size === 1 : [...codes].every((c) => c >= 424)).toBe(true);
      }
    })();
    const chaos = (async () => {
      for (let k = 0; k < 6; k++) {
        await new Promise((r) => setTimeout(r, 40));
        await kill();
      }
    })();
    await Promise.all([work, chaos]);
    expect(statuses.filter((c) => c >= 500).length).toBeGreaterThan(0);
    expect(statuses.every((c) => c === 201 || c === 424 || c >= 500)).toBe(true);

    // No group left half-written.
    const items = (await s.call('GET', '/v1/chaos?$top=1000')).json.items as Array<{ id: string }>;
    const perBatch = new Map<string, number>();
    for (const it of items) {
      const b = it.id.split('-')[0]!;
      perBatch.set(b, (perBatch.get(b) ?? 0) + 1);
    }
    for (const n of perBatch.values()) expect(n).toBe(5);

    // Recovered: new work succeeds on fresh connections.
    const after = await s.call('POST', '/batch', { json: { requests: [{ method: 'PUT', path: '/v1/chaos/after', body: {} }] } });
    expect(after.json.responses[0].status).toBe(201);
  }, 120_000);
});
