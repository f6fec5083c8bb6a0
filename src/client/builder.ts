import { OmnibusUsageError } from './errors.js';
import { lowerCaseHeaders } from './wire.js';
import type { Dependency, PlannedOp } from './plan.js';
import type { OperationResult } from './types.js';

declare const resultType: unique symbol;

/**
 * An operation of an explicit batch, as `b.get(...)` returns it. Returned
 * from the build function (alone, in an array or an object), it becomes that
 * operation's `OperationResult<T>`. Where the dialect has references
 * (`odata-json`), `ref.url()` and `ref.etag` stand for what it created.
 */
export interface OperationRef<T = unknown> {
  readonly kind: 'operation';
  /** Position in the batch, from 0. */
  readonly index: number;
  /** The canonical URL of the entity this operation created (its Location) or returned, then `rest` (`/pages`, `?$select=a`). */
  url(rest?: string): UrlReference;
  /** This operation's ETag, for `ifMatch` / `ifNoneMatch`. */
  readonly etag: EtagReference;
  /** Only carries the body type. */
  readonly [resultType]?: T;
}

/** A transaction group, for `dependsOn`. */
export interface GroupRef {
  readonly kind: 'group';
  readonly index: number;
}

export interface UrlReference {
  readonly kind: 'url';
  readonly op: number;
  readonly rest: string;
}

export interface EtagReference {
  readonly kind: 'etag';
  readonly op: number;
}

export interface OperationOptions {
  headers?: Record<string, string>;
  ifMatch?: string | EtagReference;
  ifNoneMatch?: string | EtagReference;
  /** Run after these (and, in `odata-json`, not at all if one of them failed: 424 failed_dependency). References add their operation here by themselves. */
  dependsOn?: (OperationRef<any> | GroupRef)[];
}

export type PathArg = string | UrlReference;

/** What an explicit batch's build function returns, with each OperationRef replaced by its result. */
export type Resolved<R> =
  R extends OperationRef<infer T>
    ? OperationResult<T>
    : R extends GroupRef
      ? GroupRef
      : R extends readonly unknown[]
        ? { -readonly [K in keyof R]: Resolved<R[K]> }
        : R extends Record<string, unknown>
          ? { [K in keyof R]: Resolved<R[K]> }
          : R;

/** The answer of `client.batch(build)`: what build returned, resolved; every result in order when it returned nothing. */
export type BatchValue<R> = [R] extends [void | undefined] ? OperationResult[] : Resolved<R>;

interface Capabilities {
  dialect: string;
  groups: boolean;
  graph: boolean;
}

class Ref implements OperationRef {
  readonly kind = 'operation' as const;
  declare readonly [resultType]?: unknown;
  constructor(readonly index: number) {}
  url(rest = ''): UrlReference {
    if (rest !== '' && !/^[/?]/.test(rest)) throw new OmnibusUsageError(`url(rest): rest must start with "/" or "?", not ${JSON.stringify(rest)}`);
    return { kind: 'url', op: this.index, rest };
  }
  get etag(): EtagReference {
    return { kind: 'etag', op: this.index };
  }
}

class Group implements GroupRef {
  readonly kind = 'group' as const;
  constructor(readonly index: number) {}
}

/** Operations of one transaction: they all take effect, or none does. */
export class TransactionBuilder {
  constructor(
    private readonly batch: BatchBuilder,
    /** This group, for `dependsOn`. */
    readonly ref: GroupRef,
  ) {}
  get<T = unknown>(path: PathArg, options?: OperationOptions): OperationRef<T> {
    return this.batch.add('GET', path, undefined, options, this);
  }
  post<T = unknown>(path: PathArg, body?: unknown, options?: OperationOptions): OperationRef<T> {
    return this.batch.add('POST', path, body, options, this);
  }
  put<T = unknown>(path: PathArg, body?: unknown, options?: OperationOptions): OperationRef<T> {
    return this.batch.add('PUT', path, body, options, this);
  }
  patch<T = unknown>(path: PathArg, body?: unknown, options?: OperationOptions): OperationRef<T> {
    return this.batch.add('PATCH', path, body, options, this);
  }
  delete<T = unknown>(path: PathArg, options?: OperationOptions): OperationRef<T> {
    return this.batch.add('DELETE', path, undefined, options, this);
  }
  request<T = unknown>(method: string, path: PathArg, body?: unknown, options?: OperationOptions): OperationRef<T> {
    return this.batch.add(method, path, body, options, this);
  }
}

/** Builds one explicit batch: `client.batch((b) => { … })`. */
export class BatchBuilder {
  /** @internal */
  readonly ops: PlannedOp[] = [];
  /** @internal */
  groups = 0;
  private open: TransactionBuilder | undefined;

