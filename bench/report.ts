/**
 * `npm run bench:report [results.json]`: renders what `npm run bench:peers` measured
 * (default bench/results/peers.json) into docs/PERFORMANCE.md and SVG charts in
 * docs/performance/. Only the blocks between `<!-- bench:<name>:begin -->` and
 * `<!-- bench:<name>:end -->` markers are rewritten; the rest of the page is prose kept by hand.
 * The charts are SVG written as strings (no charting dependency: docs/dependencies.md).
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Cell as RunCell, Workload } from './peers/run.js';

const ROOT = join(import.meta.dirname, '..');
const input = process.argv[2] ?? join(ROOT, 'bench', 'results', 'peers.json');
const PAGE = join(ROOT, 'docs', 'PERFORMANCE.md');
const CHARTS = join(ROOT, 'docs', 'performance');

/** Results written before rounds were kept have no `roundsMs`. */
type Cell = Omit<RunCell, 'roundsMs'> & { roundsMs?: number[] };
interface Results {
  measuredAt: string;
  quick: boolean;
  durationS: number;
  machine: { cpu: string; cores: number; memoryGb: number; kernel: string; node: string; sqlite: string; postgres: string | null; loadBefore: number[]; loadAfter: number[] };
  settings: { rounds: number; warmup: number; batchCapBytes: number };
  notes: string[];
  cells: Cell[];
}

const results = JSON.parse(readFileSync(input, 'utf8')) as Results;
const WORKLOADS: Workload[] = ['get', 'create', 'update'];
const WORKLOAD_LABEL: Record<Workload, string> = { get: 'GETs', create: 'creates (POST)', update: 'If-Match updates (PUT)' };
const COMPARISONS = [
  { key: 'sqlite', label: 'peers on SQLite (WAL, synchronous=FULL), Omnibus on SQLite' },
  { key: 'map', label: 'peers on an in-memory Map, Omnibus on SQLite' },
  { key: 'postgres', label: 'PostgreSQL: every server on its own database, peers through a pg pool of 10' },
] as const;
const SERVERS = ['Omnibus', 'hapi + bassmaster', 'Express loopback', 'Fastify inject'];
const COLORS: Record<string, string> = { Omnibus: '#1f6feb', 'hapi + bassmaster': '#d29922', 'Express loopback': '#8957e5', 'Fastify inject': '#2da44e' };
const TARGET = 3;

const fmt = (x: number, digits = 1) => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const int = (x: number) => Math.round(x).toLocaleString('en-US');
const bytesLabel = (b: number) => (b >= 1024 * 1024 ? `${b / 1024 / 1024} MB` : b >= 1024 ? `${b / 1024} KB` : `${b} B`);
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const peers = (comparison: string, w: Workload) =>
  results.cells.filter((c) => c.part === 'peers' && c.comparison === comparison && c.workload === w);

// ------------------------------------------------------------------ tables

function summaryTable(): string {
  const lines = [
    `| Omnibus's operations/s ÷ the fastest peer's, median of per-round ratios (target ≥ ${TARGET}×) | GETs | creates | If-Match updates |`,
    '|---|---:|---:|---:|',
  ];
  for (const cmp of COMPARISONS) {
    const row = WORKLOADS.map((w) => {
      const others = peers(cmp.key, w).filter((c) => c.kind !== 'omnibus');
      if (others.length === 0) return '–';
      const worst = others.reduce((a, b) => (b.omnibusSpeedup < a.omnibusSpeedup ? b : a));
      const mark = worst.omnibusSpeedup >= TARGET ? 'met' : '**missed**';
      // The ratio of the medians beside the median of per-round ratios: where the two differ, rounds were noisy.
      const omnibus = peers(cmp.key, w).find((c) => c.kind === 'omnibus');
      const fastest = others.reduce((a, b) => (b.opsPerSec > a.opsPerSec ? b : a));
      const ofMedians = omnibus ? `; of medians ${fmt(omnibus.opsPerSec / fastest.opsPerSec, 2)}×${fastest.target === worst.target ? '' : ` (${fastest.target})`}` : '';
      return `${fmt(worst.omnibusSpeedup, 2)}× ${mark} (${worst.target}${ofMedians})`;
    });
    if (row.every((r) => r === '–')) continue;
    lines.push(`| ${cmp.label} | ${row.join(' | ')} |`);
  }
  lines.push('', 'Each cell: the median over rounds of (peer time / Omnibus time in the same round) against the peer where it is lowest, and the ratio of the two servers\' median operations/s ("of medians"); the two differ when rounds are noisy.');
  return lines.join('\n');
}

