import { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { readBodyText, tooLarge } from './body.js';

/**
 * The one place that relies on @hono/node-server internals: it passes the
 * Node `IncomingMessage` as `c.env.incoming`. Reading the body from it
 * directly skips the Web-stream adapter, which costs more than the rest of
 * a small batch. `node-incoming.test.ts` fails if an upgrade changes this;
 * the fallback (Web streams) keeps working, only slower.
 */
export function nodeIncoming(c: Context): IncomingMessage | undefined {
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
  return incoming instanceof IncomingMessage ? incoming : undefined;
}

/** Reads the request body as UTF-8 within `limit` bytes (413 `body_too_large` past it). */
export async function readRequestText(c: Context, limit: number): Promise<string> {
  const incoming = nodeIncoming(c);
  if (!incoming || incoming.readableEnded || incoming.readableDidRead) return readBodyText(c.req.raw, limit);
  const declared = Number(incoming.headers['content-length']);
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of incoming as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      incoming.resume();
      throw tooLarge(limit);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}
