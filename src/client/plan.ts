/**
 * An operation as the client plans it: dialect-free, with its dependencies
 * and references as positions in its batch. `execute.ts` turns a list of
 * them into one or more batch requests of the chosen dialect.
 */

export type Dependency = { op: number } | { group: number };

export interface PlannedOp {
  method: string;
  /** An absolute path (`/v1/books/1`, with its query). */
  path: string;
  /** Set when the path is a reference: the entity that operation `op` created or returned, then `rest` (`/pages`, `?$select=x`). */
  pathRef?: { op: number; rest: string };
  /** Names in lower case. */
  headers: Record<string, string>;
  /** If-Match / If-None-Match standing for another operation's ETag. */
  etagRefs?: { 'if-match'?: number; 'if-none-match'?: number };
  /** Any JSON value (a string with a non-JSON Content-Type of its own is sent as text); undefined for no body. */
  body?: unknown;
  /** The transaction group it belongs to. */
  group?: number;
  dependsOn: Dependency[];
}

/** Operations a planned op needs to have run first: dependencies and references. */
export function prerequisites(op: PlannedOp, groupMembers: (g: number) => number[]): number[] {
  const out = new Set<number>();
  for (const d of op.dependsOn) {
    if ('op' in d) out.add(d.op);
    else for (const m of groupMembers(d.group)) out.add(m);
  }
  if (op.pathRef) out.add(op.pathRef.op);
  if (op.etagRefs?.['if-match'] !== undefined) out.add(op.etagRefs['if-match']);
  if (op.etagRefs?.['if-none-match'] !== undefined) out.add(op.etagRefs['if-none-match']);
  return [...out];
}

/** Rough size of an operation on the wire, for keeping a batch under the server's body limit. */
export function approximateSize(op: PlannedOp): number {
  let size = 64 + op.method.length + op.path.length;
  for (const k in op.headers) size += k.length + op.headers[k]!.length + 6;
  if (op.body !== undefined) size += typeof op.body === 'string' ? op.body.length + 2 : (JSON.stringify(op.body)?.length ?? 4);
  return size;
}
