import type { RequestBody } from '../../api/types.js';
import type { Batch, BodyReference, Operation, OperationReferences, UrlValue } from '../../engine/types.js';
import { checkHeader } from '../../engine/headers.js';
import { ApiError } from '../../errors.js';
import { decodePathSegments } from '../../paths.js';
import { checkCount } from '../json-input.js';
import { invalidJson } from '../../json/invalid-json.js';
import { parseJsonUnique } from '../../json/unique-members.js';
import type { DecodeInput } from '../types.js';
import { processingOrder } from './order.js';
import { checkBatchResource, rewriteQuery, rewriteResource, type FullUrlTarget } from './references.js';
import { fhirTarget, type FhirTarget } from './urls.js';

/** The media types a Bundle may come in. */
export const FHIR_MEDIA_TYPES = ['application/fhir+json', 'application/json'] as const;

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** The one transaction group of a `transaction` Bundle. */
export const TRANSACTION_GROUP = 'transaction';

/** What `encode` needs to know of the entry an operation runs. */
export interface FhirEntryInfo {
  /** Its place in `Bundle.entry`. */
  entry: number;
  method: string;
  type: string;
  /** A GET or HEAD of a whole Type, answered with a `searchset` Bundle. */
  search: boolean;
  /** A PUT's or PATCH's record, `Type/id`: the `location` of its answer. */
  self?: string;
}

export interface FhirBundleInfo {
  type: 'batch' | 'transaction';
  /** By operation index (the order they run in): the entry each runs. */
  operations: FhirEntryInfo[];
}

/** Which entry a refusal is about, for `OperationOutcome.issue.expression`. */
const entryOfError = new WeakMap<ApiError, number>();

export function refusedEntry(err: ApiError): number | undefined {
  return entryOfError.get(err);
}

function entryError(entry: number, status: number, code: ApiError['code'], detail: string): ApiError {
  const err = new ApiError(status, code, `Bundle.entry[${entry}]: ${detail}`);
  entryOfError.set(err, entry);
  return err;
}

/** Gives an error thrown while reading entry `entry` that entry, unless it names one already. */
function attributed<T>(entry: number, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ApiError && !entryOfError.has(err)) entryOfError.set(err, entry);
    throw err;
  }
}

interface ParsedEntry {
  entry: number;
  method: string;
  target: FhirTarget;
  fullUrl?: string;
  resource?: Record<string, unknown>;
  headers: Record<string, string>;
  ifNoneExist?: string;
}

/**
 * A FHIR R4 Bundle of type `batch` or `transaction` to the canonical batch.
 * Entries become operations on `/v1/Type[/id]` in FHIR's processing order
 * (order.ts), each with the id `Bundle.entry[i]`; a transaction is one group
 * (all or nothing) whose `fullUrl` references are resolved (references.ts),
 * a batch runs each entry alone and resolves nothing.
 */
