import { invalidMultipart, parseHeaderBlock, quote } from './mime.js';

/** One HTTP request as an `application/http` part carries it. */
export interface HttpRequestMessage {
  /** Upper-case. */
  method: string;
  /** The request target as written: a path, a URL or `$<Content-ID>[...]`. */
  target: string;
  /** Names as written; a repeated header's values joined with `, `. */
  headers: Record<string, string>;
  body: string;
}

/**
 * `METHOD <target> HTTP/1.1`, header lines, a blank line, the body (RFC 9112
 * §3, the form OData 4.0 §11.7.2 puts inside each part). Blank lines before
 * the request line are skipped; the target is everything between the first
 * and the last space of the line, so a client that left a space unencoded
 * in a `$filter` is still understood. HTTP/1.0 is taken too; without a
 * version, or with another, the part is not a request.
 */
export function parseHttpRequest(text: string, where: string): HttpRequestMessage {
  let pos = 0;
  for (;;) {
    const nl = text.indexOf('\n', pos);
    const line = text.slice(pos, nl < 0 ? text.length : nl);
    if (line.trim() !== '' || nl < 0) break;
    pos = nl + 1;
  }
  const nl = text.indexOf('\n', pos);
  const lineEnd = nl < 0 ? text.length : nl;
  const requestLine = text.slice(pos, lineEnd).replace(/\r$/, '');
  if (requestLine.trim() === '') throw invalidMultipart(`${capitalise(where)} holds no request: an application/http part starts with METHOD <url> HTTP/1.1.`);
  const m = /^([A-Za-z]+)[ \t]+(\S(?:.*\S)?)[ \t]+HTTP\/1\.[01][ \t]*$/.exec(requestLine);
  if (!m) throw invalidMultipart(`In ${where}, ${quote(requestLine)} is not a request line (METHOD <url> HTTP/1.1).`);
  const { headers: lines, bodyStart } = parseHeaderBlock(text, nl < 0 ? text.length : nl + 1, where);
  // No prototype: a header named __proto__ is a header like any other.
  const headers: Record<string, string> = Object.create(null);
  const spelling = new Map<string, string>();
  for (const [name, value] of lines) {
    const lower = name.toLowerCase();
    const first = spelling.get(lower);
    if (first === undefined) {
      spelling.set(lower, name);
      headers[name] = value;
    } else {
      headers[first] = `${headers[first]}, ${value}`;
    }
  }
  return { method: m[1]!.toUpperCase(), target: m[2]!, headers, body: text.slice(bodyStart) };
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