  constructor(private readonly caps: Capabilities) {}

  get<T = unknown>(path: PathArg, options?: OperationOptions): OperationRef<T> {
    return this.add('GET', path, undefined, options);
  }
  post<T = unknown>(path: PathArg, body?: unknown, options?: OperationOptions): OperationRef<T> {
    return this.add('POST', path, body, options);
  }
  put<T = unknown>(path: PathArg, body?: unknown, options?: OperationOptions): OperationRef<T> {
    return this.add('PUT', path, body, options);
  }
  patch<T = unknown>(path: PathArg, body?: unknown, options?: OperationOptions): OperationRef<T> {
    return this.add('PATCH', path, body, options);
  }
  delete<T = unknown>(path: PathArg, options?: OperationOptions): OperationRef<T> {
    return this.add('DELETE', path, undefined, options);
  }
  request<T = unknown>(method: string, path: PathArg, body?: unknown, options?: OperationOptions): OperationRef<T> {
    return this.add(method, path, body, options);
  }

  /**
   * A transaction group (`requests` and `odata-json`): its operations run in
   * one database transaction; if one fails, none of them takes effect and
   * the others answer 424 `transaction_rolled_back`. Returns what `build`
   * returns.
   */
  transaction<R>(build: (t: TransactionBuilder) => R): R {
    if (!this.caps.groups) throw new OmnibusUsageError(`transaction(): the ${this.caps.dialect} dialect has no transaction groups (use requests or odata-json)`);
    if (this.open) throw new OmnibusUsageError('transaction(): groups do not nest');
    const t = new TransactionBuilder(this, new Group(this.groups++));
    this.open = t;
    try {
      return build(t);
    } finally {
      this.open = undefined;
    }
  }

  /** @internal */
  add<T>(method: string, path: PathArg, body: unknown, options: OperationOptions | undefined, from?: TransactionBuilder): OperationRef<T> {
    // Members of a group stand next to each other (OData requires it), so the outer builder waits.
    if (this.open !== from) {
      throw new OmnibusUsageError(from ? 'this transaction has ended; add its operations inside transaction(build)' : 'add operations of a transaction through the transaction builder (t), not the batch builder');
    }
    const index = this.ops.length;
    const headers = lowerCaseHeaders(options?.headers);
    const dependsOn: Dependency[] = [];
    const op: PlannedOp = { method: method.toUpperCase(), path: '', headers, dependsOn };
    if (body !== undefined) op.body = body;
    if (from) op.group = from.ref.index;

    if (typeof path === 'string') {
      if (!path.startsWith('/')) throw new OmnibusUsageError(`a path starts with "/" (as /v1/books/1), not ${JSON.stringify(path.slice(0, 60))}`);
      op.path = path;
    } else {
      this.needGraph('a url reference');
      this.checkEarlier(path.op, index);
      op.pathRef = { op: path.op, rest: path.rest };
      dependsOn.push({ op: path.op });
    }
    for (const [name, value] of [
      ['if-match', options?.ifMatch],
      ['if-none-match', options?.ifNoneMatch],
    ] as const) {
      if (value === undefined) continue;
      if (typeof value === 'string') headers[name] = value;
      else {
        this.needGraph('an ETag reference');
        this.checkEarlier(value.op, index);
        (op.etagRefs ??= {})[name] = value.op;
        if (!dependsOn.some((d) => 'op' in d && d.op === value.op)) dependsOn.push({ op: value.op });
      }
    }
    for (const d of options?.dependsOn ?? []) {
      this.needGraph('dependsOn');
      if (d.kind === 'operation') {
        this.checkEarlier(d.index, index);
        if (!dependsOn.some((x) => 'op' in x && x.op === d.index)) dependsOn.push({ op: d.index });
      } else {
        if (d.index >= this.groups || d.index === op.group) throw new OmnibusUsageError('dependsOn: a group must be an earlier one, not the operation\'s own');
        dependsOn.push({ group: d.index });
      }
    }
    this.ops.push(op);
    return new Ref(index) as OperationRef<T>;
  }

  private needGraph(what: string): void {
    if (!this.caps.graph) throw new OmnibusUsageError(`${what} needs the odata-json dialect (this client speaks ${this.caps.dialect})`);
  }

  private checkEarlier(target: number, index: number): void {
    if (!(target >= 0 && target < index)) throw new OmnibusUsageError('a reference or dependency must name an earlier operation of the same batch');
  }
}

/** Replaces every OperationRef in what the build function returned by its result. */
export function resolveValue(value: unknown, results: OperationResult[]): unknown {
  if (value instanceof Ref) return results[value.index];
  if (Array.isArray(value)) return value.map((v) => resolveValue(v, results));
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = resolveValue(v, results);
    return out;
  }
  return value;
}