function peersTable(): string {
  const out: string[] = [];
  for (const cmp of COMPARISONS) {
    const rows = WORKLOADS.flatMap((w) => peers(cmp.key, w));
    if (rows.length === 0) continue;
    out.push(`**${cmp.label}**`, '');
    out.push('| workload | server | operations/s | µs per operation | Omnibus × | server CPU µs/op | peak RSS MB |', '|---|---|---:|---:|---:|---:|---:|');
    for (const c of rows) {
      out.push(
        `| ${WORKLOAD_LABEL[c.workload]} | ${c.target} (${c.store}) | ${int(c.opsPerSec)} | ${fmt(c.usPerOp)} | ${c.kind === 'omnibus' ? '1' : fmt(c.omnibusSpeedup, 2)} | ${fmt(c.cpuUsPerOp, 0)} | ${fmt(c.peakRssMb, 0)} |`,
      );
    }
    out.push('');
  }
  return out.join('\n').trim();
}

function scalingTable(): string {
  const rows = results.cells.filter((c) => c.part === 'scaling');
  const payloads = [...new Set(rows.map((c) => c.payloadBytes))].sort((a, b) => a - b);
  const sizes = [...new Set(rows.map((c) => c.batchSize))].sort((a, b) => a - b);
  const out: string[] = [];
  for (const p of payloads) {
    out.push(`**${bytesLabel(p)} records** — µs per operation (peak RSS of the server during a batch, MB)`, '');
    out.push(`| workload | server | ${sizes.map((n) => `batch of ${n}`).join(' | ')} |`, `|---|---|${sizes.map(() => '---:').join('|')}|`);
    for (const w of WORKLOADS) {
      for (const s of SERVERS) {
        const cellsOf = sizes.map((n) => rows.find((c) => c.workload === w && c.target === s && c.batchSize === n && c.payloadBytes === p));
        if (cellsOf.every((c) => !c)) continue;
        out.push(`| ${WORKLOAD_LABEL[w]} | ${s} | ${cellsOf.map((c) => (c ? `${fmt(c.usPerOp)} (${fmt(c.peakRssMb, 0)})` : '–')).join(' | ')} |`);
      }
    }
    out.push('');
  }
  return out.join('\n').trim();
}

function machineBlock(): string {
  const m = results.machine;
  return [
    `Measured ${results.measuredAt.slice(0, 16).replace('T', ' ')} UTC${results.quick ? ' (quick mode)' : ''}, ${results.durationS} s for the whole run:`,
    `${m.cores} × ${m.cpu}, ${m.memoryGb} GB, Linux ${m.kernel}, Node ${m.node}, SQLite ${m.sqlite}${m.postgres ? `, PostgreSQL ${m.postgres} on the same host` : ''};`,
    `load average ${m.loadBefore.join(' / ')} at the start and ${m.loadAfter.join(' / ')} at the end (1 / 5 / 15 min; the machine is shared).`,
    `${results.settings.rounds} measured rounds after ${results.settings.warmup} warm-up rounds per cell of part 1.`,
    ...results.notes,
  ].join('\n');
}

// ------------------------------------------------------------------ charts

