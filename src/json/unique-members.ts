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
 * member of the text has exactly one `:` outside strings, so the text's
 * colons less those inside the parsed strings equal the parsed members
 * unless a name repeated (the parsed object has fewer). Only a document that
 * fails the count (or writes a colon as `\u003a`, which the count cannot see)
 * is scanned again to name the member and where it is.
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
  const colons = colonsIn(text);
  // An object repeating a name has at least two members.
  if (colons < 2) return false;
  // `\u003a` is a colon in a parsed string but none in the text: the count would be off.
  if (text.includes('\\u003a') || text.includes('\\u003A')) return true;
  return colons !== membersAndStringColons(value);
}

function colonsIn(s: string): number {
  let n = 0;
  for (let i = s.indexOf(':'); i !== -1; i = s.indexOf(':', i + 1)) n++;
  return n;
}

/** The members of every object in `root` plus the colons of every string (names and values), without recursion (documents may nest deep). */
function membersAndStringColons(root: object): number {
  let n = 0;
  const stack: object[] = [root];
  while (stack.length > 0) {
    const x = stack.pop()!;
    if (Array.isArray(x)) {
      for (let i = 0; i < x.length; i++) {
        const v: unknown = x[i];
        if (typeof v === 'string') {
          if (v.includes(':')) n += colonsIn(v);
        } else if (typeof v === 'object' && v !== null) stack.push(v);
      }
    } else {
      const record = x as Record<string, unknown>;
      for (const name in record) {
        n++;
        if (name.includes(':')) n += colonsIn(name);
        const v = record[name];
        if (typeof v === 'string') {
          if (v.includes(':')) n += colonsIn(v);
        } else if (typeof v === 'object' && v !== null) stack.push(v);
      }
    }
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
