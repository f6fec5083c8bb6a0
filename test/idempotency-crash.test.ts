import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCI, PG_TEST_URL, pgAvailable, withPgClient } from './support/backends.js';
import { TOKEN_LIST, TOKENS } from './support/server.js';

/**
 * Exactly once across crashes: a server process is killed with SIGKILL at
 * random moments while clients send keyed batches (and single writes) and
 * retry each until it is answered, against a server restarted after every
 * kill. Every request here runs in one transaction (a parts batch, a
 * transaction group, a single write, and ops batches that finish within one
 * batch commit), so its key is committed with its writes: afterwards every
 * request's records are there exactly once, and its answer names exactly
 * them, on SQLite and on PostgreSQL.
 */

const ROOT = join(import.meta.dirname, '..');
/** Kills per backend (both run side by side); each restart costs a tsx start-up, seconds on a loaded machine. */
const KILLS = 2;
const CLIENTS = 3;
const COLLECTION = 'crash';

interface Node {
  url: Promise<string>;
  child: ChildProcess;
  exited: Promise<void>;
}

function startNode(env: Record<string, string>): Node {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, OMNIBUS_TOKENS: TOKEN_LIST, LOG_LEVEL: 'warn', ...env };
  if (!env['DATABASE_URL']) delete childEnv['DATABASE_URL'];
  if (!env['OMNIBUS_DB']) delete childEnv['OMNIBUS_DB'];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--port', '0'], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('exit', (code, signal) => reject(new Error(`server exited (${code ?? signal}) before listening: ${out}`)));
  });
  url.catch(() => {});
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return { url, child, exited };
}

/** One keyed request and what it must leave behind: `count` records marked with its `batch` id. */
interface Job {
  batch: string;
  key: string;
  method: string;
  path: string;
  contentType: string;
  body: string;
  count: number;
  /** The record ids its answer names. */
  ids(status: number, json: any): string[];
}

