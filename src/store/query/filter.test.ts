import { describe, expect, it } from 'vitest';
import { ApiError } from '../../errors.js';
import {
  isIdField,
  MAX_FILTER_DEPTH,
  MAX_QUERY_LENGTH,
  parseFilter,
  parseOrderBy,
  type ComparisonOperator,
  type FilterExpr,
  type Literal,
} from './filter.js';

function cmp(path: string, op: ComparisonOperator, value: Literal): FilterExpr {
  return { kind: 'compare', op, field: path.split('/'), value };
}
const and = (...operands: FilterExpr[]): FilterExpr => ({ kind: 'and', operands });
const or = (...operands: FilterExpr[]): FilterExpr => ({ kind: 'or', operands });
const not = (operand: FilterExpr): FilterExpr => ({ kind: 'not', operand });

function errorOf(parse: () => unknown): ApiError {
  try {
    parse();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected an ApiError, but parsing succeeded');
}

function expectError(what: '$filter' | '$orderby', text: string, position: number, detail: string): void {
  const err = errorOf(() => (what === '$filter' ? parseFilter(text) : parseOrderBy(text)));
  expect(err.status).toBe(400);
  expect(err.code).toBe('bad_request');
  expect(err.extensions).toEqual({ position });
  expect(err.message).toBe(`Invalid ${what} at position ${position}: ${detail}`);
}

describe('parseFilter: comparisons', () => {
  it.each(['eq', 'ne', 'gt', 'ge', 'lt', 'le'] as const)('parses the `%s` operator', (op) => {
    expect(parseFilter(`price ${op} 5`)).toEqual(cmp('price', op, 5));
  });

  it.each<[string, Literal]>([
    ["'hello'", 'hello'],
    ["''", ''],
    ["'it''s'", "it's"],
    ["''''", "'"],
    ["'a  b\tc'", 'a  b\tc'],
    ["'ünïcödé 🎉'", 'ünïcödé 🎉'],
    ["'not and or eq'", 'not and or eq'],
    ['0', 0],
    ['42', 42],
    ['-7', -7],
    ['3.25', 3.25],
    ['-0.5', -0.5],
    ['1e3', 1000],
    ['2.5E-2', 0.025],
    ['-1e+2', -100],
    ['true', true],
    ['false', false],
    ['null', null],
  ])('parses the literal %s', (text, value) => {
    expect(parseFilter(`x eq ${text}`)).toEqual(cmp('x', 'eq', value));
  });

  it.each([
    ['a', ['a']],
    ['a/b', ['a', 'b']],
    ['a_b1/c', ['a_b1', 'c']],
    ['_private/x_2/y', ['_private', 'x_2', 'y']],
    ['größe', ['größe']],
    ['a/and/not', ['a', 'and', 'not']],
    ['True', ['True']],
    ['AND', ['AND']],
  ])('parses the field path %s', (text, field) => {
    expect(parseFilter(`${text} eq 1`)).toEqual({ kind: 'compare', op: 'eq', field, value: 1 });
  });

  it.each<[string, FilterExpr]>([
    ['5 lt price', cmp('price', 'gt', 5)],
    ['5 le price', cmp('price', 'ge', 5)],
    ['5 gt price', cmp('price', 'lt', 5)],
    ['5 ge price', cmp('price', 'le', 5)],
    ["'x' eq name", cmp('name', 'eq', 'x')],
    ['null ne a/b', cmp('a/b', 'ne', null)],
  ])('accepts the literal on the left and flips the operator: %s', (text, expr) => {
    expect(parseFilter(text)).toEqual(expr);
  });

  it('accepts spaces and tabs around and between tokens', () => {
    expect(parseFilter(" \t a \t eq\t\t'x' \t")).toEqual(cmp('a', 'eq', 'x'));
  });

  it('needs no spaces next to parentheses', () => {
    expect(parseFilter('not(a eq 1)and(b eq 2)')).toEqual(and(not(cmp('a', 'eq', 1)), cmp('b', 'eq', 2)));
  });

  it('addresses the id column with the single field name `id` only', () => {
    expect(isIdField(['id'])).toBe(true);
    expect(isIdField(['a', 'id'])).toBe(false);
    expect(isIdField(['id', 'a'])).toBe(false);
    expect(isIdField(['Id'])).toBe(false);
  });
});

describe('parseFilter: precedence', () => {
  it.each<[string, FilterExpr]>([
    ['a eq 1 or b eq 2 and c eq 3', or(cmp('a', 'eq', 1), and(cmp('b', 'eq', 2), cmp('c', 'eq', 3)))],
    ['a eq 1 and b eq 2 or c eq 3', or(and(cmp('a', 'eq', 1), cmp('b', 'eq', 2)), cmp('c', 'eq', 3))],
    ['(a eq 1 or b eq 2) and c eq 3', and(or(cmp('a', 'eq', 1), cmp('b', 'eq', 2)), cmp('c', 'eq', 3))],
    ['not a eq 1 and b eq 2', and(not(cmp('a', 'eq', 1)), cmp('b', 'eq', 2))],
    ['not a eq 1 or b eq 2', or(not(cmp('a', 'eq', 1)), cmp('b', 'eq', 2))],
    ['not (a eq 1 or b eq 2)', not(or(cmp('a', 'eq', 1), cmp('b', 'eq', 2)))],
    ['not not a eq 1', not(not(cmp('a', 'eq', 1)))],
    ['a eq 1 and b eq 2 and c eq 3', and(cmp('a', 'eq', 1), cmp('b', 'eq', 2), cmp('c', 'eq', 3))],
    ['a eq 1 or b eq 2 or c eq 3', or(cmp('a', 'eq', 1), cmp('b', 'eq', 2), cmp('c', 'eq', 3))],
    ['((a eq 1))', cmp('a', 'eq', 1)],
    ['a eq 1 and (b eq 2 and c eq 3)', and(cmp('a', 'eq', 1), and(cmp('b', 'eq', 2), cmp('c', 'eq', 3)))],
  ])('%s', (text, expr) => {
    expect(parseFilter(text)).toEqual(expr);
  });
});

describe('parseFilter: errors name the position of the problem', () => {
  const cases: Array<[text: string, position: number, detail: string]> = [
    ['', 0, "expected a field path, a literal, 'not' or '(', found end of input"],
    ['  \t', 3, "expected a field path, a literal, 'not' or '(', found end of input"],
    ['price', 5, "expected a comparison operator after 'price', found end of input"],
    ['price  5', 7, "expected a comparison operator after 'price', found the number 5"],
    ['price EQ 5', 6, "expected a comparison operator after 'price', found 'EQ' (keywords are lower-case)"],
    ["'x' 'y'", 4, "expected a comparison operator after the string 'x', found the string 'y'"],
    ['price eq', 8, "expected a field path, a literal, 'not' or '(', found end of input"],
    ['price eq eq 5', 9, "expected a field path, a literal, 'not' or '(', found 'eq'"],
    ['and eq 1', 0, "expected a field path, a literal, 'not' or '(', found 'and'"],
    ['a eq 1 and', 10, "expected a field path, a literal, 'not' or '(', found end of input"],
    ['a eq 1 or', 9, "expected a field path, a literal, 'not' or '(', found end of input"],
    ['not', 3, "expected a field path, a literal, 'not' or '(', found end of input"],
    ['()', 1, "expected a field path, a literal, 'not' or '(', found ')'"],
    ['a eq 1 AND b eq 2', 7, "expected 'and', 'or' or end of input, found 'AND' (keywords are lower-case)"],
    ['a eq 1 b eq 2', 7, "expected 'and', 'or' or end of input, found 'b'"],
    ['a eq 1 eq 2', 7, "expected 'and', 'or' or end of input, found 'eq'"],
    ['a eq 1)', 6, "expected 'and', 'or' or end of input, found ')'"],
    ['a eq 5,', 6, "expected 'and', 'or' or end of input, found ','"],
    ['(a eq 1', 7, "expected 'and', 'or' or ')' to close the '(' at position 0, found end of input"],
    ['x eq 0 or (a eq 1 b', 18, "expected 'and', 'or' or ')' to close the '(' at position 10, found 'b'"],
    ['5 eq 5', 5, "expected a field path (one side of a comparison must be a field) after 'eq', found the number 5"],
    ['null eq true', 8, "expected a field path (one side of a comparison must be a field) after 'eq', found 'true'"],
    ['a eq b', 5, "expected a literal (comparing two fields is not supported) after 'eq', found 'b'"],
    ["name eq 'abc", 12, 'unterminated string literal (opened at position 8)'],
    ["name eq 'it''s", 14, 'unterminated string literal (opened at position 8)'],
    ["a eq 'x\u0000y'", 7, 'string literals cannot contain the NUL character'],
    ['a eq 5and b eq 1', 6, "unexpected character 'a' after the number 5"],
    ['a eq 1.', 6, "unexpected character '.' after the number 1"],
    ['a eq 1e', 6, "unexpected character 'e' after the number 1"],
    ['a eq 1.5.2', 8, "unexpected character '.' after the number 1.5"],
    ['a eq .5', 5, "unexpected character '.'"],
    ['a eq -x', 5, "expected a digit after '-'"],
    ['a eq - 1', 5, "expected a digit after '-'"],
    ['a eq 1-2', 6, 'expected a space before the number -2'],
    ['a eq 1e999', 5, 'the number 1e999 is out of range'],
    ["a eq'x'", 4, "expected a space before the string 'x'"],
    ["a eq 'x'b", 8, "expected a space before 'b'"],
    ['a/ eq 1', 2, "expected a field name after '/'"],
    ['a//b eq 1', 2, "expected a field name after '/'"],
    ['/a eq 1', 0, "unexpected character '/'"],
    ['a/1 eq 1', 2, "expected a field name after '/'"],
    ['a.b eq 1', 1, "unexpected character '.'"],
    ['a eq "x"', 5, `unexpected character '"'`],
    ['a eq @', 5, "unexpected character '@'"],
    ['a eq 1\nor b eq 2', 6, 'unexpected character U+000A'],
    ['a eq\u00a01', 4, 'unexpected character U+00A0'],
    ['1a eq 1', 1, "unexpected character 'a' after the number 1"],
  ];

  for (const [text, position, detail] of cases) {
    it(`${JSON.stringify(text)} fails at position ${position}: ${detail}`, () => {
      expectError('$filter', text, position, detail);
    });
  }

  it('shortens a long token in the message', () => {
    const long = 'x'.repeat(100);
    const detail = `expected a comparison operator after the string '${'x'.repeat(40)}…', found the string 'y'`;
    expectError('$filter', `'${long}' 'y'`, 103, detail);
  });

  it('the message reads like the spec example', () => {
    expect(errorOf(() => parseFilter('price  5')).message).toMatch(
      /^Invalid \$filter at position 7: expected a comparison operator after 'price'/,
    );
  });
});

describe('parseFilter: SQL in field names is refused, since paths are plain identifiers', () => {
  it.each<[string, number, string]>([
    ["name') OR 1=1 -- eq 1", 21, 'unterminated string literal (opened at position 4)'],
    ['name;DROP eq 1', 4, "unexpected character ';'"],
    ['a"b eq 1', 1, `unexpected character '"'`],
    ["data->>'x' eq 1", 4, "expected a digit after '-'"],
    ['$.name eq 1', 0, "unexpected character '$'"],
  ])('%j', (text, position, detail) => {
    expectError('$filter', text, position, detail);
  });
});

describe('parseFilter: limits', () => {
  const longest = `a eq '${'x'.repeat(MAX_QUERY_LENGTH - 7)}'`;

  it(`accepts a filter of exactly ${MAX_QUERY_LENGTH} characters`, () => {
    expect(longest).toHaveLength(MAX_QUERY_LENGTH);
    expect(parseFilter(longest)).toEqual(cmp('a', 'eq', 'x'.repeat(MAX_QUERY_LENGTH - 7)));
  });

  it(`refuses a filter longer than ${MAX_QUERY_LENGTH} characters at position ${MAX_QUERY_LENGTH}`, () => {
    expectError('$filter', `${longest} `, MAX_QUERY_LENGTH, `the text is longer than ${MAX_QUERY_LENGTH} characters`);
  });

  it(`accepts ${MAX_FILTER_DEPTH} nested parentheses`, () => {
    const text = `${'('.repeat(MAX_FILTER_DEPTH)}a eq 1${')'.repeat(MAX_FILTER_DEPTH)}`;
    expect(parseFilter(text)).toEqual(cmp('a', 'eq', 1));
  });

  it(`refuses ${MAX_FILTER_DEPTH + 1} nested parentheses at the innermost '('`, () => {
    const text = `${'('.repeat(MAX_FILTER_DEPTH + 1)}a eq 1${')'.repeat(MAX_FILTER_DEPTH + 1)}`;
    expectError('$filter', text, MAX_FILTER_DEPTH, `the filter is nested deeper than ${MAX_FILTER_DEPTH} levels`);
  });

  it('counts `not` as a level of nesting', () => {
    expect(() => parseFilter(`${'not '.repeat(MAX_FILTER_DEPTH)}a eq 1`)).not.toThrow();
    const text = `${'not '.repeat(MAX_FILTER_DEPTH + 1)}a eq 1`;
    expectError('$filter', text, 4 * MAX_FILTER_DEPTH, `the filter is nested deeper than ${MAX_FILTER_DEPTH} levels`);
  });

  it('counts parentheses and `not` together', () => {
    const text = `${'not ('.repeat(MAX_FILTER_DEPTH / 2)}(a eq 1)${')'.repeat(MAX_FILTER_DEPTH / 2)}`;
    expectError('$filter', text, 5 * (MAX_FILTER_DEPTH / 2), `the filter is nested deeper than ${MAX_FILTER_DEPTH} levels`);
  });

  it('does not count sibling groups as nesting', () => {
    const group = `${'('.repeat(MAX_FILTER_DEPTH)}a eq 1${')'.repeat(MAX_FILTER_DEPTH)}`;
    expect(parseFilter(`${group} and ${group}`)).toEqual(and(cmp('a', 'eq', 1), cmp('a', 'eq', 1)));
  });

  it('keeps a long chain of `and` flat rather than deep', () => {
    const text = `a eq 1${' and a eq 1'.repeat(300)}`;
    const expr = parseFilter(text);
    expect(expr.kind === 'and' && expr.operands).toHaveLength(301);
  });
});

describe('parseOrderBy', () => {
  it.each([
    ['a', [{ field: ['a'], direction: 'asc' }]],
    ['a desc', [{ field: ['a'], direction: 'desc' }]],
    [
      'a asc,b/c desc,id',
      [
        { field: ['a'], direction: 'asc' },
        { field: ['b', 'c'], direction: 'desc' },
        { field: ['id'], direction: 'asc' },
      ],
    ],
    [
      ' a \t, b desc , c ',
      [
        { field: ['a'], direction: 'asc' },
        { field: ['b'], direction: 'desc' },
        { field: ['c'], direction: 'asc' },
      ],
    ],
    ['asc desc', [{ field: ['asc'], direction: 'desc' }]],
    ['desc', [{ field: ['desc'], direction: 'asc' }]],
  ])('parses %j', (text, items) => {
    expect(parseOrderBy(text)).toEqual(items);
  });

  const cases: Array<[text: string, position: number, detail: string]> = [
    ['', 0, 'expected a field path, found end of input'],
    ['a,', 2, 'expected a field path, found end of input'],
    [',a', 0, "expected a field path, found ','"],
    ['a,,b', 2, "expected a field path, found ','"],
    ["'a'", 0, "expected a field path, found the string 'a'"],
    ['5', 0, 'expected a field path, found the number 5'],
    ['a b', 2, "expected 'asc', 'desc', ',' or end of input after 'a', found 'b'"],
    ['a DESC', 2, "expected 'asc', 'desc', ',' or end of input after 'a', found 'DESC' (keywords are lower-case)"],
    ['a desc desc', 7, "expected ',' or end of input after 'desc', found 'desc'"],
    ['a desc)', 6, "expected ',' or end of input after 'desc', found ')'"],
    ['a/', 2, "expected a field name after '/'"],
    ['a;b', 1, "unexpected character ';'"],
  ];

  for (const [text, position, detail] of cases) {
    it(`${JSON.stringify(text)} fails at position ${position}: ${detail}`, () => {
      expectError('$orderby', text, position, detail);
    });
  }

  it(`refuses text longer than ${MAX_QUERY_LENGTH} characters`, () => {
    const text = 'a,'.repeat(MAX_QUERY_LENGTH / 2) + 'a';
    expectError('$orderby', text, MAX_QUERY_LENGTH, `the text is longer than ${MAX_QUERY_LENGTH} characters`);
  });
});
