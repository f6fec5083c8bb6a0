import { AsyncResource } from 'node:async_hooks';
import type { Logger } from '../log.js';
import type { Store, TokenInfo, TokenRecord, TokenSource } from '../store/types.js';
import type { Principal } from './principal.js';
import { generateToken, hashToken, parseTokenList, principalOf, subjectFor, tokenIdOf, type TokenGrant } from './tokens.js';

const CACHE_TTL_MS = 30_000;
const CACHE_MAX = 10_000;
/** A token's last use is written at most once per this interval (per token). */
export const LAST_USED_INTERVAL_MS = 60_000;
/** Uses noted within this delay are written together, in one store call. */
const LAST_USED_FLUSH_DELAY_MS = 1_000;

/**
 * Resolves bearer tokens to principals. Tokens are looked up by their SHA-256
 * digest; results (hits and misses) are cached briefly so a batch of 100
 * operations with per-operation tokens costs one lookup per distinct token.
 *
 * Last use: a request never waits for a write. The first use of a token in a
 * minute is noted and written, with the other uses noted meanwhile, about a
 * second later in one store call; later uses within that minute write
 * nothing. So `lastUsed` is at most a minute (plus a second) behind.
 */
export class Authenticator {
  private readonly cache = new Map<string, { principal: Principal | undefined; expires: number }>();
  /** Uses not written yet: hash → ISO time. */
  private readonly pendingUses = new Map<string, string>();
  /** When each token's use was last noted for writing (ms). */
  private readonly notedAt = new Map<string, number>();
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /**
   * Writes run in the async context the authenticator was made in: a token
   * first seen inside a batch transaction group must not have its last-use
   * write join (and be rolled back with, or outlive) that transaction.
   */
  private readonly root = new AsyncResource('omnibus.token-last-used');
  /** Ids of `OMNIBUS_TOKENS` tokens removed at start because the variable no longer lists them. */
  removedEnvTokens: string[] = [];
  /** Where a failed last-use write is reported (default: nowhere; it is retried with the next use). */
  log: Pick<Logger, 'warn'> | undefined;

  constructor(private readonly store: Store) {}

  async authenticate(token: string | undefined): Promise<Principal | undefined> {
    if (!token) return undefined;
    const hash = hashToken(token);
    const now = Date.now();
    const cached = this.cache.get(hash);
    let principal: Principal | undefined;
    if (cached && cached.expires > now) {
      principal = cached.principal;
    } else {
      const row = await this.store.findToken(hash);
      principal = row && principalOf(row);
      if (this.cache.size >= CACHE_MAX) this.cache.clear();
      this.cache.set(hash, { principal, expires: now + CACHE_TTL_MS });
    }
    if (principal) this.noteUse(hash, now);
    return principal;
  }

  async grant(grant: TokenGrant, source: TokenSource = 'cli'): Promise<void> {
    const hash = hashToken(grant.token);
    await this.store.putToken(tokenRecord(hash, grant, source));
    this.cache.delete(hash);
  }

  /** Stores the token only if there is no token at all; false when another was there first. */
  async grantFirst(grant: TokenGrant, source: TokenSource): Promise<boolean> {
    const hash = hashToken(grant.token);
    const stored = await this.store.putFirstToken(tokenRecord(hash, grant, source));
    this.cache.delete(hash);
    return stored;
  }

  /** Every token (never the token itself), with last uses noted so far written first. */
  async list(): Promise<TokenInfo[]> {
    await this.flushUses();
    return this.store.listTokens();
  }

  /**
   * Deletes a token. It stops working at once here; another server process
   * that cached it stops accepting it within 30 seconds (its cache lifetime).
   */
  async revoke(id: string): Promise<boolean> {
    const deleted = await this.store.deleteToken(id);
    // The cache is keyed by hash, which the id does not give back: forget everything.
    if (deleted) this.cache.clear();
    return deleted;
  }

  /** Writes the uses noted so far (also called on shutdown). */
  flushUses(): Promise<void> {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    const uses = [...this.pendingUses].map(([hash, lastUsed]) => ({ hash, lastUsed }));
    this.pendingUses.clear();
    const write = this.flushing.then(() =>
      uses.length === 0
        ? undefined
        : this.root.runInAsyncScope(() => this.store.touchTokens(uses)).catch((err: unknown) => {
            // Not worth failing anything over: the next use in a minute writes again.
            for (const u of uses) this.notedAt.delete(u.hash);
            this.log?.warn({ err }, 'could not record when tokens were last used');
          }),
    );
    this.flushing = write;
    return write;
  }

  private noteUse(hash: string, now: number): void {
    const noted = this.notedAt.get(hash);
    if (noted !== undefined && now - noted < LAST_USED_INTERVAL_MS) return;
    if (this.notedAt.size >= CACHE_MAX) this.notedAt.clear();
    this.notedAt.set(hash, now);
    this.pendingUses.set(hash, new Date(now).toISOString());
    if (!this.flushTimer) {
      this.flushTimer = this.root.runInAsyncScope(() =>
        setTimeout(() => {
          this.flushTimer = undefined;
          void this.flushUses();
        }, LAST_USED_FLUSH_DELAY_MS),
      );
      this.flushTimer.unref();
    }
  }
}

/**
 * Stores the tokens of `OMNIBUS_TOKENS` (hashed, source 'env') and deletes
 * every token an earlier start stored from the variable that it no longer
 * lists: the variable is the whole truth about its tokens. Tokens made with
 * the CLI, the admin API or on first start are left alone.
 */
export async function bootstrapTokens(auth: Authenticator, tokens: string | undefined): Promise<number> {
  const grants = tokens ? parseTokenList(tokens) : [];
  for (const g of grants) await auth.grant(g, 'env');
  const listed = new Set(grants.map((g) => tokenIdOf(hashToken(g.token))));
  auth.removedEnvTokens = [];
  for (const t of await auth.list()) {
    if (t.source === 'env' && !listed.has(t.id) && (await auth.revoke(t.id))) auth.removedEnvTokens.push(t.id);
  }
  return grants.length;
}

/**
 * The admin token of a first start, when the store has no token at all: made
 * and stored in one step, so of several nodes starting together on an empty
 * database exactly one makes it (the others get undefined).
 */
export async function createFirstToken(auth: Authenticator, tenant: string, scopes: TokenGrant['scopes']): Promise<(TokenGrant & { id: string }) | undefined> {
  const grant = newGrant(tenant, scopes);
  return (await auth.grantFirst(grant, 'first-run')) ? withId(grant) : undefined;
}

function tokenRecord(hash: string, grant: TokenGrant, source: TokenSource): TokenRecord {
  return { hash, tenant: grant.tenant, subject: grant.subject, scopes: grant.scopes, created: new Date().toISOString(), source };
}

/** Creates a token and stores only its digest; the caller shows the token once. */
export async function createToken(
  auth: Authenticator,
  tenant: string,
  scopes: TokenGrant['scopes'],
  source: TokenSource = 'cli',
): Promise<TokenGrant & { id: string }> {
  const grant = newGrant(tenant, scopes);
  await auth.grant(grant, source);
  return withId(grant);
}

/** A freshly generated token for `tenant`, its subject derived from it. */
function newGrant(tenant: string, scopes: TokenGrant['scopes']): TokenGrant {
  const token = generateToken();
  return { token, tenant, scopes, subject: subjectFor(token) };
}

/** The grant with the token's public id, as it is shown once. */
function withId(grant: TokenGrant): TokenGrant & { id: string } {
  return { ...grant, id: tokenIdOf(hashToken(grant.token)) };
}
