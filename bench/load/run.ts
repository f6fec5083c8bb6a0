/**
 * `npm run load`: the load run on SQLite and PostgreSQL, judged against its
 * limits (no batch outside 2xx, no inner 5xx, /healthz p99 under 50 ms,
 * memory within 20% of the warm-up's, the counter exact), its figures
 * printed and written into docs/RELIABILITY.md between the load markers.
 *
 *   OMNIBUS_LOAD_SECONDS   seconds per concurrency level (default 20)
 *   OMNIBUS_LOAD_CLIENTS   concurrency levels (default 10,50)
 *   OMNIBUS_LOAD_DOCS=0    do not rewrite docs/RELIABILITY.md
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { enabledBackends } from '../../test/support/backends.js';
import { loadBackend, violations, type BackendLoad, type LoadOptions } from './load.js';

const env = process.env;
const options: LoadOptions = {
  clients: (env['OMNIBUS_LOAD_CLIENTS'] ?? '10,50').split(',').map(Number),
  seconds: Number(env['OMNIBUS_LOAD_SECONDS'] ?? 20),
  warmupSeconds: 5,
  counterClients: 8,
  counterIncrements: 50,
};

const backends = await enabledBackends();
if (!backends.some((b) => b.name === 'postgres')) console.warn('\n!!! PostgreSQL is unreachable: the load run covers SQLite only !!!\n');

const results: BackendLoad[] = [];
for (const b of backends) {
  console.log(`load: ${b.name}, ${options.clients.join(' and ')} clients, ${options.seconds} s each ...`);
  results.push(await loadBackend(b.name, options));
}

const f1 = (n: number) => n.toFixed(1);
const table = [
  '| Backend | Clients | Batches | Operations/s | Batch p50 / p99 (ms) | `/healthz` p50 / p99 / max (ms) | Batches outside 2xx | Inner 5xx | RSS after warm-up → after (MiB) |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...results.flatMap((r) =>
    r.levels.map(
      (l) =>
        `| ${r.backend} | ${l.clients} | ${l.batches} | ${l.operationsPerSecond} | ${l.p50} / ${l.p99} | ${f1(l.healthz.p50)} / ${f1(l.healthz.p99)} / ${f1(l.healthz.max)} | ${l.non2xx} | ${l.inner5xx} | ${l.rssAfterWarmup} → ${l.rssAfter} |`,
    ),
  ),
].join('\n');
const counters = results
  .map((r) => `${r.backend}: ${r.counter.final} of ${r.counter.expected} (${r.counter.conflicts} rounds lost to another client and retried; ${Object.entries(r.counter.byForm).map(([k, v]) => `${v} through ${k}`).join(', ')})`)
  .join('; ');
const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}`;
const section = `${table}\n\nIf-Match counter, ${options.counterClients} clients × ${options.counterIncrements} increments: ${counters}.\n\nMeasured ${new Date().toISOString().slice(0, 10)} on ${machine}, ${options.seconds} s per level after a ${options.warmupSeconds} s warm-up.`;
console.log(`\n${section}\n`);

const problems = results.flatMap((r) => violations(r, true));
if (env['OMNIBUS_LOAD_DOCS'] !== '0') {
  const path = join(import.meta.dirname, '..', '..', 'docs', 'RELIABILITY.md');
  const doc = readFileSync(path, 'utf8');
  const begin = '<!-- load:begin -->';
  const end = '<!-- load:end -->';
  const at = doc.indexOf(begin);
  const until = doc.indexOf(end);
  if (at < 0 || until < at) throw new Error(`docs/RELIABILITY.md lacks the ${begin} … ${end} markers`);
  writeFileSync(path, `${doc.slice(0, at + begin.length)}\n${section}\n${doc.slice(until)}`);
  console.log('written to docs/RELIABILITY.md');
}
if (problems.length > 0) {
  console.error(`load run FAILED:\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
console.log('load run passed');
