/**
 * `If-Match: $1` and `If-None-Match: $1` stand for request 1's ETag (an
 * entity-tag is quoted, so `$` cannot start one); `named` maps the name as
 * written to the batch's id for it. Undefined when no header refers.
 */
export function etagReferences(
  headers: Record<string, string> | undefined,
  named: (name: string) => string,
): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  for (const [name, value] of Object.entries(headers ?? {})) {
    const lower = name.toLowerCase();
    if (lower !== 'if-match' && lower !== 'if-none-match') continue;
    const m = /^\s*\$(\S+?)\s*$/.exec(value);
    if (m) (out ??= {})[lower] = named(m[1]!);
  }
  return out;
}
