/** JSON Merge Patch (RFC 7386). Never mutates its inputs; `__proto__` keys stay plain data. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const result: Record<string, unknown> = {};
  if (isPlainObject(target)) for (const k of Object.keys(target)) define(result, k, target[k]);
  for (const k of Object.keys(patch)) {
    const value = patch[k];
    if (value === null) delete result[k];
    else define(result, k, mergePatch(Object.hasOwn(result, k) ? result[k] : undefined, value));
  }
  return result;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Assignment would hit the `__proto__` setter; defining an own property does not. */
function define(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}
