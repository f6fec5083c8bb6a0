import { ApiError, problemHeaders, toApiError } from '../errors.js';
import type { OperationRunner } from './execute.js';
import { referencedIds } from './plan.js';
import type { RequestBody } from '../api/types.js';
import type { BodyReference, OperationResult, ResultValue, UrlValue } from './types.js';
import type { PreparedOperation } from './validate.js';

/** An operation that has finished, as a later one's reference sees it. */
export interface Finished {
  result: OperationResult;
  /** The canonical path it was dispatched to (without query). */
  path: string;
}

/**
 * The canonical URL of the entity a finished operation created (its
 * `Location`) or returned (a single entity: an answer with an `ETag`, whose
 * URL is the operation's own path), or undefined when it produced none (a
 * list, a delete).
 */
export function entityUrl(f: Finished): string | undefined {
  if (f.result.status >= 400) return undefined;
  const location = f.result.headers['location'];
  if (location !== undefined) return pathOfLocation(location);
  return f.result.headers['etag'] !== undefined ? f.path : undefined;
}

/** The ETag a finished operation answered with, if any. */
export function entityEtag(f: Finished): string | undefined {
  return f.result.status >= 400 ? undefined : f.result.headers['etag'];
}

/**
 * Resolves an operation's references just before it is dispatched, against
 * the operations that finished before it (planning made sure it depends on
 * them). A substituted URL is checked again like any operation path, so it
 * cannot reach a batch endpoint or leave the server; body values are set
 * in a copy of the parsed body. Throws 424 `failed_dependency` when a
 * referenced operation produced no entity, no ETag or no such value, and the
 * path errors of SPEC 4.1 for a URL that does not pass.
 */
export function resolveReferences(p: PreparedOperation, finished: (id: string) => Finished | undefined): PreparedOperation {
  const refs = p.op.references;
  if (!refs) return p;
  let { target, headers } = p;
  if (refs.path) {
    const { id, rest } = refs.path;
    const source = finished(id);
    const url = source && entityUrl(source);
    if (url === undefined) throw failedReference(id, 'no entity whose URL it could stand for');
    if (!p.resolvePath) throw new ApiError(500, 'internal', 'A path reference was not prepared.');
    target = p.resolvePath(joinUrl(url, rest));
  }
  if (refs.url) {
    if (!p.resolvePath) throw new ApiError(500, 'internal', 'A URL reference was not prepared.');
    target = p.resolvePath(refs.url.map((part) => (typeof part === 'string' ? part : urlValue(part, finished))).join(''));
  }
  if (refs.etags) {
    headers = new Map(headers);
    for (const [name, id] of Object.entries(refs.etags)) {
      const source = finished(id);
      const etag = source && entityEtag(source);
      if (etag === undefined) throw failedReference(id, 'no ETag');
      headers.set(name, etag);
    }
  }
  if (!refs.body) return { ...p, target, headers };
  return { ...p, target, headers, op: { ...p.op, body: resolveBody(p.op.body, refs.body, finished) } };
}

/**
 * A copy of a JSON body with each reference's value set at its place. The
 * values come from parsed JSON and go into parsed JSON: nothing is ever
 * parsed from or spliced into the body's text.
 */
function resolveBody(body: RequestBody, refs: BodyReference[], finished: (id: string) => Finished | undefined): RequestBody {
  if (body.kind !== 'json') throw new ApiError(500, 'internal', 'A body reference was prepared for a body that is not JSON.');
  let value: unknown = body.value;
  const copies = new Set<object>();
  for (const ref of refs) {
    const values = ref.parts.map((part) => (typeof part === 'string' ? part : resultValue(part, finished)));
    const resolved = values.length === 1 && typeof ref.parts[0] !== 'string' ? values[0] : values.map(String).join('');
    value = setAt(value, ref.at, resolved, copies);
  }
  return { kind: 'json', value };
}

/** A string, number or boolean an earlier operation answered with, else 424 `failed_dependency`. */
function resultValue(ref: ResultValue, finished: (id: string) => Finished | undefined): string | number | boolean {
  const source = finished(ref.id);
  if (!source || source.result.status >= 400) throw failedReference(ref.id, 'no answer to take a value from');
  let value: unknown = source.result.body;
  for (const step of ref.select) {
    value = value !== null && typeof value === 'object' && Object.hasOwn(value, step) ? (value as Record<string | number, unknown>)[step] : undefined;
  }
  if (typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) return value;
  throw failedReference(ref.id, `no string, number or boolean at ${ref.select.join('.') || 'the top of its body'}`);
}

/**
 * A value of an earlier answer as data in a URL: percent-encoded whole, so
 * it stays inside the one segment or query value it stands in (parentheses
 * too, which would otherwise read as a key predicate).
 */
