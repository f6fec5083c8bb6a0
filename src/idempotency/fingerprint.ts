import { createHash } from 'node:crypto';

/**
 * What makes a retry "the same request" for its idempotency key: the
 * method, the path, the query (without `token`, a credential that a client
 * may renew between tries) and a SHA-256 hash of the body, hashed together.
 * Headers are not part of it.
 */
export function requestFingerprint(method: string, path: string, query: URLSearchParams, body: string): string {
  const params = [...query].filter(([name]) => name !== 'token').map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`);
  const bodyHash = createHash('sha256').update(body, 'utf8').digest('hex');
  return createHash('sha256').update(`${method.toUpperCase()}\n${path}\n${params.join('&')}\n${bodyHash}`).digest('hex');
}
