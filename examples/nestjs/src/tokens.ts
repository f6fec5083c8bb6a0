import type { Principal } from '../../../src/index.js'; // in your app: from 'omnibus'

/** The app's own tokens. A real app would look them up in its database or verify a JWT. */
const TOKENS = new Map<string, Principal>([
  ['alice-token', { subject: 'alice', tenant: 'acme', scopes: new Set(['read', 'write']) }],
  ['reader-token', { subject: 'reader', tenant: 'acme', scopes: new Set(['read']) }],
]);

/** Used twice: by Omnibus for the batch request, and by the guard for ordinary requests. */
export function authenticate(token: string | undefined): Principal | undefined {
  return token === undefined ? undefined : TOKENS.get(token);
}

export function bearer(header: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
}