function urlValue(ref: UrlValue, finished: (id: string) => Finished | undefined): string {
  const value = String(resultValue(ref, finished));
  const text = ref.quoted ? value.replace(/'/g, "''") : value;
  if (!text.isWellFormed()) throw new ApiError(400, 'invalid_path', `The value at ${ref.select.join('.')} of the answer to ${JSON.stringify(ref.id)} is not well-formed Unicode, so it cannot stand in a URL.`);
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * `root` with the member or element at `at` (which the dialect made sure
 * exists) replaced. Only the objects and arrays along the path are copied,
 * each once per resolution (`copies` holds those already made); everything
 * else is shared with the batch's own body, which stays as it was. Copying
 * the whole body instead (structuredClone) cost more than the rest of a
 * reference's resolution together.
 */
function setAt(root: unknown, at: (string | number)[], value: unknown, copies: Set<object>): unknown {
  const last = at[at.length - 1];
  if (last === undefined) throw new ApiError(500, 'internal', 'A body reference names no value of the body.');
  const top = copyOnce(root, copies);
  let node = top;
  for (let i = 0; i < at.length - 1; i++) {
    const key = at[i]!;
    if (!Object.hasOwn(node, key)) throw new ApiError(500, 'internal', 'A body reference names no value of the body.');
    const child = copyOnce(node[key], copies);
    define(node, key, child);
    node = child;
  }
  if (!Object.hasOwn(node, last)) throw new ApiError(500, 'internal', 'A body reference names no value of the body.');
  define(node, last, value);
  return top;
}

/** A shallow copy of an object or array, unless it is one of `copies` already (then it is ours to change). */
function copyOnce(node: unknown, copies: Set<object>): Record<string | number, unknown> {
  if (node === null || typeof node !== 'object') throw new ApiError(500, 'internal', 'A body reference names no value of the body.');
  if (copies.has(node)) return node as Record<string | number, unknown>;
  const made = (Array.isArray(node) ? [...node] : { ...node }) as Record<string | number, unknown>;
  copies.add(made);
  return made;
}

/** Sets an own member, `__proto__` included (parsed JSON may have one) never through its setter. */
function define(node: Record<string | number, unknown>, key: string | number, value: unknown): void {
  // A plain assignment keeps arrays and objects in V8's fast form; defineProperty would not.
  if (key === '__proto__') Object.defineProperty(node, key, { value, writable: true, enumerable: true, configurable: true });
  else node[key] = value;
}

function failedReference(id: string, what: string): ApiError {
  return new ApiError(424, 'failed_dependency', `$${id} cannot be resolved: that request produced ${what}.`);
}

/** `Location` is path-absolute here; from another app it may be an absolute URL, of which the path counts. */
function pathOfLocation(location: string): string {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*(.*)$/.exec(location);
  return m ? m[1] || '/' : location;
}

function joinUrl(url: string, rest: string): string {
  if (rest.startsWith('?') && url.includes('?')) return `${url}&${rest.slice(1)}`;
  if (rest.startsWith('/') && url.includes('?')) {
    const q = url.indexOf('?');
    return `${url.slice(0, q)}${rest}`;
  }
  return url + rest;
}

/**
 * A batch in request order that carries references (OData multipart's
 * `$<Content-ID>`): each must name an operation that stands before the
 * referring one, which in request order has finished by then. Else 400
 * `invalid_dependency`, before anything runs (a graph plan checks the same
 * through `dependsOn`).
 */
export function checkBackReferences(ops: PreparedOperation[]): void {
  let byId: Map<string, number> | undefined;
  for (const p of ops) {
    if (!p.op.references) continue;
    byId ??= new Map(ops.flatMap((o) => (o.op.id === undefined ? [] : [[o.op.id, o.op.index] as [string, number]])));
    for (const id of referencedIds(p)) {
      const index = byId.get(id);
      const who = p.op.id !== undefined ? `Request ${JSON.stringify(p.op.id)}` : `Operation ${p.op.index}`;
      if (index === undefined) throw new ApiError(400, 'invalid_dependency', `${who} refers to $${id}, which is no request of this batch.`);
      if (index >= p.op.index) {
        throw new ApiError(400, 'invalid_dependency', `${who} refers to $${id}, which does not stand before it; a reference names an earlier request.`);
      }
    }
  }
}

/**
 * Runs operations with their references resolved from the results of those
 * that finished before, keeping each result for later references. After a
 * group failed, `settle` replaces its members' kept results with their final
 * ones: a rolled-back entity is nothing to refer to (424 `failed_dependency`).
 */
export function referenceRunner(dispatch: OperationRunner): { run: OperationRunner; settle(members: PreparedOperation[], results: OperationResult[]): void } {
  const finished = new Map<string, Finished>();
  return {
    async run(p) {
      let resolved: PreparedOperation;
      try {
        resolved = resolveReferences(p, (id) => finished.get(id));
      } catch (err) {
        const error = toApiError(err);
        return { index: p.op.index, id: p.op.id, status: error.status, headers: problemHeaders(error), body: error.toProblem(), ran: false };
      }
      const result = await dispatch(resolved);
      if (p.op.id !== undefined) finished.set(p.op.id, { result, path: resolved.target.path });
      return result;
    },
    settle(members, results) {
      for (const m of members) {
        const result = results[m.op.index];
        const kept = m.op.id === undefined ? undefined : finished.get(m.op.id);
        if (kept && result) finished.set(m.op.id!, { ...kept, result });
      }
    },
  };
}
