import { describe, expect, it } from 'vitest';
import { decodePathSegments, encodePath } from './paths.js';

describe('key predicates (OData)', () => {
  it.each([
    ["/v1/books('42')"],
    ['/v1/books(42)'],
    ["/v1/books(id='42')"],
    ['/v1/books(ID=42)'],
    ["/v1/books(Id='42')"],
    ['/v1/books(%2742%27)'],
    ['/v1/books/42'],
  ])('%s names /v1/books/42', (path) => {
    expect(decodePathSegments(path)).toEqual(['v1', 'books', '42']);
  });

  it("reads '' inside quotes as one quote, and keeps parentheses, spaces and escapes inside quotes", () => {
    expect(decodePathSegments("/v1/people('O''Brien')")).toEqual(['v1', 'people', "O'Brien"]);
    expect(decodePathSegments("/v1/books('a(b)')")).toEqual(['v1', 'books', 'a(b)']);
    expect(decodePathSegments("/v1/books('a%20b')")).toEqual(['v1', 'books', 'a b']);
    expect(decodePathSegments("/v1/time/projects('p1')")).toEqual(['v1', 'time', 'projects', 'p1']);
  });

  it('keeps an integer key as written', () => {
    expect(decodePathSegments('/v1/books(042)')).toEqual(['v1', 'books', '042']);
    expect(decodePathSegments('/v1/books(-7)')).toEqual(['v1', 'books', '-7']);
  });

  it.each([
    ['/v1/books(1,2)'],
    ['/v1/books(a=1,b=2)'],
    ["/v1/books(name='x')"],
    ['/v1/books()'],
    ['/v1/books(x)'],
    ['/v1/books(4.2)'],
    ["/v1/books('')"],
    ["/v1/books('a'"],
    ["/v1/books('a')('b')"],
    ['/v1/books(f())'],
    ['/v1/books(id=)'],
    ["/v1/books('1')/pages"],
    ["/v1/books('..')"],
    ["/v1/books('a%2Fb')"],
    ["/v1/books('a%5Cb')"],
    ["/v1/books('a%00b')"],
    ["/v1/('42')"],
    ["/v1/books( '42' )"],
  ])('%s: 400 invalid_path', (path) => {
    expect(() => decodePathSegments(path)).toThrow(expect.objectContaining({ status: 400, code: 'invalid_path' }));
  });

  it('treats percent-encoded parentheses outside a predicate as data, and encodes them in the canonical path', () => {
    expect(decodePathSegments('/v1/books/a%28b%29')).toEqual(['v1', 'books', 'a(b)']);
    expect(encodePath(['v1', 'books', 'a(b)'])).toBe('/v1/books/a%28b%29');
    expect(decodePathSegments(encodePath(['v1', 'books', 'a(b)']))).toEqual(['v1', 'books', 'a(b)']);
  });
});

describe('segments', () => {
  it.each([['/v1/books/x\uD800'], ["/v1/books('\uDC00')"], ['/v1/\uD800/1']])('a lone surrogate (%j) is 400 invalid_path, never an URIError', (path) => {
    expect(() => decodePathSegments(path)).toThrow(expect.objectContaining({ status: 400, code: 'invalid_path' }));
  });
});

describe('segments decoded once: what decodes to a dot or slash only on a second reading is data', () => {
  it.each([
    ['/v1/books/%252e%252e', '%2e%2e'],
    ['/v1/books/%252E', '%2E'],
    ['/v1/books/a%252fb', 'a%2fb'],
    ['/v1/books/a%255cb', 'a%5cb'],
    ['/v1/books/\u2024\u2024', '\u2024\u2024'],
    ['/v1/books/%EF%BC%8E%EF%BC%8E', '\uff0e\uff0e'],
    ['/v1/books/\u3002', '\u3002'],
    ['/v1/books/a\uff0fb', 'a\uff0fb'],
  ])('%s is the id %s', (path, id) => {
    expect(decodePathSegments(path)).toEqual(['v1', 'books', id]);
  });

  it('ids with dots or percent signs among other characters stay ids', () => {
    expect(decodePathSegments('/v1/books/a..b/...')).toEqual(['v1', 'books', 'a..b', '...']);
    expect(decodePathSegments('/v1/books/50%25/a%2520b')).toEqual(['v1', 'books', '50%', 'a%20b']);
    expect(decodePathSegments('/v1/books/caf%C3%A9')).toEqual(['v1', 'books', 'café']);
  });
});