function job(kind: number): Job {
  const batch = randomUUID();
  const key = `crash-${batch}`;
  const records = (n: number) => Array.from({ length: n }, (_, i) => ({ batch, i }));
  switch (kind % 4) {
    case 0: // ops batch of standalone creates, within one batch commit (OMNIBUS_BATCH_COMMIT_MS below)
      return {
        batch, key, method: 'POST', path: '/batch', contentType: 'application/json', count: 5,
        body: JSON.stringify({ requests: records(5).map((r) => ({ method: 'POST', path: `/v1/${COLLECTION}`, body: r })) }),
        ids: (_, json) => json.responses.map((r: any) => (r.status === 201 ? r.body.id : `failed ${r.status}`)),
      };
    case 1: // parts batch: all in one transaction
      return {
        batch, key, method: 'POST', path: '/batch/parts', contentType: 'application/json', count: 5,
        body: JSON.stringify({ parts: records(5).map((r, i) => ({ id: `p${i}`, path: `/v1/${COLLECTION}`, operation: 'create', payload: r })) }),
        ids: (_, json) => json.parts.map((p: any) => p.payload.id),
      };
    case 2: // requests batch: one transaction group
      return {
        batch, key, method: 'POST', path: '/v1/batch', contentType: 'application/json', count: 4,
        body: JSON.stringify(records(4).map((r, i) => ({ id: String(i), method: 'POST', path: `/v1/${COLLECTION}`, body: JSON.stringify(r), transaction: 't' }))),
        ids: (_, json) => json.map((r: any) => (r.code === 201 ? JSON.parse(r.body).id : `failed ${r.code}`)),
      };
    default: // a single write
      return {
        batch, key, method: 'POST', path: `/v1/${COLLECTION}`, contentType: 'application/json', count: 1,
        body: JSON.stringify({ batch, i: 0 }),
        ids: (status, json) => (status === 201 ? [json.id] : [`failed ${status}`]),
      };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts a server, kills it KILLS times at random moments (restarting it each
 * time) while CLIENTS clients send keyed jobs and retry each until answered;
 * then checks the records against the answers.
 */
async function crashAndCheck(env: Record<string, string>): Promise<{ jobs: number; kills: number; retries: number; replays: number }> {
  const serverEnv = { ...env, OMNIBUS_BATCH_COMMIT_MS: '60000', OMNIBUS_IDEMPOTENCY_LEASE_S: '60' };
  let node = startNode(serverEnv);
  let current = await node.url;
  let stopping = false;
  let retries = 0;
  let replays = 0;
  const answered: Array<{ job: Job; ids: string[]; how: string }> = [];
  const backend = env['DATABASE_URL'] ? 'postgres' : 'sqlite';
  const deadline = Date.now() + 90_000;

  const client = async (c: number) => {
    for (let k = c; !stopping; k += CLIENTS) {
      const j = job(k);
      for (let attempts = 1; ; attempts++) {
        if (Date.now() > deadline) throw new Error(`job ${j.batch} never got an answer`);
        let res: Response;
        try {
          res = await fetch(`${current}${j.path}`, {
            method: j.method,
            headers: { authorization: `Bearer ${TOKENS.acme}`, 'content-type': j.contentType, 'idempotency-key': j.key },
            body: j.body,
          });
        } catch {
          retries++; // the server died under it (or is not back yet): same key, same body, again
          await sleep(50 + Math.random() * 100);
          continue;
        }
        const text = await res.text();
        if (res.status === 409) {
          retries++;
          await sleep(200);
          continue;
        }
        expect([200, 201], text).toContain(res.status);
        if (res.headers.get('idempotent-replayed') === 'true') replays++;
        answered.push({ job: j, ids: j.ids(res.status, JSON.parse(text)), how: `${res.status}${res.headers.get('idempotent-replayed') === 'true' ? ' replayed' : ''} after ${attempts} attempt(s)` });
        break;
      }
    }
  };

  const killer = async () => {
    for (let k = 0; k < KILLS && !stopping; k++) {
      await sleep(300 + Math.random() * 1200);
      if (stopping) break;
      node.child.kill('SIGKILL');
      await node.exited;
      node = startNode(serverEnv);
      current = await node.url;
    }
    await sleep(500); // some work on the last server too
    stopping = true;
  };

  const killing = killer();
  try {
    await Promise.all([killing, ...Array.from({ length: CLIENTS }, (_, c) => client(c))]);
    // Every job was answered; now its records must be there exactly once, and be the ones its answer names.
    // Every page of the collection (a busy run writes more than the 1000 records of one page).
    const items: Array<{ id: string; batch: string; i: number }> = [];
    for (let page: string | null = `${current}/v1/${COLLECTION}?$top=1000`; page; ) {
      const res = await fetch(new URL(page, current), { headers: { authorization: `Bearer ${TOKENS.acme}` } });
      const body = (await res.json()) as { items: Array<{ id: string; batch: string; i: number }>; next: string | null };
      items.push(...body.items);
      page = body.next;
    }
    const byBatch = new Map<string, Array<{ id: string; i: number }>>();
    for (const it of items) byBatch.set(it.batch, [...(byBatch.get(it.batch) ?? []), { id: it.id, i: it.i }]);
    expect(answered.length).toBeGreaterThan(KILLS);
    for (const { job: j, ids, how } of answered) {
      const stored = byBatch.get(j.batch) ?? [];
      expect(stored.map((r) => r.i).sort(), `${backend}: records of job ${j.path} ${j.batch} (answered ${how}, naming ${ids.join(', ')})`).toEqual(Array.from({ length: j.count }, (_, i) => i));
      expect(stored.map((r) => r.id).sort()).toEqual([...ids].sort());
      byBatch.delete(j.batch);
    }
    // Nothing else was written: no records of requests that were never answered.
    expect([...byBatch.keys()]).toEqual([]);
    return { jobs: answered.length, kills: KILLS, retries, replays };
  } finally {
    stopping = true;
    await killing.catch(() => {});
    node.child.kill('SIGKILL');
    await node.exited;
  }
}

describe('Idempotency-Key across server crashes (kill -9)', () => {
  it('every keyed request\'s writes are present exactly once, on SQLite and on PostgreSQL', async () => {
    const runs: Array<Promise<unknown>> = [];
    const dir = mkdtempSync(join(tmpdir(), 'omnibus-crash-'));
    runs.push(crashAndCheck({ OMNIBUS_DB: join(dir, 'crash.db') }).then((r) => ({ sqlite: r })));

    const database = `omnibus_crash_${randomBytes(5).toString('hex')}`;
    const pg = (await pgAvailable()) || isCI();
    if (!pg) console.warn('\n*** PostgreSQL unreachable: the PostgreSQL half of the crash test is SKIPPED (it fails under CI=true) ***\n');
    if (pg) {
      await withPgClient(PG_TEST_URL, (c) => c.query(`CREATE DATABASE ${database}`));
      const url = new URL(PG_TEST_URL);
      url.pathname = `/${database}`;
      runs.push(crashAndCheck({ DATABASE_URL: url.toString() }).then((r) => ({ postgres: r })));
    }
    try {
      // Side by side: each run spends most of its time waiting for its server to start again.
      const results = await Promise.all(runs);
      console.log('crash test:', JSON.stringify(results));
    } finally {
      rmSync(dir, { recursive: true, force: true });
      if (pg) await withPgClient(PG_TEST_URL, (c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)).catch(() => {});
    }
  }, 180_000);
});
