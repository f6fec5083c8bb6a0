/**
 * Compiles a parsed `$filter` / `$orderby` to SQLite SQL over a table with
 * columns `id TEXT` and `data TEXT` (the record's JSON object).
 *
 * Everything the client wrote (field names and literals) travels as bound
 * parameters; the SQL text is built only from fixed fragments. The semantics
 * must match `postgres-filter-compiler.ts` exactly.
 */
import { isIdField, type Comparison, type FieldPath, type FilterExpr, type OrderByItem } from '../query/filter.js';

export interface SqliteFragment {
  sql: string;
  params: unknown[];
}

const SQL_OPERATORS = { eq: '=', gt: '>', ge: '>=', lt: '<', le: '<=' } as const;

/** A boolean (0/1, never NULL) expression to AND into a WHERE clause. */
export function compileSqliteFilter(expr: FilterExpr): SqliteFragment {
  const params: unknown[] = [];
  return { sql: compileExpr(expr, params), params };
}

/**
 * An ORDER BY list (without the keywords). Values sort by JSON type first:
 * missing < null < string < number < boolean < array < object, the order of
 * PostgreSQL's jsonb, so missing and null values come first in `asc` and last
 * in `desc`. Within a type, strings sort by code point, numbers numerically,
 * false before true; arrays and objects tie. `id` is always the final tiebreaker.
 */
export function compileSqliteOrderBy(items: OrderByItem[]): SqliteFragment {
  const params: unknown[] = [];
  const keys = items.map((item) => orderKeys(item, params));
  keys.push('id ASC');
  return { sql: keys.join(', '), params };
}

/** `$."a"."b"`; SQLite understands `\"` and `\\` inside a quoted label. */
export function sqliteJsonPath(field: FieldPath): string {
  return '$' + field.map((name) => `."${name.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join('');
}

function compileExpr(expr: FilterExpr, params: unknown[]): string {
  switch (expr.kind) {
    case 'and':
      return junction(expr.operands, 'AND', '1', params);
    case 'or':
      return junction(expr.operands, 'OR', '0', params);
    case 'not':
      return `(NOT ${compileExpr(expr.operand, params)})`;
    case 'compare':
      return compileComparison(expr, params);
  }
}

function junction(operands: FilterExpr[], joiner: string, empty: string, params: unknown[]): string {
  if (operands.length === 0) return empty;
  return `(${operands.map((operand) => compileExpr(operand, params)).join(` ${joiner} `)})`;
}

function compileComparison({ op, field, value }: Comparison, params: unknown[]): string {
  if (op === 'ne') return `(NOT ${compileComparison({ kind: 'compare', op: 'eq', field, value }, params)})`;
  const sqlOp = SQL_OPERATORS[op];
  if (isIdField(field)) {
    if (typeof value !== 'string') return '0';
    params.push(value);
    return `COALESCE(id ${sqlOp} ?, 0)`;
  }
  const path = sqliteJsonPath(field);
  if (value === null) {
    if (op !== 'eq') return '0';
    params.push(path);
    return `(COALESCE(json_type(data, ?), 'null') = 'null')`;
  }
  // json_extract gives 1/0 for true/false, so json_type is what tells `true` from `1`.
  const [types, bound] =
    typeof value === 'string'
      ? ["('text')", value]
      : typeof value === 'number'
        ? ["('integer', 'real')", value]
        : ["('true', 'false')", value ? 1 : 0];
  params.push(path, path, bound);
  return `(CASE WHEN json_type(data, ?) IN ${types} THEN json_extract(data, ?) ${sqlOp} ? ELSE 0 END)`;
}

function orderKeys({ field, direction }: OrderByItem, params: unknown[]): string {
  const dir = direction === 'asc' ? 'ASC' : 'DESC';
  if (isIdField(field)) return `id ${dir}`;
  const path = sqliteJsonPath(field);
  params.push(path, path, path);
  const typeRank =
    `CASE json_type(data, ?) WHEN 'null' THEN 1 WHEN 'text' THEN 2 WHEN 'integer' THEN 3 WHEN 'real' THEN 3 ` +
    `WHEN 'false' THEN 4 WHEN 'true' THEN 4 WHEN 'array' THEN 5 WHEN 'object' THEN 6 ELSE 0 END`;
  // Within one rank every value has the same SQLite storage class, so one key orders them all.
  const scalar = `CASE WHEN json_type(data, ?) IN ('text', 'integer', 'real', 'true', 'false') THEN json_extract(data, ?) END`;
  return `${typeRank} ${dir}, ${scalar} ${dir}`;
}
