import { existsSync } from 'node:fs';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { enabledBackends } from './support/backends.js';
import { childDatabase, startChildServer, type ChildServer } from './support/child-server.js';
import { TOKENS } from './support/server.js';

/**
 * `omnibus serve` as a child process, stopped by SIGTERM / SIGINT while
 * batches are in flight, over real HTTP on 127.0.0.1. A request is in flight
 * for certain once the server has answered its `Expect: 100-continue` (it
 * has read the headers), so every batch here asks for that; half send their
 * body right before the signal, half after it.
 */

const enabled = await enabledBackends();
const BATCHES = 20;
const OPS = 100;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** A POST sent in two steps: headers now (resolves `continued` once the server read them), the body with `send()`. */
interface HeldRequest {
  continued: Promise<void>;
  send(): void;
  answer: Promise<Answer>;
}

function heldPost(base: string, path: string, body: string, agent: Agent): HeldRequest {
  const url = new URL(path, base);
  let sendBody = (): void => {};
  let continued!: Promise<void>;
  const answer = new Promise<Answer>((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      agent,
      headers: {
        authorization: `Bearer ${TOKENS.acme}`,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        expect: '100-continue',
      },
    });
    continued = new Promise<void>((resolveContinue) => req.once('continue', () => resolveContinue()));
    sendBody = () => req.end(body);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.flushHeaders();
  });
  answer.catch(() => {});
  return { continued, send: () => sendBody(), answer };
}

/**
 * A batch of `OPS` creates of `{batch, n}`, in the ops (`/batch`) or the atomic parts (`/batch/parts`) form;
 * `created` reads the `n` of each record its answer says was created (-1 for an operation that failed).
 */
function markedBatch(batch: number): { path: string; body: string; created(json: any): number[] } {
  const records = Array.from({ length: OPS }, (_, n) => ({ batch, n }));
  if (batch % 2 === 0) {
    return {
      path: '/batch',
      body: JSON.stringify({ requests: records.map((r) => ({ method: 'POST', path: '/v1/shutdown', body: r })) }),
      created: (json) => json.responses.map((r: { status: number; body: { n: number } }) => (r.status === 201 ? r.body.n : -1)),
    };
  }
  return {
    path: '/batch/parts',
    body: JSON.stringify({ parts: records.map((r, i) => ({ id: `p${i}`, path: '/v1/shutdown', operation: 'create', payload: r })) }),
    created: (json) => json.parts.map((p: { payload: { id?: string; n: number } }) => (p.payload.id ? p.payload.n : -1)),
  };
}

/** Whether a new TCP connection to `port` is refused. */
function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** An idle keep-alive connection (after one answered GET /healthz), and a promise that it was closed. */
async function idleKeepAlive(base: string): Promise<{ agent: Agent; closed: Promise<void> }> {
  const agent = new Agent({ keepAlive: true });
  const socket = await new Promise<Socket>((resolve, reject) => {
    request(new URL('/healthz', base), { agent }, (res) => {
      const socket = res.socket;
      res.resume();
      res.on('end', () => resolve(socket));
    })
      .on('error', reject)
      .end();
  });
  return { agent, closed: new Promise<void>((r) => socket.once('close', () => r())) };
}

const children: ChildServer[] = [];
afterAll(() => {
  for (const c of children) c.child.kill('SIGKILL');
});

describe.each(enabled)('graceful shutdown on $name', (backend) => {
  it(`SIGTERM with ${BATCHES} batches of ${OPS} writes in flight: every batch answers completely, new connections are refused, exit 0`, async () => {
    const db = await childDatabase(backend.name, 'shutdown');
    const deadlineMs = 20_000;
    const server = startChildServer({ ...db.env, LOG_LEVEL: 'info', LOG_FORMAT: 'json', OMNIBUS_BATCH_DEADLINE_MS: String(deadlineMs) });
    children.push(server);
    const agent = new Agent({ keepAlive: true, maxSockets: BATCHES });
    try {
      const base = await server.url;
      const port = Number(new URL(base).port);
      const idle = await idleKeepAlive(base);

      const batches = Array.from({ length: BATCHES }, (_, i) => ({ i, ...markedBatch(i) }));
      const held = batches.map((b) => heldPost(base, b.path, b.body, agent));
      await Promise.all(held.map((h) => h.continued));
      // All of them in flight: half with their bodies sent (running when the signal comes), half with bodies still to come.
      const [before, after] = [held.slice(0, BATCHES / 2), held.slice(BATCHES / 2)];
      before.forEach((h) => h.send());
      const signalled = Date.now();
      server.child.kill('SIGTERM');
      const stopped = await server.waitFor(/finishing (\d+) running requests/);
      // All 20, unless one of the first half was already answered when the signal was handled.
      expect(Number(stopped[1]), 'requests in flight when the signal came').toBeGreaterThan(BATCHES / 2);
      expect(await connectionRefused(port), 'a new connection after SIGTERM is refused').toBe(true);
      after.forEach((h) => h.send());

      const answers = await Promise.all(held.map((h) => h.answer));
      answers.forEach((a, i) => {
        expect(a.status, a.text).toBe(200);
        // A keep-alive connection ends with its answer: the client cannot send another request on it.
        expect(a.headers.connection).toBe('close');
        expect(batches[i]!.created(JSON.parse(a.text))).toEqual(Array.from({ length: OPS }, (_, n) => n));
      });
      await idle.closed;

      const exit = await server.exited;
      const tookMs = Date.now() - signalled;
      expect(exit, server.output()).toEqual({ code: 0, signal: null });
      expect(tookMs).toBeLessThan(deadlineMs);
      expect(server.output()).toMatch(/stopped: store closed/);
      console.log(`graceful shutdown (${backend.name}): ${BATCHES} batches of ${OPS} answered, exit 0 ${tookMs} ms after SIGTERM`);

      if (backend.name === 'sqlite') {
        expect(existsSync(`${db.env['OMNIBUS_DB']}-wal`), 'the -wal file is left behind only by a store that was not closed').toBe(false);
      }
      // Every write is there.
      const sql =
        backend.name === 'sqlite'
          ? "SELECT json_extract(data, '$.batch') AS batch, COUNT(*) AS n FROM records WHERE collection = 'shutdown' GROUP BY 1 ORDER BY 1"
          : "SELECT (data->>'batch')::int AS batch, COUNT(*)::int AS n FROM records WHERE collection = 'shutdown' GROUP BY 1 ORDER BY 1";
      const counts = await db.query<{ batch: number; n: number }>(sql);
      expect(counts).toEqual(batches.map((b) => ({ batch: b.i, n: OPS })));
      idle.agent.destroy();
    } finally {
      agent.destroy();
      server.child.kill('SIGKILL');
      await server.exited;
      await db.cleanup();
    }
  }, 60_000);
});

