/**
 * What travels: an operation as a dialect writes it, and a result as a
 * dialect reads it back. Names of headers are lower case on both sides.
 */

/** One operation, ready for a dialect to write (references already in the dialect's own `$<id>` form). */
export interface WireOp {
  /** Unique within the request; `1`, `2`, … (the operation's position in its batch, plus one). */
  id: string;
  method: string;
  /** An absolute path (`/v1/books/1`), or a reference `$<id>[/rest]` where the dialect has them. */
  path: string;
  headers: Record<string, string>;
  /** Any JSON value; undefined for no body. */
  body?: unknown;
  /** The transaction group's name, for its members. */
  group?: string;
  /** Ids of operations (or names of groups) this one runs after. */
  dependsOn?: string[];
}

/** One operation's answer. */
export interface WireResult {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export interface EncodedBatch {
  headers: Record<string, string>;
  body: string;
}

/** A batch wire format as the client speaks it. */
export interface WireDialect {
  name: string;
  /** The batch endpoint, a path below the base URL. */
  endpoint: string;
  /** Transaction groups. */
  groups: boolean;
  /** `dependsOn` and `$<id>` references (url and If-Match / If-None-Match). */
  graph: boolean;
  encode(ops: WireOp[]): EncodedBatch;
  /** The results of a 200 answer, one per operation, in the order of `ops`; undefined where the answer has none. */
  decode(text: string, ops: WireOp[]): (WireResult | undefined)[];
}

/** Header names in lower case, values as given. */
export function lowerCaseHeaders(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers) for (const name of Object.keys(headers)) out[name.toLowerCase()] = String(headers[name]);
  return out;
}

/** A body string as the resource API means it: JSON when its type says so, else the text; empty is null. */
export function parseBody(text: string, contentType: string | undefined): unknown {
  if (text === '') return null;
  if (contentType === undefined || /^application\/([\w.+-]+\+)?json\b/i.test(contentType.trim())) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

/** True when a string body must be sent as text (its own non-JSON Content-Type), not as a JSON string. */
export function isTextBody(body: unknown, headers: Record<string, string>): body is string {
  const type = headers['content-type'];
  return typeof body === 'string' && type !== undefined && !/^application\/([\w.+-]+\+)?json\b/i.test(type.trim());
}

export class WireFormatError extends Error {}

export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new WireFormatError(`${what}: the answer is not JSON (${text.slice(0, 80)})`);
  }
}
