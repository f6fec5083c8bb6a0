import { ApiError } from '../errors.js';

/**
 * Reads a request body as UTF-8 text, refusing it with 413 `body_too_large`
 * as soon as it passes `limit` bytes (by Content-Length, or while streaming
 * when the length is not declared).
 */
export async function readBodyText(req: Request, limit: number): Promise<string> {
  const declared = req.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  if (!req.body) return '';
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

export function tooLarge(limit: number): ApiError {
  return new ApiError(413, 'body_too_large', `The request body is larger than ${limit} bytes.`);
}
