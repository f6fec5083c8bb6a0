/**
 * omnibus/express and omnibus/fastify (issue 16): 100 GETs in one batch,
 * dispatched in-process through the user's own app, against the loopback
 * pattern of today's Express batch middlewares (each sub-request re-issued
 * over keep-alive HTTP to the same server) and against 100 separate
 * keep-alive requests. Same app, same routes, same auth middleware for every
 * variant; interleaved rounds, medians, ratios side by side.
 *
 * Also (d): the same 100 GETs dispatched through the tool each adapter
 * dispatches with (light-my-request for Express, `app.inject` for Fastify),
 * bare, with no Omnibus and no batch around them. Loopback (b) over (d) is
 * the most any in-process batch through that tool can reach on this
 * machine: the ceiling of the first ratio.
 */
import type { Server } from 'node:http';
import { Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { omnibus as omnibusExpress } from '../src/adapters/express/index.js';
import { expressInjector } from '../src/adapters/express/inject.js';
import { batchPrincipal, omnibus as omnibusFastify } from '../src/adapters/fastify/index.js';
import type { Principal } from '../src/auth/principal.js';
import { httpCall, interleavedRounds, median, time, writeResults } from './support.js';

const N = 100;
const ROUNDS = 21;
const TOKEN = 'bench-token';
const principal: Principal = { subject: 'bench', tenant: 'bench', scopes: new Set(['read']) };
const authenticate = (token: string | undefined) => (token === TOKEN ? principal : undefined);
const items = new Map(Array.from({ length: N }, (_, i) => [`r${i}`, { id: `r${i}`, title: `item ${i}`, n: i }]));
const paths = Array.from({ length: N }, (_, i) => `/v1/items/r${i}`);
const HEADERS = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

interface Op {
  method: string;
  path: string;
}

/** One GET dispatched in-process, bare: the status it answered. */
type BareDispatch = (path: string) => Promise<number>;

/** The user's own auth, as a route middleware: the batch principal inside a batch, the bearer token otherwise. */
function who(authorization: string | undefined): Principal | undefined {
  return batchPrincipal() ?? authenticate(/^Bearer (\S+)$/.exec(authorization ?? '')?.[1]);
}

/**
 * The loopback pattern: parse the batch, then re-issue every operation as an
 * HTTP request to this same server over a keep-alive agent, forwarding the
 * batch's Authorization, one after another (as Omnibus runs this batch).
 */
async function loopback(port: number, agent: Agent, ops: Op[], authorization: string) {
  const responses = [];
  for (const op of ops) {
    const r = await httpCall(agent, port, op.method, op.path, undefined, { authorization });
    responses.push({ status: r.status, body: r.text ? (JSON.parse(r.text) as unknown) : null });
  }
  return { responses };
}

async function expressApp() {
  const app = express();
  app.use(omnibusExpress({ authenticate }));
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  let port = 0;
  app.post('/loopback-batch', express.json({ limit: '10mb' }), (req: Request, res: Response, next: NextFunction) => {
    loopback(port, agent, (req.body as { requests: Op[] }).requests, req.get('authorization') ?? '').then((b) => res.json(b), next);
  });
  const v1 = express.Router();
  v1.use((req, res, next) => (who(req.headers.authorization) ? next() : res.status(401).json({ code: 'unauthorized' })));
  v1.get('/items/:id', (req, res) => {
    const item = items.get(String(req.params['id']));
    if (!item) return res.status(404).json({ code: 'not_found' });
    res.json(item);
  });
  app.use('/v1', v1);
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  port = (server.address() as AddressInfo).port;
  const injectOne = expressInjector(app);
  const bare: BareDispatch = async (path) => (await injectOne({ method: 'GET', url: path, headers: { authorization: HEADERS.authorization }, validate: false })).statusCode;
  return { port, bare, close: () => (agent.destroy(), new Promise((r) => server.close(r))) };
}

async function fastifyApp() {
  const app: FastifyInstance = Fastify();
  await app.register(omnibusFastify, { authenticate });
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  let port = 0;
  app.post('/loopback-batch', { bodyLimit: 10 * 1024 * 1024 }, async (req) =>
    loopback(port, agent, (req.body as { requests: Op[] }).requests, req.headers.authorization ?? ''),
  );
  await app.register(
    async (v1) => {
      v1.addHook('onRequest', async (req, reply) => {
        if (!who(req.headers.authorization)) return reply.code(401).send({ code: 'unauthorized' });
      });
      v1.get<{ Params: { id: string } }>('/items/:id', { schema: { params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } } } } }, async (req, reply) => {
        const item = items.get(req.params.id);
        if (!item) return reply.code(404).send({ code: 'not_found' });
        return item;
      });
    },
    { prefix: '/v1' },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as AddressInfo).port;
  const bare: BareDispatch = async (path) => (await app.inject({ method: 'GET', url: path, headers: { authorization: HEADERS.authorization } })).statusCode;
  return { port, bare, close: () => (agent.destroy(), app.close()) };
}

