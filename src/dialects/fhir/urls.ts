import { ApiError } from '../../errors.js';
import { decodePathSegments, invalidPath } from '../../paths.js';

/** Where FHIR's base is on this server: `POST /fhir` takes the Bundle, `Type[/id]` below it names a collection. */
export const FHIR_BASE = '/fhir';
/** The resource API a FHIR `Type` maps onto: `Patient/k7` is `/v1/Patient/k7`. */
export const SERVICE_ROOT = '/v1/';

/** A FHIR resource type, and so the collection it maps onto. */
const TYPE = /^[A-Za-z][A-Za-z0-9]*$/;

/** Where an entry's `request.url` leads. */
export interface FhirTarget {
  type: string;
  /** As written (percent-encoded, if it was). */
  id?: string;
  /** Everything after `?`, passed on as is. */
  query?: string;
  /** `/v1/Type[/id][?query]`. */
  path: string;
}

/**
 * The url forms of a Bundle entry (relative to the FHIR base): `Type`,
 * `Type/id`, `Type?query`, `Type/id?query`, or an absolute URL under this
 * server's `/fhir/` (same scheme, host and port; a path-absolute `/fhir/...`
 * too). The base itself is the batch endpoint (400 `nested_batch`); another
 * server, `_history`, an `$operation`, `_search`, more segments or a Type that
 * is no FHIR name: 400 `invalid_path`.
 */
export function fhirTarget(url: string, baseUrl: string | undefined): FhirTarget {
  let rest = url;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(url);
  if (scheme) {
    const m = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*)(.*)$/s.exec(url);
    if (!m || !baseUrl || originOf(m[1]!) === undefined || originOf(m[1]!) !== originOf(baseUrl)) {
      throw invalidPath(url, 'is an absolute URL of another server; use Type, Type/id or a URL under this server’s /fhir/');
    }
    // What follows the authority is path-absolute: `http://host` and `http://host?x` are the server's root.
    rest = m[2]!.startsWith('/') ? m[2]! : `/${m[2]!}`;
  }
  if (rest.startsWith('/')) {
    const under = /^\/fhir(?=$|[/?#])/i.exec(rest);
    if (!under) throw invalidPath(url, 'is not under this server’s FHIR base /fhir/');
    rest = rest.slice(under[0].length).replace(/^\//, '');
  }
  if (/[#\\]/.test(rest)) throw invalidPath(url, 'has a fragment or a backslash');
  const q = rest.indexOf('?');
  const pathPart = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? undefined : rest.slice(q + 1);
  if (pathPart === '') {
    throw new ApiError(400, 'nested_batch', `The url ${JSON.stringify(url)} is the FHIR base, where Bundles are posted; Bundles do not nest.`);
  }
  const segments = pathPart.split('/');
  if (segments.includes('_history')) throw invalidPath(url, 'names a version (_history); only current records can be read or written');
  if (segments.some((s) => s.startsWith('$'))) throw invalidPath(url, 'names a FHIR operation ($...), which this server does not run');
  if (segments.length > 2) throw invalidPath(url, 'has more segments than Type/id');
  const [type, id] = segments as [string, string | undefined];
  if (!TYPE.test(type)) throw invalidPath(url, 'does not start with a resource type (letters and digits, starting with a letter)');
  if (id !== undefined) {
    if (id.startsWith('_')) throw invalidPath(url, `names ${id}, which is no record id (FHIR's ${id} interaction is not supported)`);
    // The one place that reads path segments: dot segments, control characters, bad escapes.
    decodePathSegments(`/${type}/${id}`);
  }
  const path = `${SERVICE_ROOT}${type}${id !== undefined ? `/${id}` : ''}${query !== undefined ? `?${query}` : ''}`;
  return { type, id, query, path };
}

/** `scheme://authority` normalised (case, default port); undefined for userinfo or an unparsable authority. */
function originOf(schemeAndAuthority: string): string | undefined {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#]*)/.exec(schemeAndAuthority);
  if (!m || m[2] === '' || m[2]!.includes('@')) return undefined;
  try {
    // Only scheme and authority reach the URL parser: it would resolve dot segments of a path.
    const origin = new URL(`${m[1]}${m[2]}`).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

/** A resource API path (`/v1/Patient/k7`, or an absolute URL of it) as FHIR writes it: `Patient/k7`. */
export function fhirLocation(location: string): string {
  if (location.startsWith(SERVICE_ROOT)) return location.slice(SERVICE_ROOT.length);
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*(.*)$/s.exec(location);
  const path = m ? m[1]! : location;
  return path.startsWith(SERVICE_ROOT) ? path.slice(SERVICE_ROOT.length) : path.replace(/^\//, '');
}
