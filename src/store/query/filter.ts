/**
 * The OData `$filter` / `$orderby` subset understood by the record store.
 *
 * This module is pure: it turns query text into a small AST and knows nothing
 * about SQL. The backends compile the AST (see `sqlite-filter-compiler.ts` and
 * `postgres-filter-compiler.ts`).
 *
 * Grammar (keywords are case-sensitive lower-case, as in OData):
 *
 *   filter     = or
 *   or         = and *( "or" and )
 *   and        = unary *( "and" unary )
 *   unary      = "not" unary / primary
 *   primary    = "(" or ")" / comparison
 *   comparison = operand ( "eq" / "ne" / "gt" / "ge" / "lt" / "le" ) operand
 *                ; exactly one operand is a field path, the other a literal
 *   operand    = path / string / number / "true" / "false" / "null"
 *   path       = name *( "/" name )        ; name = (letter / "_") *(letter / digit / "_")
 *   string     = "'" *( char / "''" ) "'"
 *   number     = ["-"] digits ["." digits] [("e" / "E") ["+" / "-"] digits]
 *
 *   orderby    = item *( "," item )
 *   item       = path [ "asc" / "desc" ]
 *
 * Tokens are separated by spaces or tabs; two words/literals must not touch
 * (`5and` is refused). Positions in errors are 0-based UTF-16 offsets into
 * the text (what `String#length` counts).
 */
import { ApiError } from '../../errors.js';

export const MAX_QUERY_LENGTH = 4096;
/** Maximum number of nested `(` and `not` around any comparison. */
export const MAX_FILTER_DEPTH = 32;

export type ComparisonOperator = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';
export type Literal = string | number | boolean | null;
/** Path segments: `a/b/c` is `['a', 'b', 'c']`. `['id']` alone is the record id. */
export type FieldPath = readonly string[];

export interface Comparison {
  kind: 'compare';
  op: ComparisonOperator;
  /** Always the field: `5 lt price` is stored as `price gt 5`. */
  field: FieldPath;
  value: Literal;
}
export interface AndExpr {
  kind: 'and';
  operands: FilterExpr[];
}
export interface OrExpr {
  kind: 'or';
  operands: FilterExpr[];
}
export interface NotExpr {
  kind: 'not';
  operand: FilterExpr;
}
export type FilterExpr = Comparison | AndExpr | OrExpr | NotExpr;

export type SortDirection = 'asc' | 'desc';
export interface OrderByItem {
  field: FieldPath;
  direction: SortDirection;
}

/** The single field name `id` addresses the record's id column, not its JSON. */
export function isIdField(field: FieldPath): boolean {
  return field.length === 1 && field[0] === 'id';
}

export function parseFilter(text: string): FilterExpr {
  return new FilterParser(new Lexer(text, '$filter')).parse();
}

export function parseOrderBy(text: string): OrderByItem[] {
  return new OrderByParser(new Lexer(text, '$orderby')).parse();
}

// ---------------------------------------------------------------------------
// Lexer

type Token =
  | { kind: 'path'; segments: string[]; text: string; pos: number }
  | { kind: 'string'; value: string; pos: number }
  | { kind: 'number'; value: number; text: string; pos: number }
  | { kind: '(' | ')' | ','; pos: number }
  | { kind: 'end'; pos: number };

const NAME = /[\p{L}_][\p{L}\p{N}_]*/uy;
const NUMBER = /-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
/** Characters that may not directly follow a number (`5a`, `1.`, `1e`). */
const WORD_CHAR = /[\p{L}\p{N}_.]/u;

function isSpace(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t';
}

/** Produces tokens on demand so that the first error by position is the one reported. */
class Lexer {
  private offset = 0;
  private lookahead: Token | undefined;
  /** End offset of the previous word or literal, to refuse `5and` or `eq'x'`. */
  private atomEnd = -1;

  constructor(
    readonly text: string,
    private readonly what: '$filter' | '$orderby',
  ) {
    if (text.length > MAX_QUERY_LENGTH) {
      throw this.error(MAX_QUERY_LENGTH, `the text is longer than ${MAX_QUERY_LENGTH} characters`);
    }
  }

  error(pos: number, problem: string): ApiError {
    return new ApiError(400, 'bad_request', `Invalid ${this.what} at position ${pos}: ${problem}`, { position: pos });
  }

  peek(): Token {
    this.lookahead ??= this.scan();
    return this.lookahead;
  }

  next(): Token {
    const token = this.peek();
    this.lookahead = undefined;
    return token;
  }

  private scan(): Token {
    const { text } = this;
    while (isSpace(text[this.offset])) this.offset++;
    const pos = this.offset;
    const ch = text[pos];
    if (ch === undefined) return { kind: 'end', pos };
    if (ch === '(' || ch === ')' || ch === ',') {
      this.offset++;
      return { kind: ch, pos };
    }
    const token = this.scanAtom(pos, ch);
    if (pos === this.atomEnd) throw this.error(pos, `expected a space before ${describe(token)}`);
    this.atomEnd = this.offset;
    return token;
  }

