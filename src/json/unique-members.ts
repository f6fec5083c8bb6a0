/**
 * JSON parsing that refuses an object repeating a member name.
 *
 * RFC 8259 §4 leaves repeated names to the implementation, and JSON.parse
 * keeps the last one: `{"method":"GET","method":"DELETE"}` reads as a DELETE
 * here while a proxy or filter that keeps the first sees a GET (the pattern
 * of CouchDB's CVE-2017-12635). Refusing such a document removes the
 * disagreement.
 *
 * JSON.parse stays the parser. A repeat is then detected by counting: every
 * member of the text has one `:` outside strings, right after its name's
 * closing quote. The text's colons that may be such a colon (those after an
 * unescaped `"`, whitespace aside) are at least its members, which are at
 * least the parsed object's members, fewer exactly when a name repeated. So
 * equal counts prove there is no repeat; only a document that fails the count
 * (a repeat, or a string whose text starts with a colon) is scanned again to
 * name the member and where it is.
 */

/** A member name that an object of a JSON document repeats. */
export interface RepeatedMember {
  name: string;
  /** JSON Pointer (RFC 6901) to the object that repeats it; `''` is the top-level value. */
  pointer: string;
  /** 0-based offset in the text of the repeated name's second occurrence. */
  position: number;
}

/** Thrown by `parseJsonUnique` for a document that repeats a member name; a SyntaxError, as JSON.parse's own errors are. */
export class RepeatedMemberError extends SyntaxError {
  readonly member: RepeatedMember;

  constructor(member: RepeatedMember) {
    const where = member.pointer === '' ? 'the top-level object' : `the object at ${member.pointer}`;
    super(`${where} repeats the member ${JSON.stringify(member.name.length > 100 ? `${member.name.slice(0, 100)}…` : member.name)} (at position ${member.position}); a member name may appear only once in an object`);
    this.name = 'RepeatedMemberError';
    this.member = member;
  }
}

/** `JSON.parse(text)`, except that an object repeating a member name throws a `RepeatedMemberError`. */
export function parseJsonUnique(text: string): unknown {
  const value: unknown = JSON.parse(text);
  if (mayRepeatMembers(text, value)) {
    const repeated = findRepeatedMember(text);
    if (repeated) throw new RepeatedMemberError(repeated);
  }
  return value;
}

/** False when `value`, parsed from `text`, certainly has every member the text has. */
function mayRepeatMembers(text: string, value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const members = membersOf(value, 0);
  return members < 0 || colonsAfterQuotes(text) !== members;
}

/** Deeper than this, `membersOf` gives up (-1) rather than recurse further; the scan has no such limit. */
const MAX_COUNTED_DEPTH = 1000;

/** How many members the objects of a parsed value have, or -1 when it nests deeper than MAX_COUNTED_DEPTH. */
function membersOf(x: object, depth: number): number {
  if (depth > MAX_COUNTED_DEPTH) return -1;
  let n = 0;
  if (Array.isArray(x)) {
    for (let i = 0; i < x.length; i++) {
      const v: unknown = x[i];
      if (typeof v === 'object' && v !== null) {
        const m = membersOf(v, depth + 1);
        if (m < 0) return -1;
        n += m;
      }
    }
  } else {
    const record = x as Record<string, unknown>;
    for (const name in record) {
      n++;
      const v = record[name];
      if (typeof v === 'object' && v !== null) {
        const m = membersOf(v, depth + 1);
        if (m < 0) return -1;
        n += m;
      }
    }
  }
  return n;
}

/**
 * The colons of the text that follow an unescaped `"` (whitespace aside):
 * every member's colon, and in-string colons only where a string's text
 * starts with one. A colon after anything else is inside a string.
 */
function colonsAfterQuotes(text: string): number {
  let n = 0;
  for (let i = text.indexOf(':'); i !== -1; i = text.indexOf(':', i + 1)) {
    let j = i - 1;
    let c = text.charCodeAt(j);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(--j);
    if (c !== 0x22 /* " */) continue;
    let backslashes = 0;
    while (text.charCodeAt(j - 1 - backslashes) === 0x5c /* \ */) backslashes++;
    if (backslashes % 2 === 0) n++;
  }
  return n;
}

interface Frame {
  /** The names seen so far in an object; null for an array. */
  names: Set<string> | null;
  /** The member name or array index the scan is inside of. */
  at: string | number;
}

/**
 * The first repeated member name of a document JSON.parse accepts, scanning
 * the text once without recursion; undefined when no object repeats a name.
 */
export function findRepeatedMember(text: string): RepeatedMember | undefined {
  const stack: Frame[] = [];
  let expectName = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      let escaped = false;
      for (i++; text.charCodeAt(i) !== 0x22; i++) {
        if (text.charCodeAt(i) === 0x5c /* \ */) {
          escaped = true;
          i++;
        }
      }
      if (!expectName) continue;
      expectName = false;
      const top = stack[stack.length - 1]!;
      const name = escaped ? (JSON.parse(text.slice(start, i + 1)) as string) : text.slice(start + 1, i);
      if (top.names!.has(name)) return { name, pointer: pointerOf(stack), position: start };
      top.names!.add(name);
      top.at = name;
    } else if (c === 0x7b /* { */) {
      stack.push({ names: new Set(), at: '' });
      expectName = true;
    } else if (c === 0x5b /* [ */) {
      stack.push({ names: null, at: 0 });
      expectName = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectName = false;
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1]!;
      if (top.names) expectName = true;
      else top.at = (top.at as number) + 1;
    }
  }
  return undefined;
}

/** The pointer to the innermost frame's object: the member or index each enclosing frame is in. */
function pointerOf(stack: Frame[]): string {
  let out = '';
  for (let k = 0; k < stack.length - 1; k++) out += `/${String(stack[k]!.at).replace(/~/g, '~0').replace(/\//g, '~1')}`;
  return out;
}
