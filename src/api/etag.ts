import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let offset = POOL_SIZE;

/**
 * Cryptographically random bytes, drawn from a pool refilled in bulk: one
 * system call per few hundred ids instead of one per id.
 */
export function randomChunk(size: number): Buffer {
  if (offset + size > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const chunk = pool.subarray(offset, offset + size);
  offset += size;
  return chunk;
}

/** A fresh strong validator for every write: 96 random bits, so it never repeats across nodes. */
export function newEtag(): string {
  return randomChunk(12).toString('base64url');
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
