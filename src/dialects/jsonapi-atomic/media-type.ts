import { ApiError } from '../../errors.js';

/** The Atomic Operations extension, as JSON:API names it in the `ext` media type parameter. */
export const ATOMIC_EXT = 'https://jsonapi.org/ext/atomic';

/** What a batch must be sent as, and what every answer of the endpoint is sent as. */
export const ATOMIC_MEDIA_TYPE = `application/vnd.api+json;ext="${ATOMIC_EXT}"`;

const JSONAPI = 'application/vnd.api+json';
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Checks the request's `Content-Type` as JSON:API 1.1 says a server must:
 * `application/vnd.api+json` (any case) whose only parameters are `ext` and
 * `profile`, each at most once, and whose `ext` names this extension and no
 * other (the URI compared exactly, quoted as JSON:API writes it, or bare).
 * `profile` is accepted and ignored. Anything else is 415.
 */
export function checkAtomicContentType(contentType: string | undefined): void {
  const why = contentTypeProblem(contentType ?? '');
  if (why === undefined) return;
  const sent = contentType === undefined ? 'no Content-Type' : `Content-Type ${JSON.stringify(contentType.slice(0, 200))}`;
  throw new ApiError(415, 'unsupported_media_type', `JSON:API atomic operations take Content-Type: ${ATOMIC_MEDIA_TYPE}; ${sent} ${why}.`);
}

function contentTypeProblem(value: string): string | undefined {
  const parsed = parseMediaType(value);
  if (!parsed) return 'is not a media type';
  if (parsed.type !== JSONAPI) return `is not ${JSONAPI}`;
  const seen = new Set<string>();
  let ext: string | undefined;
  for (const [name, v] of parsed.parameters) {
    if (name !== 'ext' && name !== 'profile') return `has the parameter ${JSON.stringify(name)}, and JSON:API allows only ext and profile`;
    if (seen.has(name)) return `has more than one ${name} parameter`;
    seen.add(name);
    if (name === 'ext') ext = v;
  }
  if (ext === undefined) return 'names no extension (ext)';
  const uris = ext.split(/[ \t]+/).filter(Boolean);
  if (uris.length !== 1 || uris[0] !== ATOMIC_EXT) return `asks for the extensions ${JSON.stringify(ext.slice(0, 200))}, and only ${ATOMIC_EXT} is supported here`;
  return undefined;
}

/** `type/subtype` (lower-cased) and its parameters (names lower-cased, values unquoted), or undefined when it does not parse. */
function parseMediaType(value: string): { type: string; parameters: [string, string][] } | undefined {
  const semi = value.indexOf(';');
  const type = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
  if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type)) return undefined;
  const parameters: [string, string][] = [];
  let i = semi < 0 ? value.length : semi;
  while (i < value.length) {
    // At a `;`: skip it and the whitespace after it.
    i++;
    while (value[i] === ' ' || value[i] === '\t') i++;
    if (i >= value.length) break; // a trailing `;`
    const eq = value.indexOf('=', i);
    if (eq < 0) return undefined;
    const name = value.slice(i, eq).trim().toLowerCase();
    if (!TOKEN.test(name)) return undefined;
    i = eq + 1;
    let v = '';
    if (value[i] === '"') {
      i++;
      for (;;) {
        if (i >= value.length) return undefined; // an unterminated quoted string
        const c = value[i]!;
        if (c === '"') break;
        if (c === '\\') {
          i++;
          if (i >= value.length) return undefined;
        }
        v += value[i];
        i++;
      }
      i++;
      while (value[i] === ' ' || value[i] === '\t') i++;
      if (i < value.length && value[i] !== ';') return undefined;
    } else {
      const end = value.indexOf(';', i);
      v = value.slice(i, end < 0 ? undefined : end).trim();
      i = end < 0 ? value.length : end;
      // A bare value is a token; the extension URI is accepted bare too (clients send it so).
      if (v === '' || /[\s",\\]/.test(v)) return undefined;
    }
    parameters.push([name, v]);
  }
  return { type, parameters };
}
