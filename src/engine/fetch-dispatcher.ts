import { AsyncLocalStorage } from 'node:async_hooks';
import type { ApiRequest, ApiResponse } from '../api/types.js';
import type { Principal } from '../auth/principal.js';
import type { Dispatcher } from './types.js';

export type FetchHandler = (req: Request, env?: unknown) => Response | Promise<Response>;

/** The key under which a dispatched operation's principal travels in the handler's `env`. */
export const PRINCIPAL_ENV_KEY = 'omnibusPrincipal';

const principalContext = new AsyncLocalStorage<Principal>();

/**
 * The principal of the batch operation being handled, if any: from the
 * handler's env (Hono: `c.env`) or from async context. It is set in-process
 * only; no header can produce it.
 */
export function batchPrincipal(env?: unknown): Principal | undefined {
  const fromEnv = (env as Record<string, unknown> | undefined)?.[PRINCIPAL_ENV_KEY];
  return (fromEnv as Principal | undefined) ?? principalContext.getStore();
}

/**
 * The generic dispatcher for routes of a user's own app: builds a Web
 * Request per operation and reads the Response. It pays the stream cost that
 * Omnibus's own routes avoid (they are called directly), so it is the
 * fallback, not the fast path.
 */
export function fetchDispatcher(handler: FetchHandler, origin = 'http://omnibus.internal'): Dispatcher {
  return async (req: ApiRequest): Promise<ApiResponse> => {
    const headers = new Headers([...req.headers]);
    let body: string | undefined;
    if (req.body.kind === 'json') {
      body = JSON.stringify(req.body.value);
      headers.set('content-type', 'application/json');
    } else if (req.body.kind === 'text') {
      body = req.body.text;
      if (req.body.contentType !== undefined) headers.set('content-type', req.body.contentType);
    }
    const query = req.query.toString();
    const request = new Request(`${origin}${req.path}${query ? `?${query}` : ''}`, { method: req.method, headers, body });
    const res = await principalContext.run(req.principal, () => handler(request, { [PRINCIPAL_ENV_KEY]: req.principal }));
    const text = await res.text();
    const out: Record<string, string> = {};
    res.headers.forEach((value, name) => {
      if (name !== 'content-length' && name !== 'content-encoding' && name !== 'transfer-encoding') out[name] = value;
    });
    if (text === '') return { status: res.status, headers: out };
    if (/^application\/([\w.+-]+\+)?json\b/i.test(res.headers.get('content-type') ?? '')) {
      try {
        return { status: res.status, headers: out, body: JSON.parse(text) };
      } catch {
        // Not JSON after all: hand it on as text.
      }
    }
    return { status: res.status, headers: out, text };
  };
}