export function decodeBundle(input: DecodeInput, maxOperations: number): { batch: Batch; info: FhirBundleInfo } {
  checkContentType(input.contentType);
  let doc: unknown;
  try {
    doc = parseJsonUnique(input.text);
  } catch (err) {
    const refusal = invalidJson(err, 'The FHIR Bundle');
    // A repeat inside an entry points the OperationOutcome's expression at it.
    const entry = /^\/entry\/(\d+)(\/|$)/.exec(String(refusal.extensions['pointer'] ?? ''));
    if (entry) entryOfError.set(refusal, Number(entry[1]));
    throw refusal;
  }
  if (!isObject(doc) || doc['resourceType'] !== 'Bundle') throw new ApiError(400, 'bad_request', 'The body is not a FHIR Bundle: its resourceType must be "Bundle".');
  const type = doc['type'];
  if (type !== 'batch' && type !== 'transaction') {
    throw new ApiError(400, 'bad_request', `A FHIR Bundle posted here must be of type batch or transaction, not ${JSON.stringify(type ?? null)}.`);
  }
  const list = doc['entry'] ?? [];
  if (!Array.isArray(list)) throw new ApiError(400, 'bad_request', 'Bundle.entry must be an array.');
  checkCount(list, maxOperations);

  const entries = list.map((e, i) => attributed(i, () => parseEntry(e, i, input.baseUrl)));
  const fullUrls = new Map<string, number>();
  for (const e of entries) {
    if (e.fullUrl === undefined) continue;
    const other = fullUrls.get(e.fullUrl);
    if (other !== undefined) throw entryError(e.entry, 400, 'duplicate_id', `its fullUrl ${e.fullUrl} is also Bundle.entry[${other}]'s; fullUrls are unique in a Bundle.`);
    fullUrls.set(e.fullUrl, e.entry);
  }

  const rewritten = type === 'transaction' ? resolveTransaction(entries, fullUrls) : checkBatch(entries, fullUrls);
  const order = processingOrder(
    entries.map((e) => e.method),
    new Map(rewritten.map((r, i) => [i, r.refersTo])),
  );
  const operations: Operation[] = order.map((entry, index) => {
    const e = entries[entry]!;
    const r = rewritten[entry]!;
    const references: OperationReferences = {};
    if (r.body.length > 0) references.body = r.body;
    if (r.url) references.url = r.url;
    return {
      index,
      id: opId(entry),
      method: e.method,
      path: r.path,
      headers: e.headers,
      body: r.resource === undefined ? { kind: 'none' } : ({ kind: 'json', value: r.resource } satisfies RequestBody),
      group: type === 'transaction' ? TRANSACTION_GROUP : undefined,
      ifNoneExist: e.ifNoneExist,
      references: references.body || references.url ? references : undefined,
    };
  });
  const info: FhirBundleInfo = {
    type,
    operations: order.map((entry) => {
      const e = entries[entry]!;
      const info: FhirEntryInfo = { entry, method: e.method, type: e.target.type, search: (e.method === 'GET' || e.method === 'HEAD') && e.target.id === undefined };
      if (e.method === 'PUT' || e.method === 'PATCH') info.self = `${e.target.type}/${e.target.id}`;
      return info;
    }),
  };
  return { batch: { operations, order: 'request' }, info };
}

/** The operation id of entry `i`: engine messages name the entry as FHIR does. */
export function opId(entry: number): string {
  return `Bundle.entry[${entry}]`;
}

/** An entry as it will run: its path, resource and references once the Bundle's fullUrls are resolved. */
interface Rewritten {
  path: string;
  resource?: Record<string, unknown>;
  body: BodyReference[];
  /** A GET whose query stands for a created record: its path as text and values. */
  url?: (string | UrlValue)[];
  refersTo: Set<number>;
}

/**
 * A transaction: two entries may not write one record (FHIR: identities do
 * not overlap), and every POST or PUT `fullUrl` mentioned in a resource or a
 * GET query stands for its record.
 */
function resolveTransaction(entries: ParsedEntry[], fullUrls: ReadonlyMap<string, number>): Rewritten[] {
  const writes = new Map<string, number>();
  for (const e of entries) {
    if (e.method !== 'PUT' && e.method !== 'PATCH' && e.method !== 'DELETE') continue;
    const [, id] = decodePathSegments(`/${e.target.type}/${e.target.id}`);
    const key = `${e.target.type}/${id}`;
    const other = writes.get(key);
    if (other !== undefined) {
      throw entryError(e.entry, 400, 'duplicate_id', `it writes ${key}, as Bundle.entry[${other}] does; the entries of a transaction may not write the same record.`);
    }
    writes.set(key, e.entry);
  }
  const targets = new Map<string, FullUrlTarget>();
  for (const e of entries) {
    if (e.fullUrl === undefined) continue;
    if (e.method === 'POST') targets.set(e.fullUrl, { kind: 'created', entry: e.entry, opId: opId(e.entry), type: e.target.type });
    else if (e.method === 'PUT') targets.set(e.fullUrl, { kind: 'known', value: `${e.target.type}/${e.target.id}` });
  }
  const declared = new Set(fullUrls.keys());
  return entries.map((e) => attributed(e.entry, () => {
    const out: Rewritten = { path: e.target.path, resource: e.resource, body: [], refersTo: new Set() };
    if (e.resource !== undefined) {
      const r = rewriteResource(e.resource, e.entry, targets, declared);
      Object.assign(out, { resource: r.resource, body: r.references, refersTo: r.refersTo });
    }
    if ((e.method === 'GET' || e.method === 'HEAD') && e.target.query !== undefined && targets.size > 0) {
      const q = rewriteQuery(e.target.query, targets);
      const prefix = `${e.target.path.slice(0, e.target.path.indexOf('?'))}?`;
      out.path = prefix + q.query;
      if (q.parts) out.url = [prefix, ...q.parts];
      for (const d of q.refersTo) out.refersTo.add(d);
    }
    return out;
  }));
}

