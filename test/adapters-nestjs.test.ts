/**
 * The test of the NestJS example app (examples/nestjs/), run by `npm test`.
 * The example is imported by a computed path: it needs legacy decorators, so
 * it is compiled and typechecked with its own tsconfig (examples/nestjs/),
 * never as part of this project's strict build.
 */
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface NestApp {
  listen(port: number, host: string): Promise<unknown>;
  getHttpServer(): { address(): AddressInfo };
  close(): Promise<void>;
}

const example = (file: string) => pathToFileURL(join(import.meta.dirname, '..', 'examples', 'nestjs', 'src', file)).href;

let app: NestApp;
let url: string;
let guardLog: string[];

beforeAll(async () => {
  const main = (await import(example('main.ts'))) as { createApp(): Promise<NestApp> };
  guardLog = ((await import(example('auth.guard.ts'))) as { guardLog: string[] }).guardLog;
  app = await main.createApp();
  await app.listen(0, '127.0.0.1');
  url = `http://127.0.0.1:${app.getHttpServer().address().port}`;
});
afterAll(() => app?.close());

async function post(path: string, body: unknown, token = 'alice-token') {
  const res = await fetch(url + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as any };
}

describe('the NestJS example (Express platform) with omnibus/express', () => {
  it('runs a batch through the Nest controllers, guard and all, as the batch principal', async () => {
    guardLog.length = 0;
    const r = await post('/batch', {
      requests: [
        { method: 'PUT', path: '/v1/books/1', body: { title: 'Dune' } },
        { method: 'GET', path: '/v1/books/1', headers: { Authorization: 'Bearer reader-token' } },
        { method: 'GET', path: '/whoami' },
        { method: 'GET', path: '/v1/books/2' },
        { method: 'DELETE', path: '/v1/books/1' },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.json.responses.map((x: { status: number }) => x.status)).toEqual([201, 200, 200, 404, 204]);
    expect(r.json.responses[1].body).toEqual({ title: 'Dune', id: '1' });
    expect(r.json.responses[2].body).toEqual({ subject: 'alice', tenant: 'acme', inBatch: true });
    expect(r.json.responses[3].body).toMatchObject({ statusCode: 404, message: 'No book 2.' });
    // The guard ran once per operation, always as the batch's principal: the operation's own Authorization was dropped.
    expect(guardLog).toEqual(['alice', 'alice', 'alice', 'alice', 'alice']);
  });

  it('the guard refuses writes to a read-only batch token, per operation; a requests batch’s ?token= authenticates one operation', async () => {
    const r = await post('/v1/batch', [
      { id: 'w', method: 'PUT', path: '/v1/books/9', body: '{"t":1}' },
      { id: 'r', method: 'GET', path: '/v1/books' },
      { id: 'as-alice', method: 'PUT', path: '/v1/books/9?token=alice-token', body: '{"t":2}' },
    ], 'reader-token');
    expect(r.status).toBe(200);
    expect(r.json.map((x: { id: string; code: number }) => [x.id, x.code])).toEqual([['w', 403], ['r', 200], ['as-alice', 201]]);
  });

  it('leaves ordinary requests to Nest: the guard answers 401 without a token, and the route works with one', async () => {
    expect((await fetch(`${url}/whoami`)).status).toBe(401);
    const res = await fetch(`${url}/whoami`, { headers: { authorization: 'Bearer reader-token' } });
    expect(await res.json()).toEqual({ subject: 'reader', tenant: 'acme', inBatch: false });
  });
});