describe('graceful shutdown: the deadline and a second signal (SQLite)', () => {
  it('at the batch deadline a batch that starts late answers 504 deadline_exceeded for its operations; a request still unanswered after the grace is cut, exit 1', async () => {
    const db = await childDatabase('sqlite', 'shutdown');
    const deadlineMs = 500;
    const server = startChildServer({ ...db.env, LOG_LEVEL: 'info', LOG_FORMAT: 'json', OMNIBUS_BATCH_DEADLINE_MS: String(deadlineMs) });
    children.push(server);
    const agent = new Agent({ keepAlive: true });
    try {
      const base = await server.url;
      const late = markedBatch(0);
      const lateBatch = heldPost(base, late.path, late.body, agent);
      const never = heldPost(base, '/batch', markedBatch(2).body, agent);
      await Promise.all([lateBatch.continued, never.continued]);
      const signalled = Date.now();
      server.child.kill('SIGTERM');
      await server.waitFor(/finishing 2 running requests/);
      // Its body arrives after the shutdown's deadline (but within the grace): nothing of it may start.
      await new Promise((r) => setTimeout(r, deadlineMs + 300));
      lateBatch.send();
      const answer = await lateBatch.answer;
      expect(answer.status, answer.text).toBe(200);
      const results = JSON.parse(answer.text).responses as Array<{ status: number; body: { code: string } }>;
      expect(results).toHaveLength(OPS);
      for (const r of results) expect([r.status, r.body.code]).toEqual([504, 'deadline_exceeded']);

      // The other client never sends its body: at deadline + grace its connection is ended.
      await expect(never.answer).rejects.toThrow(/socket hang up|ECONNRESET/);
      const exit = await server.exited;
      const tookMs = Date.now() - signalled;
      expect(exit, server.output()).toEqual({ code: 1, signal: null });
      expect(tookMs).toBeGreaterThanOrEqual(deadlineMs + 2000 - 50);
      expect(server.output()).toMatch(/ended 1 requests before they were answered/);
      expect(await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM records WHERE collection = 'shutdown'")).toEqual([{ n: 0 }]);
    } finally {
      agent.destroy();
      server.child.kill('SIGKILL');
      await server.exited;
      await db.cleanup();
    }
  }, 30_000);

  it('a second signal ends the running requests at once, exit 1', async () => {
    const db = await childDatabase('sqlite', 'shutdown');
    const deadlineMs = 20_000;
    const server = startChildServer({ ...db.env, LOG_LEVEL: 'info', LOG_FORMAT: 'json', OMNIBUS_BATCH_DEADLINE_MS: String(deadlineMs) });
    children.push(server);
    const agent = new Agent({ keepAlive: true });
    try {
      const base = await server.url;
      const held = heldPost(base, '/batch', markedBatch(0).body, agent);
      await held.continued;
      const signalled = Date.now();
      server.child.kill('SIGTERM');
      await server.waitFor(/finishing 1 running requests/);
      server.child.kill('SIGINT');
      await expect(held.answer).rejects.toThrow(/socket hang up|ECONNRESET/);
      const exit = await server.exited;
      expect(exit, server.output()).toEqual({ code: 1, signal: null });
      expect(Date.now() - signalled).toBeLessThan(deadlineMs / 2);
      expect(server.output()).toMatch(/SIGINT again: ending running requests now/);
    } finally {
      agent.destroy();
      server.child.kill('SIGKILL');
      await server.exited;
      await db.cleanup();
    }
  }, 30_000);
});
