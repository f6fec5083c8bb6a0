import { MAX_JSON_DEPTH } from '../../api/request-body.js';
import type { BodyReference, ResultValue, UrlValue } from '../../engine/types.js';
import { ApiError } from '../../errors.js';

/**
 * What a transaction entry's `fullUrl` stands for in the other entries: a
 * PUT's record is known before anything runs (`Patient/p1`); a POST's id is
 * assigned when it runs, so it is a reference to that operation's answer.
 */
export type FullUrlTarget = { kind: 'known'; value: string } | { kind: 'created'; entry: number; opId: string; type: string };

/** Whose `fullUrl` a string is, once resolved: the text itself, or the created record's `Type/id`. */
function targetParts(t: FullUrlTarget): (string | ResultValue)[] {
  return t.kind === 'known' ? [t.value] : [`${t.type}/`, { id: t.opId, select: ['id'] }];
}

/** A string of a resource, where it stands. */
interface FoundString {
  at: (string | number)[];
  value: string;
  /** The member name it is the value of (`reference`), or undefined inside an array. */
  member: string | undefined;
}

/**
 * Every string of a resource (values, never member names), iteratively, so
 * no nesting can overflow the stack; deeper than the store takes: 400.
 * `identifier` members are skipped: an Identifier's value names the resource
 * for people and other systems, and stays as written even when it is a
 * `urn:uuid:` of this Bundle.
 */
function stringsOf(resource: Record<string, unknown>, entry: number): FoundString[] {
  const found: FoundString[] = [];
  const stack: { node: unknown; at: (string | number)[]; member: string | undefined }[] = [{ node: resource, at: [], member: undefined }];
  while (stack.length > 0) {
    const { node, at, member } = stack.pop()!;
    if (typeof node === 'string') {
      found.push({ at, value: node, member });
      continue;
    }
    if (node === null || typeof node !== 'object') continue;
    if (at.length >= MAX_JSON_DEPTH) {
      throw new ApiError(400, 'bad_request', `Bundle.entry[${entry}].resource nests deeper than ${MAX_JSON_DEPTH} levels.`);
    }
    if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) stack.push({ node: node[i], at: [...at, i], member });
    } else {
      for (const key of Object.keys(node).reverse()) {
        if (key === 'identifier') continue;
        stack.push({ node: (node as Record<string, unknown>)[key], at: [...at, key], member: key });
      }
    }
  }
  return found;
}

/** The rewrites of one transaction entry's resource. */
export interface ResourceRewrite {
  /** The resource with every `fullUrl` of a PUT replaced by its `Type/id`. */
  resource: Record<string, unknown>;
  /** Strings that stand for a POST's record, resolved when this entry runs. */
  references: BodyReference[];
  /** Entries (by index) of the POSTs it refers to. */
  refersTo: Set<number>;
}

/**
 * A transaction entry's resource with the Bundle's `fullUrl`s resolved: a
 * string (at any depth; member names never) equal to a POST or PUT entry's
 * `fullUrl` becomes that record's `Type/id`, the rest stays. A `reference`
 * holding a `urn:uuid:` that no entry declares is 400 `invalid_dependency`:
 * it could only ever dangle.
 */
export function rewriteResource(
  resource: Record<string, unknown>,
  entry: number,
  targets: ReadonlyMap<string, FullUrlTarget>,
  declared: ReadonlySet<string>,
): ResourceRewrite {
  let copy: Record<string, unknown> | undefined;
  const references: BodyReference[] = [];
  const refersTo = new Set<number>();
  for (const s of stringsOf(resource, entry)) {
    const target = targets.get(s.value);
    if (target === undefined) {
      if (s.member === 'reference' && /^urn:uuid:/i.test(s.value) && !declared.has(s.value)) {
        throw new ApiError(
          400,
          'invalid_dependency',
          `Bundle.entry[${entry}].resource refers to ${s.value}, which no entry of this FHIR Bundle declares as its fullUrl.`,
        );
      }
      continue;
    }
    if (target.kind === 'known') {
      copy ??= structuredClone(resource);
      setAt(copy, s.at, target.value);
    } else {
      references.push({ at: s.at, parts: targetParts(target) });
      refersTo.add(target.entry);
    }
  }
  return { resource: copy ?? resource, references, refersTo };
}

