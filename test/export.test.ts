import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../src/client/index.js';
import { startTestServer, TOKENS, type TestServer } from './support/server.js';

/** `omnibus export`, and a round trip export → import --upsert-by id → export between two servers. */
const ROOT = join(import.meta.dirname, '..');
const CLI = ['--import', 'tsx', join(ROOT, 'src', 'cli.ts')];

function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of ['OMNIBUS_TOKEN', 'OMNIBUS_URL']) delete env[k];
    const child = spawn(process.execPath, [...CLI, ...args], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const lines = (text: string) => text.trim().split('\n').filter(Boolean);
const byId = (text: string) => lines(text).sort();

describe('omnibus export', { timeout: 120_000 }, () => {
  let exported = '';
  let source: TestServer;
  let target: TestServer;
  let dir: string;
  beforeAll(async () => {
    [source, target] = await Promise.all([startTestServer(), startTestServer()]);
    dir = mkdtempSync(join(tmpdir(), 'omnibus-export-'));
    const c = createClient({ baseUrl: source.url, token: TOKENS.acme });
    // 2,500 records through the client's auto-batching: 25 batches.
    await Promise.all(
      Array.from({ length: 2500 }, (_, i) => c.post('/v1/books', { n: i, title: `Book ${i} — “${'é'.repeat(i % 3)}”`, tags: i % 2 ? ['odd'] : [], author: { name: `A${i % 7}` }, price: i / 4 })),
    );
  });
  afterAll(async () => {
    await Promise.all([source?.close(), target?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes every record as one NDJSON line on stdout, page after page, without _etag and _updated', async () => {
    const r = await cli(['export', '--collection', 'books', '--url', source.url, '--token', TOKENS.acme, '--page-size', '700']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^exported 2,500 records from books in [\d.]+s\n$/);
    const records = lines(r.stdout).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records).toHaveLength(2500);
    expect(new Set(records.map((x) => x['id'])).size).toBe(2500);
    expect(records.every((x) => !('_etag' in x) && !('_updated' in x))).toBe(true);
    expect(records.map((x) => x['n']).sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 2500 }, (_, i) => i));
    exported = r.stdout;
  });

  it('--filter and --output: only the matching records, to a file', async () => {
    const out = join(dir, 'some.ndjson');
    const r = await cli(['export', '-c', 'books', '--url', source.url, '--token', TOKENS.acme, '--filter', "n ge 2000 and author/name eq 'A3'", '--orderby', 'n desc', '-o', out]);
    expect(r.status, r.stderr).toBe(0);
    const ns = lines(readFileSync(out, 'utf8')).map((l) => (JSON.parse(l) as { n: number }).n);
    const expected = Array.from({ length: 500 }, (_, i) => 2499 - i).filter((n) => n % 7 === 3);
    expect(ns).toEqual(expected);
    const bad = await cli(['export', '-c', 'books', '--url', source.url, '--token', TOKENS.acme, '--filter', 'n gt']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('bad_request');
  });

  it('round trip: export, import into another server with --upsert-by id, export again: the same records, ids kept', async () => {
    expect(exported).not.toBe('');
    const file = join(dir, 'books.ndjson');
    writeFileSync(file, exported);
    const imported = await cli(['import', file, '-c', 'books', '--url', target.url, '--token', TOKENS.acme, '--upsert-by', 'id', '--progress', 'none']);
    expect(imported.status, imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/^imported 2,500 records into books/);
    const second = await cli(['export', '-c', 'books', '--url', target.url, '--token', TOKENS.acme]);
    expect(second.status, second.stderr).toBe(0);
    expect(byId(second.stdout)).toEqual(byId(exported));
  });
});