function barChart(): string {
  const W = 760;
  const panelH = 210;
  const top = 40;
  const left = 70;
  const plotW = W - left - 20;
  const comps = COMPARISONS.filter((cmp) => WORKLOADS.some((w) => peers(cmp.key, w).length));
  const H = top + comps.length * (panelH + 50) + 30;
  const parts: string[] = [];
  parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">Operations per second, 100-operation batches (higher is better)</text>`);
  comps.forEach((cmp, pi) => {
    const y0 = top + pi * (panelH + 50) + 20;
    const rows = WORKLOADS.flatMap((w) => peers(cmp.key, w));
    const max = niceMax(Math.max(...rows.map((c) => c.opsPerSec)));
    parts.push(`<text x="${left}" y="${y0 - 6}" font-size="12" font-weight="bold">${esc(cmp.label)}</text>`);
    for (let k = 0; k <= 4; k++) {
      const v = (max * k) / 4;
      const y = y0 + panelH - (panelH * k) / 4;
      parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
      parts.push(`<text x="${left - 6}" y="${y + 4}" text-anchor="end" font-size="10">${int(v)}</text>`);
    }
    const groupW = plotW / WORKLOADS.length;
    WORKLOADS.forEach((w, gi) => {
      const group = SERVERS.map((s) => peers(cmp.key, w).find((c) => c.target === s)).filter((c): c is Cell => !!c);
      const barW = Math.min(40, (groupW - 30) / group.length);
      const gx = left + gi * groupW + (groupW - barW * group.length) / 2;
      group.forEach((c, bi) => {
        const h = (panelH * c.opsPerSec) / max;
        const x = gx + bi * barW;
        parts.push(`<rect x="${x + 2}" y="${y0 + panelH - h}" width="${barW - 4}" height="${h}" fill="${COLORS[c.target]}"><title>${esc(`${c.target} (${c.store}): ${int(c.opsPerSec)} ops/s`)}</title></rect>`);
        const label = c.kind === 'omnibus' ? int(c.opsPerSec) : `${fmt(c.omnibusSpeedup, 1)}×`;
        parts.push(`<text x="${x + barW / 2}" y="${y0 + panelH - h - 4}" text-anchor="middle" font-size="9">${label}</text>`);
      });
      parts.push(`<text x="${left + gi * groupW + groupW / 2}" y="${y0 + panelH + 16}" text-anchor="middle" font-size="11">${esc(WORKLOAD_LABEL[w])}</text>`);
    });
  });
  parts.push(legend(left, H - 18, SERVERS));
  parts.push(`<text x="${W - 10}" y="${H - 4}" text-anchor="end" font-size="9" fill="#666">N×: Omnibus's operations/s are N times that server's (median of per-round ratios)</text>`);
  return svg(W, H, parts);
}

function lineChart(title: string, series: Array<{ name: string; color: string; points: Array<[number, number]> }>[], panelTitles: string[], yLabel: string): string {
  const panelW = 250;
  const panelH = 220;
  const left = 60;
  const gap = 30;
  const top = 50;
  const W = left + panelTitles.length * (panelW + gap);
  const H = top + panelH + 80;
  const parts: string[] = [`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`];
  const all = series.flat().flatMap((s) => s.points);
  if (all.length === 0) return svg(W, H, parts);
  const xs = [...new Set(all.map((p) => p[0]))].sort((a, b) => a - b);
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...all.map((p) => p[1]))));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...all.map((p) => p[1]))));
  const lx = (x: number) => (xs.length === 1 ? 0.5 : (Math.log10(x) - Math.log10(xs[0]!)) / (Math.log10(xs.at(-1)!) - Math.log10(xs[0]!)));
  const ly = (y: number) => (Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin));
  panelTitles.forEach((pt, pi) => {
    const x0 = left + pi * (panelW + gap);
    const px = (x: number) => x0 + 10 + lx(x) * (panelW - 20);
    const py = (y: number) => top + panelH - ly(y) * panelH;
    parts.push(`<text x="${x0 + panelW / 2}" y="${top - 10}" text-anchor="middle" font-size="12" font-weight="bold">${esc(pt)}</text>`);
    parts.push(`<rect x="${x0}" y="${top}" width="${panelW}" height="${panelH}" fill="none" stroke="#bbb"/>`);
    for (let d = yMin; d <= yMax; d *= 10) {
      parts.push(`<line x1="${x0}" x2="${x0 + panelW}" y1="${py(d)}" y2="${py(d)}" stroke="#e5e5e5"/>`);
      if (pi === 0) parts.push(`<text x="${x0 - 5}" y="${py(d) + 4}" text-anchor="end" font-size="10">${int(d)}</text>`);
    }
    for (const x of xs) parts.push(`<text x="${px(x)}" y="${top + panelH + 14}" text-anchor="middle" font-size="10">${x}</text>`);
    for (const s of series[pi] ?? []) {
      if (s.points.length === 0) continue;
      const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ');
      parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
      for (const p of s.points) parts.push(`<circle cx="${px(p[0]).toFixed(1)}" cy="${py(p[1]).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(`${s.name}: ${p[0]} → ${fmt(p[1])}`)}</title></circle>`);
    }
  });
  parts.push(`<text x="14" y="${top + panelH / 2}" font-size="11" transform="rotate(-90 14 ${top + panelH / 2})" text-anchor="middle">${esc(yLabel)}</text>`);
  parts.push(`<text x="${W / 2}" y="${top + panelH + 32}" text-anchor="middle" font-size="11">operations per batch (log scale)</text>`);
  const names = [...new Set(series.flat().map((s) => s.name))];
  const colorOf = Object.fromEntries(series.flat().map((s) => [s.name, s.color]));
  parts.push(legend(left, H - 14, names, colorOf));
  return svg(W, H, parts);
}

