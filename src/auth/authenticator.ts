import type { Store } from '../store/types.js';
import type { Principal } from './principal.js';
import { generateToken, hashToken, parseTokenList, principalOf, subjectFor, type TokenGrant } from './tokens.js';

const CACHE_TTL_MS = 30_000;
const CACHE_MAX = 10_000;

/**
 * Resolves bearer tokens to principals. Tokens are looked up by their SHA-256
 * digest; results (hits and misses) are cached briefly so a batch of 100
 * operations with per-operation tokens costs one lookup per distinct token.
 */
export class Authenticator {
  private readonly cache = new Map<string, { principal: Principal | undefined; expires: number }>();

  constructor(private readonly store: Store) {}

  async authenticate(token: string | undefined): Promise<Principal | undefined> {
    if (!token) return undefined;
    const hash = hashToken(token);
    const now = Date.now();
    const cached = this.cache.get(hash);
    if (cached && cached.expires > now) return cached.principal;
    const row = await this.store.findToken(hash);
    const principal = row && principalOf(row);
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(hash, { principal, expires: now + CACHE_TTL_MS });
    return principal;
  }

  async grant(grant: TokenGrant): Promise<void> {
    const hash = hashToken(grant.token);
    await this.store.putToken({
      hash,
      tenant: grant.tenant,
      subject: grant.subject,
      scopes: grant.scopes,
      created: new Date().toISOString(),
    });
    this.cache.delete(hash);
  }
}

/** Stores the tokens of `OMNIBUS_TOKENS` (hashed). */
export async function bootstrapTokens(auth: Authenticator, tokens: string | undefined): Promise<number> {
  if (!tokens) return 0;
  const grants = parseTokenList(tokens);
  for (const g of grants) await auth.grant(g);
  return grants.length;
}

/** Creates a token and stores only its digest; the caller shows the token once. */
export async function createToken(
  auth: Authenticator,
  tenant: string,
  scopes: TokenGrant['scopes'],
): Promise<TokenGrant> {
  const token = generateToken();
  const grant = { token, tenant, scopes, subject: subjectFor(token) };
  await auth.grant(grant);
  return grant;
}
