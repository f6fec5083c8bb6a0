/**
 * The cost of refusing repeated member names (src/json/unique-members.ts) on
 * 100-operation batch documents, in-process, interleaved rounds, medians of
 * the per-round ratios:
 *
 * - parse: `parseJsonUnique` against plain `JSON.parse` (reported, no target:
 *   JSON.parse is native, and any check in JavaScript visits every member);
 * - decode: the dialect's whole decode, against the same decode with
 *   JSON.parse's time in place of parseJsonUnique's (target <= 1.1, on every
 *   document whose names are unique: the case every accepted batch pays);
 * - batch: what the check adds to a 100-PUT ops batch over HTTP on SQLite
 *   (the extra parse microseconds over the request's median time).
 *
 * For reference, a document with a string whose text starts with a colon,
 * which the count cannot tell from a member's colon, so it is scanned in
 * full (the slow path; a sender gains nothing by it but a scan of his own
 * bytes). Writes .tmp/bench/json-duplicates.json.
 */
import { Agent } from 'node:http';
import { jsonapiAtomicDialect, odataJsonDialect, opsDialect, requestsDialect, type Dialect } from '../src/dialects/index.js';
import { parseJsonUnique } from '../src/json/unique-members.js';
import { BENCH_TOKEN, benchServer, httpCall, median, writeResults } from './support.js';

const N = 100;
const ROUNDS = 31;
const ITERATIONS = 200;

const record = (i: number) => ({ title: `Book ${i}`, pages: i * 3, tags: ['a', 'b'], writer: { name: 'Ann', born: 1970 }, updated: '2026-12-01T10:30:00.000Z' });

interface Document {
  text: string;
  /** The dialect that reads it and its content type, for the decode figure. */
  dialect: Dialect;
  contentType: string;
}

const ops = (text: string): Document => ({ text, dialect: opsDialect, contentType: 'application/json' });
const OPS_TEXT = JSON.stringify({
  requests: Array.from({ length: N }, (_, i) => ({ method: 'PUT', path: `/v1/books/b${i}`, headers: { 'If-Match': `"e${i}"` }, body: record(i) })),
});
const SLOW_PATH = 'ops: the same 100 PUTs, one string starting with a colon (scanned in full)';

const DOCUMENTS: Record<string, Document> = {
  'ops: 100 PUTs with If-Match and a record body': ops(OPS_TEXT),
  'OData JSON: 100 requests, headers, bodies with ISO times (colons in strings)': {
    dialect: odataJsonDialect,
    contentType: 'application/json',
    text: JSON.stringify({
      requests: Array.from({ length: N }, (_, i) => ({
        id: String(i + 1),
        method: 'PATCH',
        url: `/v1/books/b${i}`,
        headers: { 'content-type': 'application/json', 'if-match': `"e${i}"` },
        body: { ...record(i), log: ['10:00 created', '10:30 edited', 'at 12:00:00'] },
        ...(i > 0 ? { dependsOn: [String(i)] } : {}),
      })),
    }),
  },
  'JSON:API atomic: 100 adds with relationships': {
    dialect: jsonapiAtomicDialect,
    contentType: 'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic"',
    text: JSON.stringify({
      'atomic:operations': Array.from({ length: N }, (_, i) => ({
        op: 'add',
        data: { type: 'books', lid: `b${i}`, attributes: record(i), relationships: { author: { data: { type: 'people', id: `p${i}` } } } },
      })),
    }),
  },
  'requests: 100 operations, header and body strings': {
    dialect: requestsDialect,
    contentType: 'application/json',
    text: JSON.stringify(
      Array.from({ length: N }, (_, i) => ({ id: String(i), method: 'POST', path: '/v1/books', headers: 'Content-Type: application/json\nIf-None-Match: *', body: JSON.stringify(record(i)) })),
    ),
  },
  [SLOW_PATH]: ops(OPS_TEXT.replace('"Book 1"', '": Book 1"')),
};

/** Microseconds per call of `fn`, over ITERATIONS. */
function timeUs(fn: () => unknown): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) fn();
  return Number(process.hrtime.bigint() - started) / 1000 / ITERATIONS;
}