/** A batch resolves nothing, and refuses a `reference` to another entry's fullUrl (it would dangle). */
function checkBatch(entries: ParsedEntry[], fullUrls: ReadonlyMap<string, number>): Rewritten[] {
  return entries.map((e) =>
    attributed(e.entry, () => {
      if (e.resource !== undefined && fullUrls.size > 0) checkBatchResource(e.resource, e.entry, fullUrls);
      return { path: e.target.path, resource: e.resource, body: [], refersTo: new Set<number>() };
    }),
  );
}

function parseEntry(raw: unknown, i: number, baseUrl: string | undefined): ParsedEntry {
  if (!isObject(raw)) throw entryError(i, 400, 'bad_request', 'an entry must be an object.');
  const request = raw['request'];
  if (!isObject(request)) throw entryError(i, 400, 'bad_request', 'has no request; every entry of a batch or transaction says what to do.');
  const method = request['method'];
  if (typeof method !== 'string' || !METHODS.has(method.toUpperCase())) {
    throw entryError(i, 400, 'bad_request', `request.method must be one of GET, HEAD, POST, PUT, PATCH, DELETE, not ${JSON.stringify(method ?? null)}.`);
  }
  const m = method.toUpperCase();
  const url = request['url'];
  if (typeof url !== 'string') throw entryError(i, 400, 'bad_request', 'request.url must be a string (Type, Type/id or Type?query).');
  const target = fhirTarget(url, baseUrl);
  if (m === 'POST' && (target.id !== undefined || target.query !== undefined)) {
    throw entryError(i, 400, 'invalid_path', `a POST creates a record in a Type: its url is the Type alone (${target.type}), not ${url}.`);
  }
  if ((m === 'PUT' || m === 'PATCH' || m === 'DELETE') && (target.id === undefined || target.query !== undefined)) {
    throw entryError(i, 400, 'invalid_path', `a ${m} names one record, Type/id; conditional ${m === 'PUT' ? 'updates' : m === 'PATCH' ? 'patches' : 'deletes'} (Type?query) are not supported.`);
  }

  const headers: Record<string, string> = {};
  for (const [member, header] of [
    ['ifMatch', 'If-Match'],
    ['ifNoneMatch', 'If-None-Match'],
  ] as const) {
    const value = request[member];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') throw entryError(i, 400, 'bad_request', `request.${member} must be a string (an ETag).`);
    checkHeader(header, value, `Bundle.entry[${i}].request.${member}`);
    headers[header] = value;
  }
  let ifNoneExist: string | undefined;
  const condition = request['ifNoneExist'];
  if (condition !== undefined && condition !== null) {
    if (m !== 'POST') throw entryError(i, 400, 'bad_request', 'request.ifNoneExist makes a create conditional; it belongs to a POST only.');
    ifNoneExist = filterCondition(condition, i);
  }

  const fullUrl = raw['fullUrl'];
  if (fullUrl !== undefined && fullUrl !== null && (typeof fullUrl !== 'string' || fullUrl === '')) {
    throw entryError(i, 400, 'bad_request', 'fullUrl must be a non-empty string.');
  }
  // A lone surrogate (a JSON "\ud800" escape) is no text: it could not be percent-encoded where a query mentions it.
  if (typeof fullUrl === 'string' && !fullUrl.isWellFormed()) throw entryError(i, 400, 'bad_request', 'fullUrl has a lone surrogate, which is not Unicode text.');
  const resource = m === 'GET' || m === 'HEAD' || m === 'DELETE' ? undefined : checkResource(raw['resource'], m, target, i);
  return { entry: i, method: m, target, fullUrl: typeof fullUrl === 'string' ? fullUrl : undefined, resource, headers, ifNoneExist };
}

