import { Hono } from 'hono';
import { createToken } from '../auth/authenticator.js';
import { hasScope, type Principal } from '../auth/principal.js';
import { parseScopes, TENANT_PATTERN } from '../auth/tokens.js';
import { ApiError } from '../errors.js';
import { invalidJson } from '../json/invalid-json.js';
import { parseJsonUnique } from '../json/unique-members.js';
import type { Services } from '../services.js';
import type { TokenInfo } from '../store/types.js';
import { readRequestText } from './node-incoming.js';

type AdminEnv = { Variables: { principal: Principal } };

const NO_STORE = { 'cache-control': 'no-store' };

/**
 * Token management over HTTP, for admin tokens only, mounted at `/admin/tokens`
 * behind the server's authentication:
 *
 * - `GET /admin/tokens`: 200 `{"items":[{id, tenant, subject, scopes, created, lastUsed, source}]}`
 * - `GET /admin/tokens/{id}`: 200 one of those; 404 `not_found`
 * - `POST /admin/tokens` `{"scopes":["read","write"]}`: 201 with `"token"` (shown this once) and `Location`
 * - `DELETE /admin/tokens/{id}`: 204; 404 `not_found`
 *
 * An admin manages the tokens of its own tenant: another tenant's tokens are
 * invisible to it (404, as for records), and creating one for another tenant
 * is 403 `forbidden`; the CLI (`omnibus token …`), which works on the database
 * directly, manages every tenant. A token never leaves the server after the
 * answer that created it; only its hash is stored.
 */
export function adminTokenRoutes(services: Pick<Services, 'auth' | 'config'>): Hono<AdminEnv> {
  const app = new Hono<AdminEnv>();

  app.use('*', async (c, next) => {
    if (!hasScope(c.get('principal'), 'admin')) {
      throw new ApiError(403, 'forbidden', 'Managing tokens needs a token with the admin scope.');
    }
    await next();
  });

  const ownTokens = async (principal: Principal): Promise<TokenInfo[]> =>
    (await services.auth.list()).filter((t) => t.tenant === principal.tenant);

  const notFound = (id: string): ApiError => new ApiError(404, 'not_found', `No token with id ${JSON.stringify(id)}.`);

  app.get('/', async (c) => c.json({ items: await ownTokens(c.get('principal')) }, 200, NO_STORE));

  app.get('/:id', async (c) => {
    const id = c.req.param('id');
    const token = (await ownTokens(c.get('principal'))).find((t) => t.id === id);
    if (!token) throw notFound(id);
    return c.json(token, 200, NO_STORE);
  });

  app.post('/', async (c) => {
    const principal = c.get('principal');
    const type = c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') {
      throw new ApiError(415, 'unsupported_media_type', 'Send the new token as application/json: {"scopes":["read","write"]}.');
    }
    const text = await readRequestText(c, services.config.maxBatchBytes);
    let body: unknown;
    try {
      body = text.trim() === '' ? {} : parseJsonUnique(text);
    } catch (err) {
      throw invalidJson(err, 'The body');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new ApiError(400, 'bad_request', 'The body must be an object: {"scopes":["read","write"]}.');
    }
    const { scopes: rawScopes = ['read', 'write'], tenant = principal.tenant, ...rest } = body as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) throw new ApiError(400, 'bad_request', `Unknown member ${JSON.stringify(unknown[0])}: only "scopes" and "tenant".`);
    if (typeof tenant !== 'string' || !TENANT_PATTERN.test(tenant)) throw new ApiError(400, 'bad_request', '"tenant" must be a tenant name.');
    if (tenant !== principal.tenant) {
      throw new ApiError(403, 'forbidden', `An admin token manages its own tenant's tokens (${principal.tenant}); use \`omnibus token create --tenant ${tenant}\`.`);
    }
    const scopeText = Array.isArray(rawScopes) && rawScopes.every((s) => typeof s === 'string') ? rawScopes.join(',') : rawScopes;
    if (typeof scopeText !== 'string') throw new ApiError(400, 'bad_request', '"scopes" must be an array of read, write, admin.');
    let scopes;
    try {
      scopes = parseScopes(scopeText);
    } catch (err) {
      throw new ApiError(400, 'bad_request', (err as Error).message);
    }
    const grant = await createToken(services.auth, tenant, scopes, 'api');
    const info = (await services.auth.list()).find((t) => t.id === grant.id);
    return c.json({ ...info, token: grant.token }, 201, { ...NO_STORE, location: `/admin/tokens/${grant.id}` });
  });

  app.delete('/:id', async (c) => {
    const id = c.req.param('id');
    const token = (await ownTokens(c.get('principal'))).find((t) => t.id === id);
    if (!token || !(await services.auth.revoke(id))) throw notFound(id);
    return c.body(null, 204);
  });

  return app;
}
