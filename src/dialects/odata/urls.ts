import { invalidPath } from '../../paths.js';

/** OData's service root here: a relative url is resolved against it. */
export const SERVICE_ROOT = '/v1/';

/** Where an OData request's url leads: a path to check, or a reference to resolve at run time. */
export interface ODataTarget {
  path: string;
  /** `$<id>[/<rest>|?<query>]`: the entity request `id` created or returned, then `rest`. */
  reference?: { id: string; rest: string };
}

/**
 * The url forms both OData batch formats take (SPEC 5.5, 5.6): `$<id>` or
 * `$<id>/<rest>` (a reference, when `<id>` names a request of this batch;
 * `$batch` otherwise names the batch endpoint itself), an absolute path, an
 * absolute URL of this very server (same scheme, host and port; the path
 * after it is checked like any other), or a path relative to the service
 * root `/v1/`. `requestId` maps a name as written to the batch's id for it.
 */
export function odataTarget(url: string, requestId: (name: string) => string | undefined, baseUrl: string | undefined): ODataTarget {
  // Relative to the service root an empty url would name the root itself, which no request means.
  if (url === '') throw invalidPath(url, 'is empty');
  if (url.startsWith('$')) {
    const end = url.search(/[/?]/);
    const name = url.slice(1, end < 0 ? undefined : end);
    const id = requestId(name);
    if (id === undefined && name.toLowerCase() === 'batch') return { path: SERVICE_ROOT + url };
    return { path: url, reference: { id: id ?? name, rest: end < 0 ? '' : url.slice(end) } };
  }
  if (url.startsWith('/')) return { path: url };
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(url);
  if (!scheme) return { path: SERVICE_ROOT + url };
  const absolute = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/s.exec(url);
  if (!absolute || !baseUrl || originOf(absolute[1]!, absolute[2]!) !== originOf(...splitOrigin(baseUrl))) {
    throw invalidPath(url, 'is an absolute URL of another server; use a path of this one');
  }
  const rest = absolute[3]!;
  return { path: rest === '' || rest.startsWith('?') ? `/${rest}` : rest };
}

/** `scheme://authority` normalised (case, default port); undefined for userinfo or an unparsable authority. */
function originOf(schemePart: string, authority: string): string | undefined {
  if (authority === '' || authority.includes('@')) return undefined;
  try {
    // Only scheme and authority reach the URL parser: it would resolve dot segments of a path.
    const origin = new URL(`${schemePart}${authority}`).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

function splitOrigin(baseUrl: string): [string, string] {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#]*)/.exec(baseUrl);
  return m ? [m[1]!, m[2]!] : ['', ''];
}
