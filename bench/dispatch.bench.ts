import type { AddressInfo } from 'node:net';
import { Agent } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { ApiRequest } from '../src/api/types.js';
import { principalOf } from '../src/auth/tokens.js';
import { createHttpApp } from '../src/http/app.js';
import { BENCH_TOKEN, benchServer, httpCall, median, time, writeResults, type BenchServer } from './support.js';

const N = 100;
const ROUNDS = 7;
const principal = principalOf({ subject: 'bench', tenant: 'bench', scopes: ['read', 'write'] });

interface Op {
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** An operation as the route handlers take it, built without HTTP, validation or header filtering. */
function toApiRequest(op: Op): ApiRequest {
  const q = op.path.indexOf('?');
  return {
    method: op.method,
    path: q < 0 ? op.path : op.path.slice(0, q),
    query: new URLSearchParams(q < 0 ? '' : op.path.slice(q + 1)),
    headers: new Map(Object.entries(op.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    body: op.body === undefined ? { kind: 'none' } : { kind: 'json', value: op.body },
    principal,
  };
}

type Workload = { name: string; ops: (s: BenchServer, round: number, variant: string) => Promise<Op[]> };

const WORKLOADS: Workload[] = [
  {
    name: '100 GETs',
    ops: async () => Array.from({ length: N }, (_, i) => ({ method: 'GET', path: `/v1/items/r${i}` })),
  },
  {
    name: '100 creates',
    ops: async () => Array.from({ length: N }, (_, i) => ({ method: 'POST', path: '/v1/created', body: { i, title: `t${i}` } })),
  },
  {
    name: '100 PUTs with If-Match',
    ops: async (s) => {
      // Current ETags, read untimed before each measured run.
      const list = JSON.parse((await s.request('GET', `/v1/items?$top=${N}`)).text) as { items: Array<{ id: string; _etag: string }> };
      return list.items.map((it, i) => ({ method: 'PUT', path: `/v1/items/${it.id}`, headers: { 'If-Match': it._etag }, body: { i, v: Math.random() } }));
    },
  },
];

/**
 * A naive batch endpoint, as Express-style batch middlewares do it: parse the
 * batch, then for each operation build a Web Request (forwarding the batch's
 * Authorization), run it through the app with `app.fetch`, read `res.text()`.
 * It is served over HTTP like Omnibus's own endpoint, so both pay one round trip.
 */
async function naiveBatchServer(s: BenchServer) {
  const inner = createHttpApp(s.services);
  const app = new Hono();
  app.post('/naive-batch', async (c) => {
    const batch = (await c.req.json()) as { requests: Op[] };
    const auth = c.req.header('authorization') ?? '';
    const responses = [];
    for (const op of batch.requests) {
      const res = await inner.fetch(
        new Request(`http://in-process${op.path}`, {
          method: op.method,
          headers: { authorization: auth, 'content-type': 'application/json', ...op.headers },
          body: op.body === undefined ? undefined : JSON.stringify(op.body),
        }),
      );
      const body = await res.text();
      responses.push({ status: res.status, headers: Object.fromEntries(res.headers), body: body ? JSON.parse(body) : null });
    }
    return c.json({ responses });
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const srv = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(srv));
  });
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

/** The variants of SPEC issue 3, each returning milliseconds for the whole workload. */
function variants(s: BenchServer, naive: { port: number }) {
  const agent = new Agent({ keepAlive: true });
  const headers = { authorization: `Bearer ${BENCH_TOKEN}`, 'content-type': 'application/json' };
  return {
    '(a) omnibus batch over HTTP': async (ops: Op[]) =>
      time(async () => {
        const r = await s.post('/batch', { requests: ops });
        if (r.status !== 200) throw new Error(`batch failed: ${r.status} ${r.text.slice(0, 200)}`);
      }),
    '(b) 100 sequential keep-alive requests': async (ops: Op[]) =>
      time(async () => {
        for (const op of ops) await s.request(op.method, op.path, op.body, op.headers);
      }),
    '(c) 100 requests at concurrency 10': async (ops: Op[]) =>
      time(async () => {
        let next = 0;
        await Promise.all(
          Array.from({ length: 10 }, async () => {
            while (next < ops.length) {
              const op = ops[next++]!;
              await s.request(op.method, op.path, op.body, op.headers);
            }
          }),
        );
      }),
    '(d) naive batch over HTTP: app.fetch(new Request) + res.text()': async (ops: Op[]) =>
      time(async () => {
        const r = await httpCall(agent, naive.port, 'POST', '/naive-batch', JSON.stringify({ requests: ops }), headers);
        if (r.status !== 200) throw new Error(`naive batch failed: ${r.status}`);
      }),
    '(e) floor: route handlers called directly': async (ops: Op[]) => {
      const reqs = ops.map(toApiRequest);
      return time(async () => {
        for (const r of reqs) await s.services.api(r);
      });
    },
    '(e+json) floor plus one parse and stringify of the batch': async (ops: Op[]) => {
      const text = JSON.stringify({ requests: ops });
      return time(async () => {
        const batch = JSON.parse(text) as { requests: Op[] };
        const responses = [];
        for (const op of batch.requests) {
          const res = await s.services.api(toApiRequest(op));
          responses.push({ status: res.status, headers: res.headers, body: res.body ?? null });
        }
        JSON.stringify({ responses });
      });
    },
  };
}

async function atomicGroup(s: BenchServer): Promise<{ atomicMs: number; separateMs: number }> {
  const atomic: number[] = [];
  const separate: number[] = [];
  for (let round = 0; round < 5; round++) {
    const group = Array.from({ length: N }, (_, i) => ({
      id: String(i),
      method: 'POST',
      path: '/v1/atomic',
      body: JSON.stringify({ i, round }),
      transaction: 'all',
    }));
    atomic.push(
      await time(async () => {
        const r = await s.post('/v1/batch', group);
        if (r.status !== 200 || r.text.includes('"code":4')) throw new Error('atomic batch failed');
      }),
    );
    separate.push(
      await time(async () => {
        for (let i = 0; i < N; i++) {
          const r = await s.request('POST', '/v1/separate', { i, round });
          if (r.status !== 201) throw new Error('create failed');
        }
      }),
    );
  }
  return { atomicMs: median(atomic), separateMs: median(separate) };
}

export default async function run(): Promise<Record<string, unknown>> {
  const s = await benchServer();
  try {
    for (let i = 0; i < N; i++) await s.request('PUT', `/v1/items/r${i}`, { i, title: `item ${i}` });
    const naive = await naiveBatchServer(s);
    const v = variants(s, naive);
    const table: Record<string, Record<string, number>> = {};
    for (const w of WORKLOADS) {
      const samples: Record<string, number[]> = Object.fromEntries(Object.keys(v).map((k) => [k, []]));
      // Warm-up, then rounds with every variant side by side in each round.
      for (const [, fn] of Object.entries(v)) await fn(await w.ops(s, -1, 'warm'));
      for (let round = 0; round < ROUNDS; round++) {
        for (const [name, fn] of Object.entries(v)) samples[name]!.push(await fn(await w.ops(s, round, name)));
      }
      table[w.name] = Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, +((median(xs) * 1000) / N).toFixed(2)]));
    }
    const atomic = await atomicGroup(s);
    naive.close();
    const g = table['100 GETs']!;
    const a = g['(a) omnibus batch over HTTP']!;
    const ratios = {
      'GET: naive (d) / omnibus (a)': +(g['(d) naive batch over HTTP: app.fetch(new Request) + res.text()']! / a).toFixed(2),
      'GET: concurrency 10 (c) / omnibus (a)': +(g['(c) 100 requests at concurrency 10']! / a).toFixed(2),
      'GET: omnibus (a) / floor+json (e+json)': +(a / g['(e+json) floor plus one parse and stringify of the batch']!).toFixed(2),
      'atomic group of 100 creates: separate / atomic': +(atomic.separateMs / atomic.atomicMs).toFixed(2),
    };
    const targets = [
      ['GET: naive (d) / omnibus (a)', '>= 5'],
      ['GET: concurrency 10 (c) / omnibus (a)', '>= 3'],
      ['GET: omnibus (a) / floor+json (e+json)', '<= 3'],
      ['atomic group of 100 creates: separate / atomic', '>= 20'],
    ] as const;

    console.log('\nPer-operation microseconds (median of %d rounds, SQLite synchronous=FULL)', ROUNDS);
    console.table(table);
    console.log('Atomic group of 100 creates: %s ms in one batch vs %s ms as 100 separate HTTP creates', atomic.atomicMs.toFixed(1), atomic.separateMs.toFixed(1));
    console.log('\nRatios against the targets:');
    for (const [name, target] of targets) {
      const value = ratios[name];
      const ok = target.startsWith('>=') ? value >= Number(target.slice(3)) : value <= Number(target.slice(3));
      console.log(`  ${ok ? 'MET ' : 'MISS'} ${name}: ${value} (target ${target})`);
    }
    const file = writeResults('dispatch', { perOperationMicroseconds: table, atomic, ratios });
    console.log(`\nwritten ${file}`);
    return { table, atomic, ratios };
  } finally {
    await s.close();
  }
}
