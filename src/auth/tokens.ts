import { createHash, randomBytes } from 'node:crypto';
import { isScope, type Principal, type Scope } from './principal.js';

export const TENANT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Tokens are stored as SHA-256 digests: a leaked database reveals no usable token. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function generateToken(): string {
  return `omb_${randomBytes(24).toString('base64url')}`;
}

export interface TokenGrant {
  token: string;
  tenant: string;
  scopes: Scope[];
  subject: string;
}

export function parseScopes(text: string): Scope[] {
  const scopes = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (scopes.length === 0) throw new Error('at least one scope is required (read, write, admin)');
  for (const s of scopes) if (!isScope(s)) throw new Error(`unknown scope "${s}" (read, write, admin)`);
  return [...new Set(scopes)] as Scope[];
}

/** Parses `OMNIBUS_TOKENS="tokenA=acme:read,write;tokenB=globex:read"`. */
export function parseTokenList(text: string): TokenGrant[] {
  return text
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const eq = entry.indexOf('=');
      const colon = entry.indexOf(':', eq + 1);
      if (eq <= 0 || colon < 0) throw new Error(`OMNIBUS_TOKENS entry "${redact(entry)}" is not token=tenant:scopes`);
      const token = entry.slice(0, eq).trim();
      const tenant = entry.slice(eq + 1, colon).trim();
      if (!TENANT_PATTERN.test(tenant)) throw new Error(`OMNIBUS_TOKENS: invalid tenant "${tenant}"`);
      const scopes = parseScopes(entry.slice(colon + 1));
      return { token, tenant, scopes, subject: subjectFor(token) };
    });
}

/**
 * A token's public id: the first 12 hex digits of its digest. It names the token in
 * `token list`, `token revoke <id>` and `/admin/tokens/{id}` without revealing it.
 */
export function tokenIdOf(hash: string): string {
  return hash.slice(0, 12);
}

/** A stable, non-secret name for a token (`token:<id>`): what records show as their creator. */
export function subjectFor(token: string): string {
  return `token:${tokenIdOf(hashToken(token))}`;
}

function redact(entry: string): string {
  const eq = entry.indexOf('=');
  return eq > 0 ? `***${entry.slice(eq)}` : '***';
}

export function principalOf(row: { subject: string; tenant: string; scopes: readonly Scope[] }): Principal {
  return { subject: row.subject, tenant: row.tenant, scopes: new Set(row.scopes) };
}
