/**
 * The parts and xml dialects against the `ops` dialect doing the same work,
 * side by side in one run on a real server (port 0, temp SQLite file,
 * synchronous as the store default), several interleaved rounds, medians:
 *
 * - 100 creates: one atomic `parts` batch (one transaction) vs 100 POSTs in an `ops` batch
 * - 64 creates: one XML batch vs the same 64 POSTs of the JSON object body in an `ops` batch
 * - 64 reads: one XML batch (objects rendered as XML) vs 64 GETs in an `ops` batch
 *
 * Prints per-operation microseconds and ratios; writes bench/results/dialects.json.
 */
import { Agent } from 'node:http';
import { BENCH_TOKEN, benchServer, httpCall, median, time, writeResults, type BenchServer } from './support.js';

const ROUNDS = 11;
const PARTS_N = 100;
const XML_N = 64;

interface Attr {
  d: string;
  q?: string;
  vt: number;
  value: string;
}

/** A realistic small object: a few text and numeric attributes, one with a qualifier. */
function objectAttributes(i: number): Attr[] {
  return [
    { d: 'title', vt: 16, value: `Book number ${i} & friends` },
    { d: 'title', q: 'alternative', vt: 16, value: `Livre n° ${i}` },
    { d: 'author', vt: 16, value: 'A. Writer' },
    { d: 'pages', vt: 3, value: String(100 + i) },
    { d: 'year', vt: 3, value: '2024' },
  ];
}

function esc(v: string): string {
  return v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function attrXml(a: Attr): string {
  const q = a.q !== undefined ? ` q="${esc(a.q)}"` : '';
  return `<a d="${esc(a.d)}"${q} vt="${a.vt}">${a.vt >= 16 ? `<text>${esc(a.value)}</text>` : esc(a.value)}</a>`;
}

function xmlDoc(ops: string[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<request identifier="bench"><operations>${ops.join('')}</operations></request>`;
}

type Runner = () => Promise<number>;

interface Comparison {
  name: string;
  n: number;
  /** Variant name to a function that builds its request and returns its timing. */
  variants: Record<string, (round: number) => Runner>;
}

export default async function run(): Promise<void> {
  const s = await benchServer();
  const agent = new Agent({ keepAlive: true });
  const send = async (path: string, body: string, contentType: string, expectStatus = 200, check?: (text: string) => boolean) => {
    const r = await httpCall(agent, s.port, 'POST', path, body, { authorization: `Bearer ${BENCH_TOKEN}`, 'content-type': contentType });
    if (r.status !== expectStatus || (check && !check(r.text))) throw new Error(`${path} answered ${r.status}: ${r.text.slice(0, 300)}`);
    return r;
  };
  try {
    // Objects the read workloads read, created untimed.
    const refs: string[] = [];
    for (let i = 0; i < XML_N; i++) {
      const r = await s.request('POST', '/v1/objects', { attributes: objectAttributes(i) });
      refs.push((JSON.parse(r.text) as { id: string }).id);
    }

    const comparisons: Comparison[] = [
      {
        name: `${PARTS_N} creates`,
        n: PARTS_N,
        variants: {
          'parts (atomic, one transaction)': () => {
            const body = JSON.stringify({
              parts: Array.from({ length: PARTS_N }, (_, i) => ({ id: `p${i}`, path: '/v1/benchparts', operation: 'create', payload: { i, title: `t${i}` } })),
            });
            return () => time(() => send('/batch/parts', body, 'application/json', 200, (t) => !t.includes('"code"')));
          },
          'ops (each create commits)': () => {
            const body = JSON.stringify({
              requests: Array.from({ length: PARTS_N }, (_, i) => ({ method: 'POST', path: '/v1/benchops', body: { i, title: `t${i}` } })),
            });
            return () => time(() => send('/batch', body, 'application/json', 200, (t) => !t.includes('"code"')));
          },
        },
      },
      {
        name: `${XML_N} object creates`,
        n: XML_N,
        variants: {
          xml: () => {
            const body = xmlDoc(Array.from({ length: XML_N }, (_, i) => `<create><object><attributes>${objectAttributes(i).map(attrXml).join('')}</attributes></object></create>`));
            return () => time(() => send('/api/object/batch', body, 'text/xml; charset=utf-8', 200, (t) => !t.includes('<error')));
          },
          ops: () => {
            const body = JSON.stringify({
              requests: Array.from({ length: XML_N }, (_, i) => ({ method: 'POST', path: '/v1/objects', body: { attributes: objectAttributes(i) } })),
            });
            return () => time(() => send('/batch', body, 'application/json', 200, (t) => !t.includes('"code"')));
          },
        },
      },
      {
        name: `${XML_N} object reads`,
        n: XML_N,
        variants: {
          xml: () => {
            const body = xmlDoc(refs.map((ref) => `<read ref="${ref}"/>`));
            return () => time(() => send('/api/object/batch', body, 'text/xml; charset=utf-8', 200, (t) => !t.includes('<error')));
          },
          ops: () => {
            const body = JSON.stringify({ requests: refs.map((ref) => ({ method: 'GET', path: `/v1/objects/${ref}` })) });
            return () => time(() => send('/batch', body, 'application/json', 200, (t) => !t.includes('"code"')));
          },
        },
      },
    ];

    const rows: Array<{ workload: string; dialect: string; 'dialect µs/op': number; 'ops µs/op': number; 'dialect / ops': number }> = [];
    for (const c of comparisons) {
      const names = Object.keys(c.variants);
      const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
      for (const name of names) await c.variants[name]!(-1)(); // warm-up
      for (let round = 0; round < ROUNDS; round++) {
        // Alternate which variant goes first, so neither always runs on a warmer (or busier) machine.
        const order = round % 2 === 0 ? names : [...names].reverse();
        for (const name of order) samples[name]!.push(await c.variants[name]!(round)());
      }
      const [dialect, ops] = names.map((n) => median(samples[n]!));
      rows.push({
        workload: c.name,
        dialect: names[0]!,
        'dialect µs/op': +((dialect! * 1000) / c.n).toFixed(1),
        'ops µs/op': +((ops! * 1000) / c.n).toFixed(1),
        'dialect / ops': +(dialect! / ops!).toFixed(2),
      });
    }

    console.log(`\nPer-operation microseconds, median of ${ROUNDS} rounds (SQLite, store default synchronous); below 1 the dialect is faster`);
    console.table(rows);
    const file = writeResults('dialects', { rounds: ROUNDS, rows });
    console.log(`\nwritten ${file}`);
  } finally {
    agent.destroy();
    await s.close();
  }
}

// `npx tsx bench/dialects.bench.ts` runs it alone.
if (import.meta.url === `file://${process.argv[1]}`) await run();