  private scanAtom(pos: number, ch: string): Token {
    if (ch === "'") return this.scanString(pos);
    if (ch === '-' || (ch >= '0' && ch <= '9')) return this.scanNumber(pos);
    NAME.lastIndex = pos;
    if (NAME.test(this.text)) return this.scanPath(pos);
    throw this.error(pos, `unexpected character ${charName(this.text, pos)}`);
  }

  private scanString(pos: number): Token {
    const { text } = this;
    let value = '';
    let i = pos + 1;
    for (;;) {
      const close = text.indexOf("'", i);
      if (close === -1) {
        throw this.error(text.length, `unterminated string literal (opened at position ${pos})`);
      }
      value += text.slice(i, close);
      if (text[close + 1] !== "'") {
        this.offset = close + 1;
        break;
      }
      value += "'";
      i = close + 2;
    }
    // PostgreSQL text and jsonb cannot hold U+0000, so such a literal could never match there.
    if (value.includes('\u0000')) {
      throw this.error(text.indexOf('\u0000', pos), 'string literals cannot contain the NUL character');
    }
    return { kind: 'string', value, pos };
  }

  private scanNumber(pos: number): Token {
    NUMBER.lastIndex = pos;
    const match = NUMBER.exec(this.text);
    if (!match) throw this.error(pos, `expected a digit after '-'`);
    const end = pos + match[0].length;
    const after = this.text[end];
    if (after !== undefined && WORD_CHAR.test(after)) {
      throw this.error(end, `unexpected character ${charName(this.text, end)} after the number ${match[0]}`);
    }
    const value = Number(match[0]);
    if (!Number.isFinite(value)) throw this.error(pos, `the number ${match[0]} is out of range`);
    this.offset = end;
    return { kind: 'number', value, text: match[0], pos };
  }

  private scanPath(pos: number): Token {
    const segments: string[] = [];
    let i = pos;
    for (;;) {
      NAME.lastIndex = i;
      const match = NAME.exec(this.text);
      if (!match) throw this.error(i, `expected a field name after '/'`);
      segments.push(match[0]);
      i += match[0].length;
      if (this.text[i] !== '/') break;
      i++;
    }
    this.offset = i;
    return { kind: 'path', segments, text: this.text.slice(pos, i), pos };
  }
}

function quoteText(s: string): string {
  return `'${s}'`;
}

/** `'x'` for printable characters, `U+000A` for the invisible ones. */
function charName(text: string, pos: number): string {
  const code = text.codePointAt(pos) ?? 0;
  const invisible = code < 0x20 || (code >= 0x7f && code <= 0x9f) || /\s/u.test(String.fromCodePoint(code));
  return invisible ? `U+${code.toString(16).toUpperCase().padStart(4, '0')}` : quoteText(String.fromCodePoint(code));
}

/** Keeps error messages short when the offending token is long. */
function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

function describe(token: Token): string {
  switch (token.kind) {
    case 'path':
      return quoteText(clip(token.text));
    case 'string':
      return `the string ${quoteText(clip(token.value.replace(/'/g, "''")))}`;
    case 'number':
      return `the number ${token.text}`;
    case 'end':
      return 'end of input';
    default:
      return quoteText(token.kind);
  }
}

/** True if the token is the lone word `word` (keywords are case-sensitive). */
function isWord(token: Token, word: string): boolean {
  return token.kind === 'path' && token.segments.length === 1 && token.text === word;
}

/** `found 'AND' (keywords are lower-case)`: the hint is for `AND`, `Eq` and friends. */
function found(token: Token, expectedWords: readonly string[]): string {
  const lower = token.kind === 'path' ? token.text.toLowerCase() : '';
  const miscased = token.kind === 'path' && lower !== token.text && expectedWords.includes(lower);
  return `found ${describe(token)}${miscased ? ' (keywords are lower-case)' : ''}`;
}

// ---------------------------------------------------------------------------
// $filter

const OPERATORS: readonly ComparisonOperator[] = ['eq', 'ne', 'gt', 'ge', 'lt', 'le'];
const KEYWORDS: readonly string[] = ['and', 'or', 'not', ...OPERATORS];
/** `a lt b` is `b gt a`. */
const FLIPPED: Record<ComparisonOperator, ComparisonOperator> = {
  eq: 'eq',
  ne: 'ne',
  gt: 'lt',
  ge: 'le',
  lt: 'gt',
  le: 'ge',
};

type Operand = { kind: 'field'; field: FieldPath; token: Token } | { kind: 'literal'; value: Literal; token: Token };

class FilterParser {
  private depth = 0;

  constructor(private readonly lexer: Lexer) {}