/**
 * The resource a POST, PUT or PATCH sends: the record's JSON. Its
 * `resourceType` is the url's Type (a PATCH may leave it out), a PUT's `id`
 * the url's id; a PATCH is a JSON Merge Patch (FHIRPath Patch, a Parameters
 * resource, and JSON Patch, a Binary or an array, are refused).
 */
function checkResource(resource: unknown, method: string, target: FhirTarget, i: number): Record<string, unknown> {
  if (method === 'PATCH') {
    if (Array.isArray(resource)) throw entryError(i, 400, 'bad_request', 'a PATCH takes a JSON Merge Patch (an object) as its resource; JSON Patch is not supported.');
    if (isObject(resource) && resource['resourceType'] === 'Parameters' && target.type !== 'Parameters') {
      throw entryError(i, 400, 'bad_request', 'a PATCH takes a JSON Merge Patch as its resource; FHIRPath Patch (a Parameters resource) is not supported.');
    }
    if (isObject(resource) && resource['resourceType'] === 'Binary' && target.type !== 'Binary') {
      throw entryError(i, 400, 'bad_request', 'a PATCH takes a JSON Merge Patch as its resource; JSON Patch (in a Binary) is not supported.');
    }
  }
  if (!isObject(resource)) throw entryError(i, 400, 'bad_request', `a ${method} needs a resource (a JSON object).`);
  const type = resource['resourceType'];
  if (!(method === 'PATCH' && type === undefined) && type !== target.type) {
    throw entryError(i, 400, 'bad_request', `the resource's resourceType is ${JSON.stringify(type ?? null)}, but its url names ${target.type}; they must be the same.`);
  }
  if (method === 'PUT' && resource['id'] !== undefined) {
    const [, id] = decodePathSegments(`/${target.type}/${target.id}`);
    if (resource['id'] !== id) throw entryError(i, 400, 'bad_request', `the resource's id is ${JSON.stringify(resource['id'])}, but its url names ${target.type}/${id}; they must be the same.`);
  }
  return resource;
}

/** `ifNoneExist` is an Omnibus `$filter=...` (OData subset), not a FHIR search. */
function filterCondition(condition: unknown, i: number): string {
  const text = typeof condition === 'string' ? condition.replace(/^\?/, '') : '';
  const params = new URLSearchParams(text);
  const names = [...params.keys()];
  if (names.length !== 1 || names[0] !== '$filter' || (params.get('$filter') ?? '').trim() === '') {
    throw entryError(
      i,
      400,
      'bad_request',
      `request.ifNoneExist must be an Omnibus filter, $filter=<expression> (for example $filter=identifier eq 'x'); FHIR search parameters are not supported, not ${JSON.stringify(condition)}.`,
    );
  }
  return text;
}

/**
 * `application/fhir+json` or `application/json`, with no parameter but
 * `charset=utf-8` and `fhirVersion`; anything else 415.
 */
function checkContentType(contentType: string | undefined): void {
  const [type, ...params] = (contentType ?? '').split(';');
  const media = type!.trim().toLowerCase();
  const refuse = (why: string) =>
    new ApiError(415, 'unsupported_media_type', `A FHIR Bundle is sent as application/fhir+json or application/json (charset=utf-8 and fhirVersion allowed); ${why}.`);
  if (!(FHIR_MEDIA_TYPES as readonly string[]).includes(media)) throw refuse(`not ${media || 'a body without Content-Type'}`);
  for (const param of params) {
    if (param.trim() === '') continue;
    const eq = param.indexOf('=');
    const name = (eq < 0 ? param : param.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? '' : param.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    if (name === 'fhirversion' && value !== '') continue;
    if (name === 'charset' && value.toLowerCase() === 'utf-8') continue;
    throw refuse(`the parameter ${param.trim()} is not one of them`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
