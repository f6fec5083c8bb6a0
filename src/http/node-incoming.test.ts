import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../errors.js';
import { nodeIncoming, readRequestText } from './node-incoming.js';

/** Guards the one reliance on @hono/node-server internals: `c.env.incoming` is the IncomingMessage. */
let url: string;
let close: () => void;
beforeAll(async () => {
  const app = new Hono();
  app.post('/echo', async (c) => {
    const fast = nodeIncoming(c) !== undefined;
    try {
      const text = await readRequestText(c, 1000);
      return c.json({ fast, text });
    } catch (err) {
      return c.json({ fast, status: (err as ApiError).status, code: (err as ApiError).code }, 413);
    }
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => server.close();
});
afterAll(() => close());

describe('reading bodies from the Node IncomingMessage', () => {
  it('@hono/node-server still passes the IncomingMessage as c.env.incoming, and the body reads whole', async () => {
    const body = 'ü'.repeat(300);
    const r = (await (await fetch(`${url}/echo`, { method: 'POST', body })).json()) as { fast: boolean; text: string };
    expect(r.fast).toBe(true);
    expect(r.text).toBe(body);
  });

  it('refuses a body over the limit with 413 body_too_large, declared or streamed', async () => {
    const declared = await fetch(`${url}/echo`, { method: 'POST', body: 'x'.repeat(1001) });
    expect(declared.status).toBe(413);
    expect(((await declared.json()) as { code: string }).code).toBe('body_too_large');
    const chunks = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 5; i++) controller.enqueue(new TextEncoder().encode('y'.repeat(400)));
        controller.close();
      },
    });
    const streamed = await fetch(`${url}/echo`, { method: 'POST', body: chunks, duplex: 'half' } as RequestInit);
    expect(streamed.status).toBe(413);
  });

  it('falls back to the Web stream outside Node (no env.incoming)', async () => {
    const app = new Hono();
    app.post('/x', async (c) => c.json({ fast: nodeIncoming(c) !== undefined, text: await readRequestText(c, 100) }));
    const res = await app.fetch(new Request('http://local/x', { method: 'POST', body: 'hello' }));
    expect(await res.json()).toEqual({ fast: false, text: 'hello' });
  });
});
