import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findRepeatedMember, parseJsonUnique, RepeatedMemberError } from './unique-members.js';

function repeated(text: string) {
  try {
    parseJsonUnique(text);
    return undefined;
  } catch (err) {
    if (err instanceof RepeatedMemberError) return err.member;
    throw err;
  }
}

/** A JSON text whose objects are lists of members, so a name may repeat, with a reference answer. */
type Doc = { kind: 'value'; value: unknown } | { kind: 'array'; items: Doc[] } | { kind: 'object'; members: [string, Doc][] };
const names = fc.oneof(fc.constantFrom('method', 'a', 'a:b', ':', '~/', '', '__proto__', 'constructor'), fc.string({ maxLength: 3 }));
const docs: fc.Arbitrary<Doc> = fc.letrec((tie) => ({
  doc: fc.oneof(
    { depthSize: 'small' },
    fc.jsonValue({ maxDepth: 1 }).map((value) => ({ kind: 'value' as const, value })),
    fc.array(tie('doc'), { maxLength: 4 }).map((items) => ({ kind: 'array' as const, items })),
    fc.array(fc.tuple(names, tie('doc')), { maxLength: 4 }).map((members) => ({ kind: 'object' as const, members })),
  ),
})).doc as fc.Arbitrary<Doc>;

/** Writes a name as JSON, sometimes with every character \u-escaped (a repeat must be seen through escapes). */
function writeName(name: string, escape: boolean): string {
  return escape ? `"${[...name].map((ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"` : JSON.stringify(name);
}
function write(doc: Doc, escape: boolean): string {
  if (doc.kind === 'value') return JSON.stringify(doc.value);
  if (doc.kind === 'array') return `[${doc.items.map((d) => write(d, escape)).join(',')}]`;
  return `{${doc.members.map(([n, d], i) => `${writeName(n, escape && i % 2 === 1)}:${write(d, escape)}`).join(',')}}`;
}
function hasRepeat(doc: Doc): boolean {
  if (doc.kind === 'value') return false;
  if (doc.kind === 'array') return doc.items.some(hasRepeat);
  return new Set(doc.members.map(([n]) => n)).size !== doc.members.length || doc.members.some(([, d]) => hasRepeat(d));
}

describe('parseJsonUnique', () => {
  it('refuses an object that repeats a member name, naming it and the object', () => {
    expect(repeated('{"method":"GET","method":"DELETE"}')).toEqual({ name: 'method', pointer: '', position: 16 });
    expect(repeated('{"requests":[{"method":"GET","path":"/v1/a/1"},{"path":"/v1/a/2","method":"GET","method":"DELETE"}]}')).toEqual({
      name: 'method',
      pointer: '/requests/1',
      position: 80,
    });
    expect(repeated('{"a/b":{"c~d":[1,{"x":1,"x":1}]}}')).toMatchObject({ name: 'x', pointer: '/a~1b/c~0d/1' });
    expect(() => parseJsonUnique('{"method":"GET","method":"DELETE"}')).toThrow(/the top-level object repeats the member "method" \(at position 16\)/);
  });

  it('sees a repeat through escapes, colons and whitespace', () => {
    expect(repeated('{"method":"GET","\\u006dethod":"DELETE"}')).toMatchObject({ name: 'method' });
    expect(repeated('{"a\\u003ab":1,"a:b":2}')).toMatchObject({ name: 'a:b' });
    expect(repeated('{"x":"\\u003a","y":1,"y":2}')).toMatchObject({ name: 'y' });
    expect(repeated(' { "t" : "10:30" ,\n "t" : "11:00" } ')).toMatchObject({ name: 't', pointer: '' });
    expect(repeated('{"\\"":1,"\\"":2}')).toMatchObject({ name: '"' });
    expect(repeated('{"__proto__":1,"__proto__":2}')).toMatchObject({ name: '__proto__' });
    expect(repeated('{"a\\\\":1,"a\\\\":2}')).toMatchObject({ name: 'a\\' });
    expect(repeated('{"t":": x","t":1}')).toMatchObject({ name: 't' });
  });

  it('keeps what JSON.parse gives for documents without a repeat, and JSON.parse\'s errors', () => {
    for (const text of ['{"a":"b:c","d:e":{"f":["g:h",{"a":1}]}}', '{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}', '{"x":"\\u003a","y":"\\u003A:"}', '[1,"a:b",null]', '"x:y"', '{}', '[]', '{":":": x","b":" :","c":"\\\\:"}', '{"a":"\\":"}']) {
      expect(parseJsonUnique(text)).toEqual(JSON.parse(text));
    }
    expect(() => parseJsonUnique('{"a":1,}')).toThrow(SyntaxError);
    expect(() => parseJsonUnique('{"a":1,}')).not.toThrow(RepeatedMemberError);
  });

  it('walks a document nested 100,000 levels deep without overflowing the stack', () => {
    const deep = `${'{"a":['.repeat(50_000)}{"b":1,"b":2}${']}'.repeat(50_000)}`;
    const found = repeated(deep);
    expect(found?.name).toBe('b');
    expect(found?.pointer.length).toBe('/a/0'.length * 50_000);
    const clean = `${'['.repeat(100_000)}{"a":1}${']'.repeat(100_000)}`;
    expect(parseJsonUnique(clean)).toBeTruthy();
  });

  it('agrees with a reference on random documents, escaped names among them', () => {
    let repeats = 0;
    fc.assert(
      fc.property(docs, fc.boolean(), (doc, escape) => {
        const text = write(doc, escape);
        const found = repeated(text);
        expect(found !== undefined, text).toBe(hasRepeat(doc));
        if (found) repeats++;
        if (found) expect(findRepeatedMember(text)).toEqual(found);
        else expect(parseJsonUnique(text)).toEqual(JSON.parse(text));
      }),
      { numRuns: 2000 },
    );
    // Both answers are reached.
    expect(repeats).toBeGreaterThan(100);
    expect(repeats).toBeLessThan(1900);
  });
});
