import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCI, PG_TEST_URL, pgAvailable, withPgClient } from './support/backends.js';
import { TOKEN_LIST, TOKENS } from './support/server.js';

/**
 * PostgreSQL only: the rate limit's buckets live in the database, so two
 * Omnibus processes on one database spend from one budget. Skipped loudly
 * when PostgreSQL is unreachable, except in CI, where that fails the run.
 */
const available = await pgAvailable();
if (!available && !isCI()) console.warn('\n*** PostgreSQL unreachable: rate-limit cluster tests SKIPPED (they fail under CI=true) ***\n');

const ROOT = join(import.meta.dirname, '..');

function startNode(databaseUrl: string, env: Record<string, string>) {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl, OMNIBUS_TOKENS: TOKEN_LIST, LOG_LEVEL: 'warn', ...env };
  delete childEnv['OMNIBUS_DB'];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--port', '0'], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
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

describe.runIf(available || isCI())('two Omnibus processes share one rate-limit budget on PostgreSQL', () => {
  const database = `omnibus_rl_${randomBytes(5).toString('hex')}`;
  const url = new URL(PG_TEST_URL);
  url.pathname = `/${database}`;
  let nodes: Array<ReturnType<typeof startNode>> = [];
  let urls: string[] = [];

  beforeAll(async () => {
    await withPgClient(PG_TEST_URL, (c) => c.query(`CREATE DATABASE ${database}`));
    nodes = [startNode(url.toString(), { OMNIBUS_RATE_LIMIT: '20/3600s' }), startNode(url.toString(), { OMNIBUS_RATE_LIMIT: '20/3600s' })];
    urls = await Promise.all(nodes.map((n) => n.ready));
  }, 90_000);
  afterAll(async () => {
    for (const n of nodes) await n.stop();
    await withPgClient(PG_TEST_URL, (c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
  }, 60_000);

  const batch = async (node: string, n: number): Promise<number[]> => {
    const res = await fetch(`${node}/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.acme}`, 'content-type': 'application/json' },
      body: JSON.stringify({ requests: Array.from({ length: n }, (_, i) => ({ method: 'GET', path: `/v1/shared/r${i}` })) }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { responses: Array<{ status: number }> }).responses.map((r) => r.status);
  };

  it('batches through both nodes, one after another and at the same time, get exactly the budget between them', async () => {
    // 3 batches of 5, alternating nodes: 15 of the 20 tokens.
    const first = [...(await batch(urls[0]!, 5)), ...(await batch(urls[1]!, 5)), ...(await batch(urls[0]!, 5))];
    expect(first.every((s) => s === 404)).toBe(true);
    // 6 batches of 5 at once over both nodes: only 5 tokens are left.
    const rest = (await Promise.all(Array.from({ length: 6 }, (_, i) => batch(urls[i % 2]!, 5)))).flat();
    expect(rest.filter((s) => s !== 429)).toHaveLength(5);
    // A single request on either node is over the budget now.
    for (const node of urls) {
      const res = await fetch(`${node}/v1/shared/x`, { headers: { authorization: `Bearer ${TOKENS.acme}` } });
      expect(res.status).toBe(429);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    // Another principal's budget is its own, on both nodes.
    const globex = await fetch(`${urls[1]}/v1/shared/x`, { headers: { authorization: `Bearer ${TOKENS.globex}` } });
    expect(globex.status).toBe(404);
  }, 60_000);
});
