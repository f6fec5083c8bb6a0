import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { runInNewContext } from 'node:vm';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/**
 * omnibus/client must run in a browser: no Node module anywhere in it, and
 * nothing but what a browser has (fetch, URL, AbortController, timers,
 * crypto) at run time.
 */
const ROOT = join(import.meta.dirname, '..');
const CLIENT = join(ROOT, 'src', 'client');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

describe('omnibus/client in a browser', () => {
  it('imports no Node module and uses no Node global', () => {
    for (const file of sources(CLIENT)) {
      const text = readFileSync(file, 'utf8');
      const where = relative(ROOT, file);
      expect(text, where).not.toMatch(/from ['"](node:|fs|path|http|https|crypto|stream|events|os|url|buffer)['"/]/);
      expect(text, where).not.toMatch(/\b(process|Buffer|require)\s*[.(]/);
    }
  });

  it('bundles for the browser platform and runs with only browser globals: an auto-batch of three calls', async () => {
    const out = await build({
      entryPoints: [join(CLIENT, 'index.ts')],
      bundle: true,
      platform: 'browser',
      format: 'iife',
      globalName: 'OmnibusClient',
      write: false,
      logLevel: 'silent',
    });
    const code = out.outputFiles[0]!.text;
    expect(code).not.toContain('node:');

    const sent: { url: string; body: any }[] = [];
    const fakeFetch = async (url: string, init: RequestInit) => {
      const body = JSON.parse(String(init.body));
      sent.push({ url, body });
      const responses = body.requests.map((r: { id: string; url: string }) => ({ id: r.id, status: 200, headers: { 'Content-Type': 'application/json' }, body: { url: r.url } }));
      return new Response(JSON.stringify({ responses }), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    // A context with what a page has, and no process, Buffer or require.
    const context: Record<string, unknown> = {
      fetch: fakeFetch,
      URL,
      Headers,
      Response,
      AbortController,
      setTimeout,
      clearTimeout,
      crypto: globalThis.crypto,
      console,
    };
    runInNewContext(code, context);
    const lib = context['OmnibusClient'] as typeof import('../src/client/index.js');
    expect(runInNewContext('typeof process + typeof Buffer + typeof require', context)).toBe('undefinedundefinedundefined');
    const client = lib.createClient({ baseUrl: 'https://api.example.test', token: 't' });
    const answers = await Promise.all(['/v1/a/1', '/v1/a/2', '/v1/a/3'].map((p) => client.get<{ url: string }>(p)));
    expect(answers.map((a) => a.body.url)).toEqual(['/v1/a/1', '/v1/a/2', '/v1/a/3']);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.url).toBe('https://api.example.test/v1/$batch');
  });
});
