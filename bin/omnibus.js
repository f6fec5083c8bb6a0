#!/usr/bin/env node
// The `omnibus` command. Installed from the package it runs the compiled CLI in dist/ with
// plain Node (no devDependency). In a source checkout (src/ beside it) it runs dist/ only
// while that build is at least as new as every source file; otherwise it runs the sources
// through tsx (a devDependency, present in a checkout), so it never runs yesterday's code.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'cli.js');
const sources = join(root, 'src');
const checkout = existsSync(join(sources, 'cli.ts')) && existsSync(join(root, 'tsconfig.build.json'));

/** The most recently modified source file that the build compiles (tests are not compiled). */
function newestSource(dir) {
  let newest = { path: '', mtimeMs: 0 };
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const inner = newestSource(path);
      if (inner.mtimeMs > newest.mtimeMs) newest = inner;
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
      const { mtimeMs } = statSync(path);
      if (mtimeMs > newest.mtimeMs) newest = { path, mtimeMs };
    }
  }
  return newest;
}

/** Why dist/ must not run in this checkout, or undefined when it is current. */
function staleness() {
  if (!existsSync(built)) return 'missing';
  const newest = newestSource(sources);
  return newest.mtimeMs > statSync(built).mtimeMs ? relative(root, newest.path) : undefined;
}

if (!checkout) {
  if (!existsSync(built)) {
    process.stderr.write(`omnibus: ${built} is missing: this copy of the package was packed without its build; reinstall it.\n`);
    process.exit(1);
  }
  await import(pathToFileURL(built).href);
} else {
  const stale = staleness();
  if (stale === undefined) {
    await import(pathToFileURL(built).href);
  } else {
    let tsx;
    try {
      tsx = await import('tsx/esm/api');
    } catch {
      process.stderr.write(
        `omnibus: ${stale === 'missing' ? 'this checkout is not built' : `dist/ is older than ${stale}`}, ` +
          'and tsx (a devDependency) is not installed to run the sources: run `npm install && npm run build`.\n',
      );
      process.exit(1);
    }
    if (stale !== 'missing') {
      process.stderr.write(`omnibus: dist/ is older than ${stale}: running the sources through tsx (npm run build updates dist/)\n`);
    }
    tsx.register();
    await import(pathToFileURL(join(sources, 'cli.ts')).href);
  }
}
