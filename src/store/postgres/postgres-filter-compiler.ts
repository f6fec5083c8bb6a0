/**
 * Compiles a parsed `$filter` / `$orderby` to PostgreSQL SQL over a table with
 * columns `id text` and `data jsonb` (the record's JSON object).
 *
 * Everything the client wrote (field names and literals) travels as bound
 * parameters `$n`; the SQL text is built only from fixed fragments. The
 * semantics must match `sqlite-filter-compiler.ts` exactly, hence `COLLATE "C"`
 * (code point order, like SQLite's BINARY) on every text comparison.
 *
 * A path is passed as a `text[]` for `#>`, which would also index into arrays
 * for all-digit segments; the parser only produces names that start with a
 * letter or `_`, so that never happens for parsed filters.
 */
import { isIdField, type Comparison, type FieldPath, type FilterExpr, type OrderByItem } from '../query/filter.js';

export interface PostgresFragment {
  sql: string;
  params: unknown[];
  /** The placeholder number to use for the next parameter after this fragment. */
  nextParam: number;
}

const SQL_OPERATORS = { eq: '=', gt: '>', ge: '>=', lt: '<', le: '<=' } as const;

/** Numbers the placeholders from `firstParam` and collects their values. */
class Params {
  readonly values: unknown[] = [];

  constructor(private next: number) {}

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.next++}`;
  }

  fragment(sql: string): PostgresFragment {
    return { sql, params: this.values, nextParam: this.next };
  }
}

/** A boolean (never NULL) expression to AND into a WHERE clause; placeholders start at `$firstParam`. */
export function compilePostgresFilter(expr: FilterExpr, firstParam: number): PostgresFragment {
  const params = new Params(firstParam);
  return params.fragment(compileExpr(expr, params));
}

/**
 * An ORDER BY list (without the keywords). Values sort by JSON type first:
 * missing < null < string < number < boolean < array < object (jsonb's own
 * order), so missing and null values come first in `asc` and last in `desc`.
 * Within a type, strings sort by code point, numbers numerically, false before
 * true; arrays and objects tie. `id` is always the final tiebreaker.
 */
export function compilePostgresOrderBy(items: OrderByItem[], firstParam: number): PostgresFragment {
  const params = new Params(firstParam);
  const keys = items.map((item) => orderKeys(item, params));
  keys.push('id COLLATE "C" ASC');
  return params.fragment(keys.join(', '));
}

function compileExpr(expr: FilterExpr, params: Params): string {
  switch (expr.kind) {
    case 'and':
      return junction(expr.operands, 'AND', 'true', params);
    case 'or':
      return junction(expr.operands, 'OR', 'false', params);
    case 'not':
      return `(NOT ${compileExpr(expr.operand, params)})`;
    case 'compare':
      return compileComparison(expr, params);
  }
}

function junction(operands: FilterExpr[], joiner: string, empty: string, params: Params): string {
  if (operands.length === 0) return empty;
  return `(${operands.map((operand) => compileExpr(operand, params)).join(` ${joiner} `)})`;
}

function pathParam(field: FieldPath, params: Params): string {
  return `${params.add([...field])}::text[]`;
}

function compileComparison({ op, field, value }: Comparison, params: Params): string {
  if (op === 'ne') return `(NOT ${compileComparison({ kind: 'compare', op: 'eq', field, value }, params)})`;
  const sqlOp = SQL_OPERATORS[op];
  if (isIdField(field)) {
    if (typeof value !== 'string') return 'false';
    return `COALESCE(id COLLATE "C" ${sqlOp} ${params.add(value)}::text, false)`;
  }
  if (value === null) {
    return op === 'eq' ? `(COALESCE(jsonb_typeof(data #> ${pathParam(field, params)}), 'null') = 'null')` : 'false';
  }
  const path = pathParam(field, params);
  // CASE, not AND: PostgreSQL may evaluate AND operands in any order, and the
  // casts below fail on a value of another JSON type.
  const [jsonType, left, right] =
    typeof value === 'string'
      ? ['string', `(data #>> ${path}) COLLATE "C"`, `${params.add(value)}::text`]
      : typeof value === 'number'
        ? ['number', `(data #> ${path})::numeric`, `${params.add(value)}::numeric`]
        : ['boolean', `(data #> ${path})::boolean`, `${params.add(value)}::boolean`];
  return `(CASE WHEN jsonb_typeof(data #> ${path}) = '${jsonType}' THEN ${left} ${sqlOp} ${right} ELSE false END)`;
}

function orderKeys({ field, direction }: OrderByItem, params: Params): string {
  const dir = direction === 'asc' ? 'ASC' : 'DESC';
  if (isIdField(field)) return `id COLLATE "C" ${dir}`;
  const path = pathParam(field, params);
  const type = `jsonb_typeof(data #> ${path})`;
  const typeRank =
    `CASE ${type} WHEN 'null' THEN 1 WHEN 'string' THEN 2 WHEN 'number' THEN 3 ` +
    `WHEN 'boolean' THEN 4 WHEN 'array' THEN 5 WHEN 'object' THEN 6 ELSE 0 END`;
  const strings = `(CASE WHEN ${type} = 'string' THEN data #>> ${path} END) COLLATE "C"`;
  const numbers = `CASE WHEN ${type} = 'number' THEN (data #> ${path})::numeric END`;
  const booleans = `CASE WHEN ${type} = 'boolean' THEN (data #> ${path})::boolean END`;
  return [typeRank, strings, numbers, booleans].map((key) => `${key} ${dir}`).join(', ');
}