/**
 * A batch resolves nothing: a `reference` to another entry's `fullUrl`
 * would be left dangling, so it is 400 `invalid_dependency`.
 */
export function checkBatchResource(resource: Record<string, unknown>, entry: number, fullUrls: ReadonlyMap<string, number>): void {
  for (const s of stringsOf(resource, entry)) {
    if (s.member !== 'reference') continue;
    const other = fullUrls.get(s.value);
    if (other !== undefined && other !== entry) {
      throw new ApiError(
        400,
        'invalid_dependency',
        `Bundle.entry[${entry}].resource refers to Bundle.entry[${other}] by its fullUrl; only a transaction resolves references between entries, a batch runs each entry alone.`,
      );
    }
  }
}

/** A GET's query with the Bundle's `fullUrl`s in it resolved: `query` the known text, `parts` when a POST's id is needed. */
export interface QueryRewrite {
  query: string;
  /** The query as text and the created records' ids (each percent-encoded as data where it stands). */
  parts?: (string | UrlValue)[];
  refersTo: Set<number>;
}

/**
 * The `fullUrl`s of POST and PUT entries that a GET query mentions (as
 * written or percent-encoded; the longest first, so one never eats another)
 * stand for those records' `Type/id`, percent-encoded as query text; inside
 * a quoted `$filter` string each `'` of it is doubled, so it stays that
 * string's content.
 */
export function rewriteQuery(query: string, targets: ReadonlyMap<string, FullUrlTarget>): QueryRewrite {
  const refersTo = new Set<number>();
  const needles: [string, FullUrlTarget][] = [];
  for (const [fullUrl, t] of targets) {
    needles.push([fullUrl, t]);
    const encoded = encodeURIComponent(fullUrl);
    if (encoded !== fullUrl) needles.push([encoded, t]);
  }
  needles.sort((a, b) => b[0].length - a[0].length);
  const parts: (string | UrlValue)[] = [];
  let text = '';
  let created = false;
  for (let i = 0; i < query.length; ) {
    // The earliest mention from here on (the longest of those that start there).
    let at = -1;
    let hit: [string, FullUrlTarget] | undefined;
    for (const n of needles) {
      const k = query.indexOf(n[0], i);
      if (k >= 0 && (at < 0 || k < at)) [at, hit] = [k, n];
    }
    if (!hit) {
      text += query.slice(i);
      break;
    }
    const [needle, t] = hit;
    text += query.slice(i, at);
    const quoted = insideQuotes(query, at);
    if (t.kind === 'known') {
      text += queryText(quoted ? t.value.replace(/'/g, "''") : t.value);
    } else {
      created = true;
      refersTo.add(t.entry);
      parts.push(text + queryText(`${t.type}/`), { id: t.opId, select: ['id'], ...(quoted ? { quoted } : {}) });
      text = '';
    }
    i = at + needle.length;
  }
  if (!created) return { query: text, refersTo };
  parts.push(text);
  return { query: parts.map((p) => (typeof p === 'string' ? p : 'id')).join(''), parts, refersTo };
}

/** Whether position `at` of a query lies inside a `'...'` string (quotes as written or as %27; `''` is two). */
function insideQuotes(query: string, at: number): boolean {
  const before = query.slice(0, at);
  const quotes = (before.match(/'|%27/gi) ?? []).length;
  return quotes % 2 === 1;
}

/** Text as data in a query value: percent-encoded whole, parentheses and quotes too. */
function queryText(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function setAt(root: Record<string, unknown>, at: (string | number)[], value: string): void {
  let node: unknown = root;
  for (let i = 0; i < at.length - 1; i++) node = (node as Record<string | number, unknown>)[at[i]!];
  Object.defineProperty(node, at[at.length - 1]!, { value, writable: true, enumerable: true, configurable: true });
}
