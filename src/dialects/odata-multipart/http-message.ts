import { invalidMultipart, parseHeaderBlock, quote, type Where } from './mime.js';

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
export function parseHttpRequest(text: string, where: Where): HttpRequestMessage {
  let pos = 0;
  while (pos < text.length && " \t\r\n".includes(text[pos]!)) pos++;
  const nl = text.indexOf('\n', pos);
  let lineEnd = nl < 0 ? text.length : nl;
  if (lineEnd > pos && text.charCodeAt(lineEnd - 1) === 0x0d) lineEnd--;
  const requestLine = text.slice(pos, lineEnd);
  if (requestLine === '') throw invalidMultipart(`${capitalise(where)} holds no request: an application/http part starts with METHOD <url> HTTP/1.1.`);
  const m = /^([A-Za-z]+)[ \t]+(\S(?:.*\S)?)[ \t]+HTTP\/1\.[01][ \t]*$/.exec(requestLine);
  if (!m) throw invalidMultipart(`In ${where}, ${quote(requestLine)} is not a request line (METHOD <url> HTTP/1.1).`);
  const { headers: lines, bodyStart } = parseHeaderBlock(text, nl < 0 ? text.length : nl + 1, where);
  const headers: Record<string, string> = {};
  const spelling = new Map<string, string>();
  for (const [name, value] of lines) {
    const lower = name.toLowerCase();
    const first = spelling.get(lower);
    if (first === undefined) {
      spelling.set(lower, name);
      // A header named __proto__ is a header like any other, not the object's prototype.
      if (name === '__proto__') Object.defineProperty(headers, name, { value, enumerable: true, writable: true, configurable: true });
      else headers[name] = value;
    } else {
      headers[first] = `${headers[first]}, ${value}`;
    }
  }
  return { method: m[1]!.toUpperCase(), target: m[2]!, headers, body: text.slice(bodyStart) };
}

function capitalise(where: Where): string {
  const s = String(where);
  return s.charAt(0).toUpperCase() + s.slice(1);
}