/** The four variants against one app, each returning milliseconds for the whole workload of 100 GETs. */
function variants(port: number, bare: BareDispatch) {
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const ops = paths.map((path) => ({ method: 'GET', path }));
  const body = JSON.stringify({ requests: ops });
  const batch = (path: string) =>
    time(async () => {
      const r = await httpCall(agent, port, 'POST', path, body, HEADERS);
      const parsed = JSON.parse(r.text) as { responses: Array<{ status: number }> };
      if (r.status !== 200 || parsed.responses.length !== N || parsed.responses.some((x) => x.status !== 200)) {
        throw new Error(`${path} failed: ${r.status} ${r.text.slice(0, 200)}`);
      }
    });
  return {
    fns: {
      '(a) omnibus batch, in-process dispatch': () => batch('/batch'),
      '(b) loopback batch: each operation re-issued over keep-alive HTTP': () => batch('/loopback-batch'),
      '(c) 100 sequential keep-alive requests': () =>
        time(async () => {
          for (const path of paths) {
            const r = await httpCall(agent, port, 'GET', path, undefined, HEADERS);
            if (r.status !== 200) throw new Error(`GET ${path}: ${r.status}`);
          }
        }),
      '(d) bare in-process dispatch of the 100 GETs, no Omnibus': () =>
        time(async () => {
          for (const path of paths) {
            const status = await bare(path);
            if (status !== 200) throw new Error(`bare GET ${path}: ${status}`);
          }
        }),
    },
    close: () => agent.destroy(),
  };
}

/**
 * Medians per operation, in wall-clock microseconds and in CPU microseconds
 * of this process (client, server and loopback all run in it, so its CPU
 * time is the whole cost of the workload; on a shared machine it drifts less
 * than wall time).
 */
async function measure(port: number, bare: BareDispatch): Promise<{ wall: Record<string, number>; cpu: Record<string, number> }> {
  const v = variants(port, bare);
  try {
    const names = Object.keys(v.fns);
    const timed = Object.values(v.fns).map((fn) => async () => {
      const before = process.cpuUsage();
      const wall = await fn();
      const used = process.cpuUsage(before);
      return { wall, cpu: (used.user + used.system) / 1000 };
    });
    const timings = await interleavedRounds(timed, ROUNDS);
    const perOp = (kind: 'wall' | 'cpu') => Object.fromEntries(names.map((name, k) => [name, +((median(timings[k]!.map((t) => t[kind])) * 1000) / N).toFixed(1)]));
    return { wall: perOp('wall'), cpu: perOp('cpu') };
  } finally {
    v.close();
  }
}

export default async function run(): Promise<Record<string, unknown>> {
  const wall: Record<string, Record<string, number>> = {};
  const cpu: Record<string, Record<string, number>> = {};
  for (const [name, start] of [
    ['Express 5', expressApp],
    ['Fastify 5', fastifyApp],
  ] as const) {
    const app = await start();
    try {
      const m = await measure(app.port, app.bare);
      wall[name] = m.wall;
      cpu[name] = m.cpu;
    } finally {
      await app.close();
    }
  }
  const A = '(a) omnibus batch, in-process dispatch';
  const B = '(b) loopback batch: each operation re-issued over keep-alive HTTP';
  const C = '(c) 100 sequential keep-alive requests';
  const D = '(d) bare in-process dispatch of the 100 GETs, no Omnibus';
  const ratios: Record<string, number> = {};
  for (const name of Object.keys(wall)) {
    for (const [kind, table] of [['wall', wall], ['cpu', cpu]] as const) {
      const row = table[name]!;
      ratios[`${name}, ${kind}: loopback (b) / omnibus (a)`] = +(row[B]! / row[A]!).toFixed(2);
      ratios[`${name}, ${kind}: separate requests (c) / omnibus (a)`] = +(row[C]! / row[A]!).toFixed(2);
      ratios[`${name}, ${kind}: ceiling, loopback (b) / bare dispatch (d)`] = +(row[B]! / row[D]!).toFixed(2);
    }
  }
  console.log('\nPer-operation wall-clock microseconds, 100 GETs (median of %d rounds)', ROUNDS);
  console.table(wall);
  console.log('Per-operation CPU microseconds of this process (client, server and loopback together)');
  console.table(cpu);
  console.log('\nRatios against the targets:');
  for (const [name, value] of Object.entries(ratios)) {
    const target = name.includes('loopback (b) / omnibus') ? 3 : undefined;
    const mark = target === undefined ? '    ' : value >= target ? 'MET ' : 'MISS';
    console.log(`  ${mark} ${name}: ${value}${target === undefined ? '' : ` (target >= ${target})`}`);
  }
  const file = writeResults('adapters', { perOperationMicroseconds: { wall, cpu }, ratios });
  console.log(`\nwritten ${file}`);
  return { wall, cpu, ratios };
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
