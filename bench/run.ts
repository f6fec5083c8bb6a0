/**
 * `npm run bench`: every benchmark side by side in one run. Each module's
 * default export measures its variants in interleaved rounds and prints
 * ratios, since absolute times drift on a shared machine.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const MODULES = ['dispatch.bench.ts', 'dialects.bench.ts', 'postgres.bench.ts'];
const only = process.argv.slice(2);

for (const file of MODULES) {
  if (only.length && !only.some((o) => file.startsWith(o))) continue;
  const path = join(import.meta.dirname, file);
  if (!existsSync(path)) continue;
  console.log(`\n=== ${file} ===`);
  const mod = (await import(path)) as { default: () => Promise<unknown> };
  await mod.default();
}
