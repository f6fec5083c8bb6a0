import { randomBytes } from 'node:crypto';

/** A fresh strong validator for every write: random, so it never repeats across nodes. */
export function newEtag(): string {
  return randomBytes(12).toString('base64url');
}

export function formatEtag(etag: string): string {
  return `"${etag}"`;
}

export type EtagCondition = { any: true } | { any: false; tags: Array<{ weak: boolean; opaque: string }> };

/**
 * Parses an `If-Match` / `If-None-Match` value (RFC 9110 §13.1): `*` or a
 * comma-separated list of entity tags. Returns undefined when it is malformed,
 * which callers treat as a condition that cannot match.
 */
export function parseEtagCondition(value: string): EtagCondition | undefined {
  const v = value.trim();
  if (v === '*') return { any: true };
  const tags: Array<{ weak: boolean; opaque: string }> = [];
  let i = 0;
  while (i < v.length) {
    while (v[i] === ' ' || v[i] === '\t' || v[i] === ',') i++;
    if (i >= v.length) break;
    let weak = false;
    if (v.startsWith('W/', i)) {
      weak = true;
      i += 2;
    }
    if (v[i] !== '"') return undefined;
    const end = v.indexOf('"', i + 1);
    if (end < 0) return undefined;
    tags.push({ weak, opaque: v.slice(i + 1, end) });
    i = end + 1;
  }
  return tags.length > 0 ? { any: false, tags } : undefined;
}

/** Strong comparison, as `If-Match` requires. */
export function matchesStrong(cond: EtagCondition, current: string): boolean {
  return cond.any || cond.tags.some((t) => !t.weak && t.opaque === current);
}

/** Weak comparison, as `If-None-Match` requires. */
export function matchesWeak(cond: EtagCondition, current: string): boolean {
  return cond.any || cond.tags.some((t) => t.opaque === current);
}
