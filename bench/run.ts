/**
 * `npm run bench [name...]`: every benchmark side by side in one run (or only
 * those whose file name starts with a given name: `npm run bench dispatch`).
 * Each module's default export measures its variants in interleaved rounds and
 * prints ratios, since absolute times drift on a shared machine. JSON results
 * go to `.tmp/bench/` (ignored by git). Variables it reads: bench/README.md.
 */
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { RESULTS_DIR } from './support.js';

const MODULES = ['dispatch.bench.ts', 'dialects.bench.ts', 'postgres.bench.ts', 'store.bench.ts', 'odata.bench.ts', 'odata-multipart.bench.ts', 'fhir.bench.ts', 'composite.bench.ts', 'adapters.bench.ts', 'idempotency.bench.ts', 'jsonapi-atomic.bench.ts', 'import.bench.ts', 'json-duplicates.bench.ts'];
const only = process.argv.slice(2);

for (const file of MODULES) {
  if (only.length && !only.some((o) => file.startsWith(o))) continue;
  const path = join(import.meta.dirname, file);
  if (!existsSync(path)) continue;
  console.log(`\n=== ${file} ===`);
  const mod = (await import(path)) as { default: () => Promise<unknown> };
  await mod.default();
}
console.log(`\nJSON results: ${relative(process.cwd(), RESULTS_DIR) || '.'}/`);
