import type { RequestBody } from '../../api/types.js';
import type { Batch, BodyReference, Operation, OperationReferences } from '../../engine/types.js';
import { ApiError } from '../../errors.js';
import { decodePathSegments } from '../../paths.js';
import { checkCount } from '../json-input.js';
import { parseJsonUnique, RepeatedMemberError } from '../../json/unique-members.js';
import type { DecodeInput } from '../types.js';
import { FORMAT, operationPointer, pointer, refusal } from './errors.js';
import { LocalIds, type LocalIdentity } from './lids.js';
import { checkAtomicContentType } from './media-type.js';
import { checkId, checkType, collectionPath, recordPath, RESERVED_FIELDS } from './resources.js';

export type AtomicOp = 'add' | 'update' | 'remove';

/** What `encode` needs of each operation beyond its result. */
export interface AtomicOperationInfo {
  op: AtomicOp;
  type: string;
  /** The lid an add introduced, echoed in its result. */
  lid?: string;
  /** An add with a client-generated id: a PUT that must find no record (its 412 is JSON:API's 409). */
  clientId?: string;
}

/** The transaction every operation joins: a document of atomic operations is all-or-none. */
const GROUP = 'atomic';

const TOP_LEVEL = new Set(['atomic:operations', 'jsonapi', 'meta', 'links']);
const OPERATION_MEMBERS = new Set(['op', 'ref', 'href', 'data', 'meta']);
const REF_MEMBERS = new Set(['type', 'id', 'lid', 'relationship']);
const RESOURCE_MEMBERS = new Set(['type', 'id', 'lid', 'attributes', 'relationships', 'links', 'meta']);
const IDENTIFIER_MEMBERS = new Set(['type', 'id', 'lid', 'meta']);
const RELATIONSHIP_MEMBERS = new Set(['data', 'links', 'meta']);

type Json = Record<string, unknown>;

/** The resource an operation targets through `ref` or `href`, or its `data` names. */
interface Identity {
  type: string;
  id?: string;
  lid?: string;
  /** Pointer of the object it was read from. */
  at: string;
}

interface Resource extends Identity {
  attributes?: Json;
  relationships?: Json;
}

/**
 * A document of JSON:API atomic operations (`{"atomic:operations":[...]}`)
 * to the canonical batch: every operation in one transaction group, in
 * request order; `add` is `POST /v1/{type}` (or `PUT` + `If-None-Match: *`
 * with a client-generated id), `update` a merge-patch `PATCH`, `remove` a
 * `DELETE`. Lids become references to the add that introduced them: in a
 * target, to the URL it created; in relationship linkage, to the id in its
 * answer. Everything is checked here, before anything runs; each refusal
 * points at the member it is about.
 */
