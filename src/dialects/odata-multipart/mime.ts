import { ApiError } from '../../errors.js';

/**
 * The MIME layer of an OData multipart batch: media types with parameters
 * (RFC 9110 §8.3.1), `multipart/mixed` bodies split at their delimiters
 * (RFC 2046 §5.1.1) and header blocks (RFC 5322 §2.2, folding included).
 *
 * Strict about structure, tolerant about spelling, as the batches of real
 * clients differ: lines may end in CRLF or LF alone, a parameter may have a
 * space after `;` or none, a boundary may be quoted or not, header names
 * are matched in any case. Text before the first delimiter or after the
 * closing one (preamble, epilogue) must be blank: RFC 2046 lets a reader
 * ignore it, but there a request written outside the parts would be
 * silently lost (o.js writes one after its change set), so it is refused.
 *
 * Everything works on the decoded text in one pass, linear in its length;
 * every failure is a 400 `invalid_multipart` ApiError, never another throw.
 */

export interface MediaType {
  /** `type/subtype`, lower-case. */
  type: string;
  /** Parameter names lower-case, values unquoted. */
  params: Map<string, string>;
}

export interface MimePart {
  /** Header names lower-case; a repeated header's values joined with `, `. */
  headers: Map<string, string>;
  body: string;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Parses `type/subtype; name=value; name="quoted value"`; undefined when it is not one. */
export function parseMediaType(value: string): MediaType | undefined {
  const semi = value.indexOf(';');
  const type = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
  const slash = type.indexOf('/');
  if (slash <= 0 || !TOKEN.test(type.slice(0, slash)) || !TOKEN.test(type.slice(slash + 1))) return undefined;
  const params = new Map<string, string>();
  let i = semi < 0 ? value.length : semi;
  while (i < value.length) {
    // At a `;`: skip it and the whitespace around the parameter name.
    i++;
    while (i < value.length && (value[i] === ' ' || value[i] === '\t')) i++;
    if (i >= value.length) break; // a trailing `;`
    if (value[i] === ';') continue; // an empty parameter
    const eq = value.indexOf('=', i);
    if (eq < 0) return undefined;
    const name = value.slice(i, eq).trim().toLowerCase();
    if (!TOKEN.test(name)) return undefined;
    i = eq + 1;
    while (i < value.length && (value[i] === ' ' || value[i] === '\t')) i++;
    let paramValue = '';
    if (value[i] === '"') {
      i++;
      for (;;) {
        if (i >= value.length) return undefined; // no closing quote
        const c = value[i]!;
        if (c === '"') break;
        if (c === '\\' && i + 1 < value.length) {
          paramValue += value[i + 1];
          i += 2;
        } else {
          paramValue += c;
          i++;
        }
      }
      i++;
      while (i < value.length && (value[i] === ' ' || value[i] === '\t')) i++;
      if (i < value.length && value[i] !== ';') return undefined;
    } else {
      const end = value.indexOf(';', i);
      paramValue = value.slice(i, end < 0 ? undefined : end).trim();
      i = end < 0 ? value.length : end;
      if (!TOKEN.test(paramValue)) return undefined;
    }
    if (!params.has(name)) params.set(name, paramValue);
  }
  return { type, params };
}

/** RFC 2046 `bchars`: 1 to 70 of them, not ending in a space. */
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;

/** The boundary of a `multipart/mixed` content type, checked; `what` names the body in errors. */
export function multipartBoundary(contentType: string | undefined, what: string): string {
  const media = contentType === undefined ? undefined : parseMediaType(contentType);
  if (!media) throw invalidMultipart(`The Content-Type of the ${what} is not a media type: ${quote(contentType ?? '')}.`);
  if (media.type !== 'multipart/mixed') throw invalidMultipart(`The ${what} must be multipart/mixed, not ${media.type}.`);
  const boundary = media.params.get('boundary');
  if (boundary === undefined) throw invalidMultipart(`The Content-Type of the ${what} has no boundary parameter.`);
  if (!BOUNDARY.test(boundary)) {
    throw invalidMultipart(`The boundary ${quote(boundary)} of the ${what} is not 1 to 70 letters, digits or '()+_,-./:=? (RFC 2046).`);
  }
  return boundary;
}

/**
 * Splits a multipart body into its parts. A delimiter is a line that is
 * `--boundary` (or `--boundary--`, the closing one), optionally followed by
 * spaces or tabs; the line break before it belongs to it, not to the part.
 */
export function splitMultipart(text: string, boundary: string, what: string): MimePart[] {
  const dash = `--${boundary}`;
  const parts: MimePart[] = [];
  let from = 0;
  /** Where the content of the current part starts (after its opening delimiter line); -1 before the first. */
  let contentStart = -1;
  for (;;) {
    const at = text.indexOf(dash, from);
    if (at < 0) break;
    from = at + dash.length;
    if (at > 0 && text[at - 1] !== '\n') continue; // not at the start of a line
    let end = at + dash.length;
    const close = text.startsWith('--', end);
    if (close) end += 2;
    while (end < text.length && (text[end] === ' ' || text[end] === '\t')) end++;
    let lineEnd: number;
    if (end === text.length) lineEnd = end;
    else if (text[end] === '\n') lineEnd = end + 1;
    else if (text[end] === '\r' && text[end + 1] === '\n') lineEnd = end + 2;
    else continue; // `--boundaryX`: a longer line, not a delimiter
    if (contentStart < 0) {
      if (!isBlank(text, 0, at)) throw invalidMultipart(`The ${what} has text before its first delimiter ${dash}.`);
    } else {
      // The line break before the delimiter is the delimiter's; an empty part has none of its own.
      let contentEnd = at - 1;
      if (contentEnd > contentStart && text[contentEnd - 1] === '\r') contentEnd--;
      parts.push(parsePart(text.slice(contentStart, Math.max(contentStart, contentEnd)), what, parts.length));
    }
    if (close) {
      // `--boundary--` alone is a body of no part at all.
      if (!isBlank(text, lineEnd, text.length)) throw invalidMultipart(`The ${what} has text after its closing delimiter ${dash}--.`);
      return parts;
    }
    contentStart = lineEnd;
    if (end === text.length) break; // an opening delimiter at the very end: no closing one follows
    from = lineEnd;
  }
  if (contentStart < 0) throw invalidMultipart(`The ${what} has no delimiter line ${dash}: its boundary does not match its Content-Type.`);
  throw invalidMultipart(`The ${what} has no closing delimiter ${dash}--.`);
}

function parsePart(content: string, what: string, index: number): MimePart {
  const { headers, bodyStart } = parseHeaderBlock(content, 0, { toString: () => `part ${index + 1} of the ${what}` });
  return { headers: lowerCaseHeaders(headers), body: content.slice(bodyStart) };
}

/** Where something stands, for error messages: a string, or an object that builds one only when a message needs it. */
export type Where = string | { toString(): string };

export interface HeaderBlock {
  /** Names as written, in order; folded lines unfolded. */
  headers: Array<[string, string]>;
  /** Where what follows the blank line starts (the text's length when there is no blank line). */
  bodyStart: number;
}

/**
 * Reads header lines from `start` up to the first blank line. A line that
 * starts with a space or tab continues the previous header (obsolete
 * folding, still sent by mail-era libraries); a line without a colon is an
 * error. Without a blank line, everything is headers (Dynamics ends a GET
 * part's request that way).
 */
export function parseHeaderBlock(text: string, start: number, where: Where): HeaderBlock {
  const headers: Array<[string, string]> = [];
  let pos = start;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    let end = nl < 0 ? text.length : nl;
    if (end > pos && text.charCodeAt(end - 1) === 0x0d) end--;
    const line = text.slice(pos, end);
    pos = nl < 0 ? text.length : nl + 1;
    if (line === '') return { headers, bodyStart: pos };
    if (line[0] === ' ' || line[0] === '\t') {
      const last = headers[headers.length - 1];
      if (!last) throw invalidMultipart(`In ${where}, the first header line starts with a space.`);
      last[1] = `${last[1]} ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw invalidMultipart(`In ${where}, ${quote(line)} is not a header line (Name: value).`);
    headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  return { headers, bodyStart: text.length };
}

function lowerCaseHeaders(headers: Array<[string, string]>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    const previous = out.get(lower);
    out.set(lower, previous === undefined ? value : `${previous}, ${value}`);
  }
  return out;
}

function isBlank(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) return false;
  }
  return true;
}

/** A value for an error message: JSON-quoted, at most 80 characters of it. */
export function quote(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

export function invalidMultipart(detail: string): ApiError {
  return new ApiError(400, 'invalid_multipart', detail);
}