/**
 * Median µs of JSON.parse, parseJsonUnique and the dialect's whole decode
 * (which parses with parseJsonUnique), in alternating order, and the
 * medians of the per-round ratios: unique / plain for the parse, and for the
 * decode its time against the same time with JSON.parse's in place of
 * parseJsonUnique's (decode - unique + plain, measured in the same round).
 */
function measure(doc: Document): { plainUs: number; uniqueUs: number; decodeUs: number; parseRatio: number; decodeRatio: number } {
  const input = { text: doc.text, contentType: doc.contentType, headers: new Map<string, string>() };
  const variants = [() => JSON.parse(doc.text), () => parseJsonUnique(doc.text), () => doc.dialect.decode(input, { maxOperations: N })];
  const samples: number[][] = variants.map(() => []);
  for (let w = 0; w < 3; w++) for (const v of variants) timeUs(v);
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? [0, 1, 2] : [2, 1, 0];
    for (const k of order) samples[k]!.push(timeUs(variants[k]!));
  }
  const [plain, unique, decode] = samples as [number[], number[], number[]];
  return {
    plainUs: median(plain),
    uniqueUs: median(unique),
    decodeUs: median(decode),
    parseRatio: median(unique.map((u, k) => u / plain[k]!)),
    decodeRatio: median(decode.map((d, k) => d / (d - unique[k]! + plain[k]!))),
  };
}

/** The median milliseconds of a 100-PUT ops batch over HTTP (SQLite, keep-alive), into a new collection each round. */
async function batchMs(): Promise<number> {
  const s = await benchServer();
  const agent = new Agent({ keepAlive: true });
  try {
    const text = OPS_TEXT.replace(/"If-Match":"\\"e\d+\\""/g, '"If-None-Match":"*"');
    const times: number[] = [];
    for (let round = -3; round < ROUNDS; round++) {
      const body = text.replaceAll('/v1/books/', `/v1/books${round + 3}/`);
      const started = performance.now();
      const r = await httpCall(agent, s.port, 'POST', '/batch', body, { authorization: `Bearer ${BENCH_TOKEN}`, 'content-type': 'application/json' });
      if (r.status !== 200 || !r.text.includes('"status":201')) throw new Error(`the batch answered ${r.status}: ${r.text.slice(0, 200)}`);
      if (round >= 0) times.push(performance.now() - started);
    }
    return median(times);
  } finally {
    agent.destroy();
    await s.close();
  }
}

export default async function run(): Promise<void> {
  const rows = Object.entries(DOCUMENTS).map(([document, doc]) => {
    const m = measure(doc);
    const target = document === SLOW_PATH ? '-' : '<= 1.1';
    return {
      document,
      kB: +(doc.text.length / 1024).toFixed(1),
      'JSON.parse µs': +m.plainUs.toFixed(1),
      'parseJsonUnique µs': +m.uniqueUs.toFixed(1),
      'parse ratio': +m.parseRatio.toFixed(3),
      'decode µs': +m.decodeUs.toFixed(1),
      'decode ratio': +m.decodeRatio.toFixed(3),
      target,
      met: target === '-' || m.decodeRatio <= 1.1,
    };
  });
  console.table(rows);
  const first = rows[0]!;
  const ms = await batchMs();
  const extraUs = first['parseJsonUnique µs'] - first['JSON.parse µs'];
  const context = { 'ops 100-PUT batch over HTTP, median ms': +ms.toFixed(2), 'check adds µs': +extraUs.toFixed(1), 'batch ratio': +((ms + extraUs / 1000) / ms).toFixed(4) };
  console.table([context]);
  const file = writeResults('json-duplicates', { rounds: ROUNDS, iterations: ITERATIONS, rows, context });
  console.log(`results: ${file}`);
  const missed = rows.filter((r) => !r.met);
  if (missed.length > 0) console.log(`targets missed (decode ratio): ${missed.map((r) => r.document).join('; ')}`);
}

// `npx tsx bench/json-duplicates.bench.ts` runs it alone.
if (import.meta.url === `file://${process.argv[1]}`) await run();