export function decodeAtomicBatch(input: DecodeInput, maxOperations: number): { batch: Batch; info: AtomicOperationInfo[] } {
  checkAtomicContentType(input.contentType);
  let doc: unknown;
  try {
    doc = parseJsonUnique(input.text);
  } catch (err) {
    if (err instanceof RepeatedMemberError) throw refusal(400, 'invalid_json', err.member.pointer, `${FORMAT}: the document is refused: ${err.message}.`);
    throw new ApiError(400, 'invalid_json', `${FORMAT}: the document is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw new ApiError(400, 'bad_request', `${FORMAT}: the document must be a JSON object with an atomic:operations array.`);
  const list = doc['atomic:operations'];
  checkCount(list, maxOperations);
  for (const key of Object.keys(doc)) {
    if (key === 'data' || key === 'included') {
      throw refusal(400, 'bad_request', pointer(key), `${FORMAT}: a document of atomic operations may not carry a top-level ${key} member; each operation carries its own data.`);
    }
    if (!TOP_LEVEL.has(key)) {
      throw refusal(400, 'bad_request', pointer(key), `${FORMAT}: unknown top-level member ${JSON.stringify(key.slice(0, 100))}; a request carries atomic:operations (and optionally jsonapi, meta, links).`);
    }
  }
  if (!Array.isArray(list)) throw refusal(400, 'bad_request', pointer('atomic:operations'), `${FORMAT}: the document must carry atomic:operations, an array of operation objects.`);

  const lids = new LocalIds();
  const operations: Operation[] = [];
  const info: AtomicOperationInfo[] = [];
  list.forEach((raw, index) => {
    const decoded = decodeOperation(raw, index, lids);
    operations.push(decoded.operation);
    info.push(decoded.info);
  });
  return { batch: { operations, order: 'request' }, info };
}

function decodeOperation(raw: unknown, index: number, lids: LocalIds): { operation: Operation; info: AtomicOperationInfo } {
  const at = operationPointer(index);
  if (!isObject(raw)) throw refusal(400, 'bad_request', at, `${FORMAT}: operation ${index} must be an object with op and data, ref or href.`);
  checkMembers(raw, OPERATION_MEMBERS, at, `operation ${index}`, 'op, ref, href, data and meta');
  const op = raw['op'];
  if (op !== 'add' && op !== 'update' && op !== 'remove') {
    throw refusal(400, 'bad_request', `${at}/op`, `${FORMAT}: operation ${index} has op ${describe(op)}; it must be "add", "update" or "remove".`);
  }
  if (Object.hasOwn(raw, 'ref') && Object.hasOwn(raw, 'href')) {
    throw refusal(400, 'bad_request', `${at}/href`, `${FORMAT}: operation ${index} carries both ref and href; an operation names its target with one of them.`);
  }
  const target = Object.hasOwn(raw, 'ref') ? readRef(raw['ref'], `${at}/ref`) : Object.hasOwn(raw, 'href') ? readHref(raw['href'], `${at}/href`) : undefined;

  let resource: Resource | undefined;
  if (Object.hasOwn(raw, 'data')) {
    if (!isObject(raw['data'])) {
      throw refusal(
        400,
        'bad_request',
        `${at}/data`,
        `${FORMAT}: the data of operation ${index} must be one resource object; arrays and null belong to relationship operations, which are not supported.`,
      );
    }
    resource = readResource(raw['data'], `${at}/data`, op);
  } else if (op !== 'remove') {
    throw refusal(400, 'bad_request', at, `${FORMAT}: operation ${index} (${op}) carries no data; it must carry the resource as data.`);
  }

  // The target and the data must name the same resource (JSON:API: 409 Conflict otherwise).
  if (target && resource) {
    if (target.type !== resource.type) {
      throw refusal(409, 'conflict', `${resource.at}/type`, `${FORMAT}: operation ${index} targets type ${JSON.stringify(target.type)} but its data has type ${JSON.stringify(resource.type)}.`);
    }
    for (const key of ['id', 'lid'] as const) {
      if (target[key] !== undefined && resource[key] !== undefined && target[key] !== resource[key]) {
        throw refusal(409, 'conflict', `${resource.at}/${key}`, `${FORMAT}: operation ${index} targets ${key} ${JSON.stringify(target[key])} but its data has ${key} ${JSON.stringify(resource[key])}.`);
      }
    }
  }
  const named = target ?? resource;
  if (!named) throw refusal(400, 'bad_request', at, `${FORMAT}: operation ${index} (remove) names no resource; give it a ref, an href or data.`);
  const type = named.type;
  const id = target?.id ?? resource?.id;
  const lid = target?.lid ?? resource?.lid;
  const lidAt = target?.lid !== undefined ? `${target.at}/lid` : `${resource?.at}/lid`;
  const opId = String(index);
  const references: OperationReferences = {};

  if (op === 'add') {
    const body = recordBody(resource!, lids, references);
    const operation: Operation =
      id !== undefined
        ? { index, id: opId, method: 'PUT', path: recordPath(type, id), headers: { 'If-None-Match': '*' }, body, group: GROUP }
        : { index, id: opId, method: 'POST', path: collectionPath(type), headers: {}, body, group: GROUP };
    // Introduced after its own data was read: a lid stands only for what EARLIER adds made.
    if (lid !== undefined) lids.introduce(type, lid, id !== undefined ? { kind: 'known', id } : { kind: 'created', operation: opId, index }, lidAt);
    if (references.body) operation.references = references;
    const info: AtomicOperationInfo = { op, type };
    if (lid !== undefined) info.lid = lid;
    if (id !== undefined) info.clientId = id;
    return { operation, info };
  }

  if (id === undefined && lid === undefined) {
    throw refusal(400, 'bad_request', (target ?? resource)!.at, `${FORMAT}: operation ${index} (${op}) names no resource; its ref, href or data needs an id or a lid.`);
  }
  const local: LocalIdentity | undefined = lid !== undefined ? lids.resolve(type, lid, lidAt) : undefined;
  if (id !== undefined && local && (local.kind !== 'known' || local.id !== id)) {
    throw refusal(
      409,
      'conflict',
      lidAt,
      `${FORMAT}: operation ${index} names its resource by id ${JSON.stringify(id)} in one place and by lid ${JSON.stringify(lid)} in another, and they ${local.kind === 'known' ? 'differ' : 'cannot be confirmed to agree before it runs'}; name it the same way in ref and data.`,
    );
  }
  let path: string;
  if (id !== undefined) path = recordPath(type, id);
  else if (local!.kind === 'known') path = recordPath(type, local!.id);
  else {
    path = `$${local!.operation}`;
    references.path = { id: local!.operation, rest: '' };
  }
  const body: RequestBody = op === 'update' ? recordBody(resource!, lids, references) : { kind: 'none' };
  const operation: Operation = { index, id: opId, method: op === 'update' ? 'PATCH' : 'DELETE', path, headers: {}, body, group: GROUP };
  if (references.path || references.body) operation.references = references;
  return { operation, info: { op, type } };
}

/** `ref`: `{type, id}` or `{type, lid}` (or `{type}` for an add); `relationship` is not supported. */
function readRef(ref: unknown, at: string): Identity {
  if (!isObject(ref)) throw refusal(400, 'bad_request', at, `${FORMAT}: ref (at ${at}) must be an object {type, id} or {type, lid}.`);
  if (Object.hasOwn(ref, 'relationship')) {
    throw refusal(
      400,
      'bad_request',
      `${at}/relationship`,
      `${FORMAT}: relationship operations (ref.relationship, at ${at}) are not supported; update the resource with its relationships member instead.`,
    );
  }
  checkMembers(ref, REF_MEMBERS, at, 'ref', 'type, id and lid');
  return identityOf(ref, at, false);
}

/** `href`: `/v1/{type}` or `/v1/{type}/{id}`, a path of this server. */
function readHref(href: unknown, at: string): Identity {
  if (typeof href !== 'string') throw refusal(400, 'bad_request', at, `${FORMAT}: href (at ${at}) must be a string.`);
  const shown = JSON.stringify(href.slice(0, 200));
  const wrong = (why: string) => refusal(400, 'invalid_path', at, `${FORMAT}: the href ${shown} (at ${at}) ${why}; it must be /v1/{type} or /v1/{type}/{id}.`);
  if (!href.startsWith('/') || href.startsWith('//')) throw wrong('is not a path of this server');
  if (/[?#]/.test(href)) throw wrong('carries a query or fragment');
  let segments: string[];
  try {
    segments = decodePathSegments(href);
  } catch (err) {
    if (err instanceof ApiError) throw wrong(`is not a valid path (${err.message.replace(/\.$/, '')})`);
    throw err;
  }
  if (segments[0] !== 'v1' || segments.length < 2 || segments.length > 3) throw wrong('is not a collection or record of the resource API');
  const type = checkType(segments[1], at);
  return segments.length === 3 ? { type, id: checkId(segments[2], at, 'id'), at } : { type, at };
}

/** `data`: a resource object; a remove's data may only identify its resource. */
function readResource(data: Json, at: string, op: 'add' | 'update' | 'remove'): Resource {
  if (op === 'remove') checkMembers(data, IDENTIFIER_MEMBERS, at, 'the data of a remove', 'type, id, lid and meta');
  else checkMembers(data, RESOURCE_MEMBERS, at, 'a resource object', 'type, id, lid, attributes, relationships, links and meta');
  const resource: Resource = identityOf(data, at, op === 'add');
  let attributes: Json | undefined;
  if (Object.hasOwn(data, 'attributes')) {
    const value = data['attributes'];
    if (!isObject(value)) throw refusal(400, 'bad_request', `${at}/attributes`, `${FORMAT}: attributes (at ${at}/attributes) must be an object.`);
    for (const name of Object.keys(value)) checkFieldName(name, `${at}/attributes`, 'an attribute');
    attributes = resource.attributes = value;
  }
  if (Object.hasOwn(data, 'relationships')) {
    const value = data['relationships'];
    const rat = `${at}/relationships`;
    if (!isObject(value)) throw refusal(400, 'bad_request', rat, `${FORMAT}: relationships (at ${rat}) must be an object.`);
    for (const [name, relationship] of Object.entries(value)) {
      checkFieldName(name, rat, 'a relationship');
      if (attributes && Object.hasOwn(attributes, name)) {
        throw refusal(400, 'bad_request', pointerIn(rat, name), `${FORMAT}: ${JSON.stringify(name)} is both an attribute and a relationship; fields share one namespace.`);
      }
      // In an update, a merge patch, null removes the relationship.
      if (!(relationship === null && op === 'update')) checkRelationship(relationship, pointerIn(rat, name));
    }
    resource.relationships = value;
  }
  return resource;
}

/** `type` and `id` or `lid` of a ref, a resource or a linkage; both id and lid only where an add names its client-generated id. */
function identityOf(obj: Json, at: string, idAndLid: boolean): Identity {
  const identity: Identity = { type: checkType(obj['type'], `${at}/type`), at };
  if (Object.hasOwn(obj, 'id')) identity.id = checkId(obj['id'], `${at}/id`, 'id');
  if (Object.hasOwn(obj, 'lid')) identity.lid = checkId(obj['lid'], `${at}/lid`, 'lid');
  if (!idAndLid && identity.id !== undefined && identity.lid !== undefined) {
    throw refusal(400, 'bad_request', `${at}/lid`, `${FORMAT}: ${at} names its resource by both id and lid; give one.`);
  }
  return identity;
}

/** A relationship object: at least one of data, links, meta; data is null, a resource identifier or an array of them. */
function checkRelationship(value: unknown, at: string): void {
  if (!isObject(value)) throw refusal(400, 'bad_request', at, `${FORMAT}: a relationship (at ${at}) must be an object with data, links or meta.`);
  checkMembers(value, RELATIONSHIP_MEMBERS, at, 'a relationship', 'data, links and meta');
  if (Object.keys(value).length === 0) throw refusal(400, 'bad_request', at, `${FORMAT}: a relationship (at ${at}) must carry data, links or meta.`);
  if (!Object.hasOwn(value, 'data')) return;
  const data = value['data'];
  if (data === null) return;
  const identifiers = Array.isArray(data) ? data : [data];
  identifiers.forEach((identifier, j) => {
    const iat = Array.isArray(data) ? `${at}/data/${j}` : `${at}/data`;
    if (!isObject(identifier)) throw refusal(400, 'bad_request', iat, `${FORMAT}: resource linkage (at ${iat}) must be null, {type, id}, {type, lid} or an array of them.`);
    checkMembers(identifier, IDENTIFIER_MEMBERS, iat, 'resource linkage', 'type, id, lid and meta');
    const identity = identityOf(identifier, iat, false);
    if (identity.id === undefined && identity.lid === undefined) throw refusal(400, 'bad_request', iat, `${FORMAT}: resource linkage (at ${iat}) needs an id or a lid.`);
  });
}

/**
 * The record JSON of a resource: its attributes, plus `relationships` as
 * sent when it has them, with each linkage `{type, lid}` stored as `{type,
 * id}` (the id known now, or a reference the engine fills in from the
 * answer of the add that introduced the lid).
 */
function recordBody(resource: Resource, lids: LocalIds, references: OperationReferences): RequestBody {
  // The parsed attributes are this document's own: the body is made of them, without a copy.
  const value: Json = resource.attributes ?? {};
  if (!resource.relationships) return { kind: 'json', value };
  const refs: BodyReference[] = [];
  const rat = `${resource.at}/relationships`;
  value['relationships'] = Object.fromEntries(
    Object.entries(resource.relationships).map(([name, relationship]) => {
      const rel = relationship as Json | null;
      if (rel === null || !Object.hasOwn(rel, 'data') || rel['data'] === null) return [name, rel];
      const linkage = (identifier: Json, where: (string | number)[], iat: string): Json => {
        const lid = identifier['lid'] as string | undefined;
        const type = identifier['type'] as string;
        const stored: Json = { type, id: identifier['id'] };
        if (Object.hasOwn(identifier, 'meta')) stored['meta'] = identifier['meta'];
        if (lid === undefined) return stored;
        const local = lids.resolve(type, lid, `${iat}/lid`);
        if (local.kind === 'known') stored['id'] = local.id;
        else {
          stored['id'] = null;
          refs.push({ at: ['relationships', name, ...where, 'id'], parts: [{ id: local.operation, select: ['id'] }] });
        }
        return stored;
      };
      const data = rel['data'];
      const mapped = Array.isArray(data)
        ? data.map((x, j) => linkage(x as Json, ['data', j], `${pointerIn(rat, name)}/data/${j}`))
        : linkage(data as Json, ['data'], `${pointerIn(rat, name)}/data`);
      return [name, Object.fromEntries(Object.entries(rel).map(([k, v]) => (k === 'data' ? [k, mapped] : [k, v])))];
    }),
  );
  if (refs.length > 0) references.body = refs;
  return { kind: 'json', value };
}

function checkFieldName(name: string, at: string, what: string): void {
  if (RESERVED_FIELDS.has(name)) {
    throw refusal(400, 'bad_request', pointerIn(at, name), `${FORMAT}: ${what} may not be named ${JSON.stringify(name)} (at ${at}); JSON:API reserves it.`);
  }
}

function checkMembers(obj: Json, allowed: ReadonlySet<string>, at: string, what: string, list: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.has(key)) {
      throw refusal(400, 'bad_request', pointerIn(at, key), `${FORMAT}: ${what} (at ${at || '/'}) has the unknown member ${JSON.stringify(key.slice(0, 100))}; it may carry ${list}.`);
    }
  }
}

function pointerIn(at: string, key: string): string {
  return at + pointer(key);
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 50)) : value === undefined ? 'missing' : `of type ${value === null ? 'null' : typeof value}`;
}