function scalingChart(): string {
  const rows = results.cells.filter((c) => c.part === 'scaling' && c.payloadBytes === 100);
  return lineChart(
    'Cost per operation against batch size, 100 B records, SQLite (lower is better)',
    WORKLOADS.map((w) =>
      SERVERS.map((s) => ({
        name: s,
        color: COLORS[s]!,
        points: rows.filter((c) => c.workload === w && c.target === s).sort((a, b) => a.batchSize - b.batchSize).map((c) => [c.batchSize, c.usPerOp] as [number, number]),
      })),
    ),
    WORKLOADS.map((w) => WORKLOAD_LABEL[w]),
    'µs per operation (log scale)',
  );
}

function payloadChart(): string {
  const rows = results.cells.filter((c) => c.part === 'scaling' && c.kind === 'omnibus');
  const payloads = [...new Set(rows.map((c) => c.payloadBytes))].sort((a, b) => a - b);
  const shades = ['#79c0ff', '#1f6feb', '#0a3069'];
  return lineChart(
    'Omnibus: cost per operation against batch size, by record size (SQLite)',
    WORKLOADS.map((w) =>
      payloads.map((p, i) => ({
        name: `${bytesLabel(p)} records`,
        color: shades[i % shades.length]!,
        points: rows.filter((c) => c.workload === w && c.payloadBytes === p).sort((a, b) => a.batchSize - b.batchSize).map((c) => [c.batchSize, c.usPerOp] as [number, number]),
      })),
    ),
    WORKLOADS.map((w) => WORKLOAD_LABEL[w]),
    'µs per operation (log scale)',
  );
}

function legend(x: number, y: number, names: string[], colors: Record<string, string> = COLORS): string {
  let cx = x;
  return names
    .map((n) => {
      const s = `<rect x="${cx}" y="${y - 9}" width="10" height="10" fill="${colors[n]}"/><text x="${cx + 14}" y="${y}" font-size="11">${esc(n)}</text>`;
      cx += 30 + n.length * 7;
      return s;
    })
    .join('');
}

function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function svg(w: number, h: number, parts: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif">\n<rect width="100%" height="100%" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`;
}

// ------------------------------------------------------------------ page

function replaceBlock(page: string, name: string, body: string): string {
  const begin = `<!-- bench:${name}:begin -->`;
  const end = `<!-- bench:${name}:end -->`;
  const i = page.indexOf(begin);
  const j = page.indexOf(end);
  if (i < 0 || j < i) throw new Error(`docs/PERFORMANCE.md has no ${begin} … ${end} block`);
  return `${page.slice(0, i + begin.length)}\n<!-- generated by npm run bench:report from ${relative(ROOT, input)}; edit the script, not this block -->\n${body}\n${page.slice(j)}`;
}

mkdirSync(CHARTS, { recursive: true });
const charts = { 'peers.svg': barChart(), 'scaling.svg': scalingChart(), 'payloads.svg': payloadChart() };
for (const [file, content] of Object.entries(charts)) writeFileSync(join(CHARTS, file), content);
let page = readFileSync(PAGE, 'utf8');
page = replaceBlock(page, 'machine', machineBlock());
page = replaceBlock(page, 'summary', summaryTable());
page = replaceBlock(page, 'peers', peersTable());
page = replaceBlock(page, 'scaling', scalingTable());
writeFileSync(PAGE, page);
console.log(`docs/PERFORMANCE.md and ${Object.keys(charts).map((f) => `docs/performance/${f}`).join(', ')} rendered from ${relative(ROOT, input)}`);
