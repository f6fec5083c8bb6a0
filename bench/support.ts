import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS, type Config } from '../src/config.js';
import { startServer, type RunningServer } from '../src/server.js';
import type { Store } from '../src/store/types.js';

export const BENCH_TOKEN = 'bench-token';

export interface BenchServer extends RunningServer {
  post(path: string, body: unknown): Promise<{ status: number; text: string }>;
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; text: string; etag: string | null }>;
}

/** A real server on 127.0.0.1 with a fresh SQLite file (synchronous=FULL, the store default). */
export async function benchServer(overrides: Partial<Config> = {}, store?: Store): Promise<BenchServer> {
  const dir = mkdtempSync(join(tmpdir(), 'omnibus-bench-'));
  const server = await startServer({
    ...DEFAULTS,
    port: 0,
    sqlitePath: join(dir, 'bench.db'),
    tokens: `${BENCH_TOKEN}=bench:read,write`,
    ...overrides,
  }, { store });
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const request = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    httpCall(agent, server.port, method, path, body === undefined ? undefined : JSON.stringify(body), {
      authorization: `Bearer ${BENCH_TOKEN}`,
      'content-type': 'application/json',
      ...headers,
    });
  return {
    ...server,
    request,
    post: (path, body) => request('POST', path, body),
    async close() {
      agent.destroy();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Rounds of every variant run before measuring. A fresh server runs its first
 * few dozen batches of a kind before V8 has optimised their code paths: with 3
 * warm-up rounds, the variant measured first in a process (the Composite
 * creates, say) stayed some 30 % slower than in steady state for much of its
 * measured rounds, which a median over 21 rounds does not hide.
 */
export const WARM_UP_ROUNDS = 20;

/**
 * The order in which a round runs its variants: a shuffle, seeded by the
 * round so that a run can be repeated. Not a plain alternation (0 1, 1 0,
 * ...): a young-generation GC comes every few megabytes allocated, which with
 * 100-operation batches is every six or so, and a fixed cycle of variants
 * can then keep landing it (~2 ms) in the same variant round after round,
 * shifting that variant's median by a third in one process and not at all in
 * the next.
 */
export function roundOrder(variants: number, round: number): number[] {
  const order = Array.from({ length: variants }, (_, k) => k);
  // mulberry32: a small, good-enough generator for a shuffle.
  let seed = (round + 1) * 0x9e3779b9;
  const random = (): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/**
 * Runs each variant `rounds` times after WARM_UP_ROUNDS warm-up rounds
 * (given the round numbers -1, -2, ...), every round's variants in
 * `roundOrder`; answers each variant's results in round order, so that
 * results of the same round can be set side by side.
 */
export async function interleavedRounds<T>(variants: readonly ((round: number) => Promise<T>)[], rounds: number): Promise<T[][]> {
  const results = variants.map((): T[] => []);
  for (let w = 0; w < WARM_UP_ROUNDS; w++) for (const v of variants) await v(-1 - w);
  for (let round = 0; round < rounds; round++) {
    for (const k of roundOrder(variants.length, round)) results[k]!.push(await variants[k]!(round));
  }
  return results;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Times `fn` in milliseconds. */
export async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/** Where `npm run bench` writes its JSON results: `.tmp/bench/` (ignored by git, so a run never changes tracked files). */
export const RESULTS_DIR = join(import.meta.dirname, '..', '.tmp', 'bench');

export function writeResults(name: string, data: unknown): string {
  const dir = RESULTS_DIR;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ measuredAt: new Date().toISOString(), node: process.version, ...(data as object) }, null, 2) + '\n');
  return file;
}

export function expect(label: string, ok: boolean, detail: string): { label: string; ok: boolean; detail: string } {
  return { label, ok, detail };
}

/**
 * One HTTP request over a keep-alive agent. node:http rather than fetch: the
 * client runs in the same process as the server, and undici's fetch would
 * charge its own overhead to every variant that goes over HTTP.
 */
export function httpCall(
  agent: Agent,
  port: number,
  method: string,
  path: string,
  body: string | undefined,
  headers: Record<string, string>,
): Promise<{ status: number; text: string; etag: string | null }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const etag = res.headers.etag;
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), etag: typeof etag === 'string' ? etag : null });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