  parse(): FilterExpr {
    const expr = this.parseOr();
    const token = this.lexer.peek();
    if (token.kind !== 'end') {
      throw this.lexer.error(token.pos, `expected 'and', 'or' or end of input, ${found(token, ['and', 'or'])}`);
    }
    return expr;
  }

  private parseOr(): FilterExpr {
    const operands = [this.parseAnd()];
    while (isWord(this.lexer.peek(), 'or')) {
      this.lexer.next();
      operands.push(this.parseAnd());
    }
    return operands.length === 1 ? operands[0]! : { kind: 'or', operands };
  }

  private parseAnd(): FilterExpr {
    const operands = [this.parseUnary()];
    while (isWord(this.lexer.peek(), 'and')) {
      this.lexer.next();
      operands.push(this.parseUnary());
    }
    return operands.length === 1 ? operands[0]! : { kind: 'and', operands };
  }

  // Fields are never boolean on their own, so `not a eq 1` can only mean `not (a eq 1)`.
  private parseUnary(): FilterExpr {
    const token = this.lexer.peek();
    if (isWord(token, 'not')) {
      this.lexer.next();
      return this.nested(token, () => ({ kind: 'not', operand: this.parseUnary() }));
    }
    if (token.kind === '(') {
      this.lexer.next();
      return this.nested(token, () => {
        const inner = this.parseOr();
        const close = this.lexer.next();
        if (close.kind !== ')') {
          throw this.lexer.error(
            close.pos,
            `expected 'and', 'or' or ')' to close the '(' at position ${token.pos}, ${found(close, ['and', 'or'])}`,
          );
        }
        return inner;
      });
    }
    return this.parseComparison();
  }

  private nested(opener: Token, parse: () => FilterExpr): FilterExpr {
    if (++this.depth > MAX_FILTER_DEPTH) {
      throw this.lexer.error(opener.pos, `the filter is nested deeper than ${MAX_FILTER_DEPTH} levels`);
    }
    const expr = parse();
    this.depth--;
    return expr;
  }

  private parseComparison(): Comparison {
    const left = this.parseOperand();
    const opToken = this.lexer.next();
    const op = OPERATORS.find((o) => isWord(opToken, o));
    if (op === undefined) {
      throw this.lexer.error(
        opToken.pos,
        `expected a comparison operator after ${describe(left.token)}, ${found(opToken, OPERATORS)}`,
      );
    }
    const right = this.parseOperand();
    if (left.kind === 'field' && right.kind === 'literal') {
      return { kind: 'compare', op, field: left.field, value: right.value };
    }
    if (left.kind === 'literal' && right.kind === 'field') {
      return { kind: 'compare', op: FLIPPED[op], field: right.field, value: left.value };
    }
    const wanted =
      left.kind === 'field'
        ? 'a literal (comparing two fields is not supported)'
        : 'a field path (one side of a comparison must be a field)';
    throw this.lexer.error(right.token.pos, `expected ${wanted} after '${op}', found ${describe(right.token)}`);
  }

  private parseOperand(): Operand {
    const token = this.lexer.next();
    switch (token.kind) {
      case 'string':
      case 'number':
        return { kind: 'literal', value: token.value, token };
      case 'path':
        if (token.segments.length === 1) {
          if (token.text === 'true') return { kind: 'literal', value: true, token };
          if (token.text === 'false') return { kind: 'literal', value: false, token };
          if (token.text === 'null') return { kind: 'literal', value: null, token };
          if (KEYWORDS.includes(token.text)) break;
        }
        return { kind: 'field', field: token.segments, token };
    }
    throw this.lexer.error(token.pos, `expected a field path, a literal, 'not' or '(', found ${describe(token)}`);
  }
}

// ---------------------------------------------------------------------------
// $orderby

class OrderByParser {
  constructor(private readonly lexer: Lexer) {}

  parse(): OrderByItem[] {
    const items = [this.parseItem()];
    while (this.lexer.peek().kind === ',') {
      this.lexer.next();
      items.push(this.parseItem());
    }
    return items;
  }

  private parseItem(): OrderByItem {
    const fieldToken = this.lexer.next();
    if (fieldToken.kind !== 'path') {
      throw this.lexer.error(fieldToken.pos, `expected a field path, found ${describe(fieldToken)}`);
    }
    let previous: Token = fieldToken;
    let direction: SortDirection = 'asc';
    const dirToken = this.lexer.peek();
    if (isWord(dirToken, 'asc') || isWord(dirToken, 'desc')) {
      this.lexer.next();
      direction = isWord(dirToken, 'asc') ? 'asc' : 'desc';
      previous = dirToken;
    }
    const after = this.lexer.peek();
    if (after.kind !== ',' && after.kind !== 'end') {
      const wanted = previous === fieldToken ? "'asc', 'desc', ','" : "','";
      throw this.lexer.error(
        after.pos,
        `expected ${wanted} or end of input after ${describe(previous)}, ${found(after, ['asc', 'desc'])}`,
      );
    }
    return { field: fieldToken.segments, direction };
  }
}
