import { invalidPath } from '../../paths.js';
import { parseTemplate, type CompositeReference, type Template } from './references.js';

/** A reference in a url, and whether it stands inside a quoted string of a `$filter`. */
export type UrlReference = CompositeReference & { quoted?: boolean };

/** Where a subrequest's `url` leads on Omnibus. */
export interface CompositeUrl {
  /** The Omnibus path with its query, references as written (the engine checks it; messages show it). */
  path: string;
  /** The same as text and references, when it has any. */
  parts?: (string | UrlReference)[];
  /** A GET of it reads a list: `/v1/{collection}`, `sobjects/{collection}`, or a query with `$filter`, `$top`, `$skip` or `$orderby`. */
  list: boolean;
}

/** Salesforce's REST API root: `/services/data/v59.0/...`. */
const VERSION = /^v[0-9]{1,3}\.[0-9]{1,3}$/;
const LIST_QUERY = new Set(['$filter', '$top', '$skip', '$orderby']);

type Piece = string | UrlReference;
interface Parameter {
  name: Piece[];
  value?: Piece[];
}

/**
 * A subrequest's `url` as an Omnibus path (SPEC 5.7): an Omnibus path is
 * kept as written; `/services/data/v{NN.N}/sobjects/{collection}[/{id}]`,
 * as jsforce and Salesforce-shaped code send it, IS `/v1/{collection}[/{id}]`
 * (query kept); `/services/data/v{NN.N}/composite[/...]` is kept, for the
 * engine to refuse as a nested batch; any other `/services/data/` url (query,
 * external-id upsert, describe) is 400 `invalid_path`.
 *
 * A reference may stand only in the id segment (the last one, after at least
 * `/v1/{collection}/`) or in a query value, where its value is data; in a
 * `$filter`, only inside a quoted string. Anywhere else: 400 `invalid_path`.
 */
export function compositeUrl(url: string, where: string): CompositeUrl {
  // The common case, an Omnibus path without references, needs no walk.
  if (!url.includes('@{') && !/^\/services\/data(?:[/?]|$)/i.test(url)) return { path: url, list: isList(url) };
  const template = parseTemplate(url, `${where}: url`) ?? [url];
  let { segments, query } = split(template);
  const hasReference = template.some((p) => typeof p !== 'string');
  const refuse = (why: string): never => {
    throw invalidPath(url, why);
  };

  if (hasReference) {
    if (segments.slice(0, -1).some(hasRef)) refuse('has a reference outside the id segment; a reference may stand only in the id segment or a query value');
    if (query?.some((p) => hasRef(p.name))) refuse('has a reference in a query parameter name; a reference may stand only in the id segment or a query value');
  }

  if (segments.length >= 3 && segments[0]!.length === 0 && same(text(segments[1]!), 'services') && same(text(segments[2]!), 'data')) {
    const version = text(segments[3] ?? []);
    const kind = text(segments[4] ?? []);
    if (version === undefined || !VERSION.test(version)) refuse('is a Salesforce URL without an API version such as v59.0 (/services/data/v59.0/sobjects/{collection})');
    if (same(kind, 'sobjects') && (segments.length === 6 || segments.length === 7) && text(segments[5]!) !== '') {
      segments = [[], ['v1'], ...segments.slice(5)];
    } else if (!same(kind, 'composite')) {
      refuse('is a Salesforce URL Omnibus does not serve; only /services/data/vNN.N/sobjects/{collection}[/{id}] maps onto /v1/{collection}[/{id}]');
    }
  }

  if (hasReference && hasRef(segments[segments.length - 1]!) && segments.length < 4) {
    refuse('has a reference in the collection; a reference may stand only in the id segment or a query value');
  }
  for (const p of query ?? []) {
    if (decoded(p.name) !== '$filter' || !p.value || !hasRef(p.value)) continue;
    // Inside $filter, the value is the content of a quoted string: its own quotes are doubled.
    let quotes = 0;
    for (const piece of p.value) {
      if (typeof piece === 'string') quotes += (decodedText(piece).match(/'/g) ?? []).length;
      else if (quotes % 2 === 1) piece.quoted = true;
      else refuse(`has ${piece.written} in $filter outside a quoted string; write '${piece.written}'`);
    }
  }

  const parts = join(segments, query);
  const list = (segments.length === 3 && same(text(segments[1]!), 'v1')) || (query ?? []).some((p) => LIST_QUERY.has(decoded(p.name) ?? ''));
  const path = parts.map((p) => (typeof p === 'string' ? p : p.written)).join('');
  return hasReference ? { path, parts, list } : { path, list };
}

/** Whether a GET of this plain url reads a list (see `CompositeUrl.list`). */
function isList(url: string): boolean {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const segments = path.split('/');
  if (segments.length === 3 && segments[0] === '' && segments[1]!.toLowerCase() === 'v1') return true;
  return q >= 0 && url.slice(q + 1).split('&').some((p) => LIST_QUERY.has(decodedText(p.split('=')[0]!)));
}

/** The path's segments (the first one before the leading `/`) and query parameters, with references kept whole. */
function split(template: Template): { segments: Piece[][]; query?: Parameter[] } {
  const segments: Piece[][] = [[]];
  let query: Parameter[] | undefined;
  let current = segments[0]!;
  for (const part of template) {
    if (typeof part !== 'string') {
      current.push({ ...part });
      continue;
    }
    let from = 0;
    for (let i = 0; i < part.length; i++) {
      const c = part[i];
      let next: Piece[] | undefined;
      if (!query && c === '/') segments.push((next = []));
      else if (!query && c === '?') query = [{ name: (next = []) }];
      else if (query && c === '&') query.push({ name: (next = []) });
      else if (query && c === '=' && current === query[query.length - 1]!.name) query[query.length - 1]!.value = next = [];
      if (!next) continue;
      if (i > from) add(current, part.slice(from, i));
      current = next;
      from = i + 1;
    }
    if (part.length > from) add(current, part.slice(from));
  }
  return { segments, query };
}

function join(segments: Piece[][], query: Parameter[] | undefined): Piece[] {
  const out: Piece[] = [];
  segments.forEach((segment, i) => {
    if (i > 0) add(out, '/');
    for (const piece of segment) add(out, piece);
  });
  if (query) {
    add(out, '?');
    query.forEach((p, i) => {
      if (i > 0) add(out, '&');
      for (const piece of p.name) add(out, piece);
      if (p.value) {
        add(out, '=');
        for (const piece of p.value) add(out, piece);
      }
    });
  }
  return out;
}

/** Appends, joining text to text. */
function add(pieces: Piece[], piece: Piece): void {
  const last = pieces.length - 1;
  if (typeof piece === 'string' && typeof pieces[last] === 'string') pieces[last] += piece;
  else if (piece !== '') pieces.push(piece);
}

function hasRef(pieces: Piece[]): boolean {
  return pieces.some((p) => typeof p !== 'string');
}

/** A segment's text, or undefined when a reference stands in it. */
function text(pieces: Piece[]): string | undefined {
  return hasRef(pieces) ? undefined : pieces.join('');
}

function same(a: string | undefined, b: string): boolean {
  return a !== undefined && a.toLowerCase() === b;
}

function decoded(pieces: Piece[]): string | undefined {
  const t = text(pieces);
  return t === undefined ? undefined : decodedText(t);
}

/** A query's text as its parser reads it (`+` a space, escapes decoded); as written when an escape is malformed. */
function decodedText(t: string): string {
  try {
    return decodeURIComponent(t.replace(/\+/g, ' '));
  } catch {
    return t;
  }
}
