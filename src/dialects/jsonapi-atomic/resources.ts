import { encodePath } from '../../paths.js';
import { FORMAT, refusal } from './errors.js';

/**
 * How a JSON:API resource maps onto the resource API: `{type, id}` is the
 * record `/v1/{type}/{id}`, whose JSON is the resource's `attributes` plus,
 * when the client sent them, a member `relationships` holding its
 * relationships as sent (JSON:API forbids an attribute of that name, so the
 * mapping loses nothing). Read back, `attributes` is the record without `id`
 * and `relationships`.
 */

/** A JSON:API type names a collection: ASCII letters, digits, `-` and `_`. */
const TYPE = /^[A-Za-z0-9_-]+$/;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Longest id the resource API takes (one percent-decoded segment). */
const MAX_ID = 256;

/** Members a resource object may not use as field names (JSON:API 1.1, "Fields"). */
export const RESERVED_FIELDS = new Set(['id', 'type', 'relationships', 'links', 'lid']);

/** `/v1/{type}` for a type that passed `checkType` (its characters need no encoding). */
export function collectionPath(type: string): string {
  return `/v1/${type}`;
}

/** `/v1/{type}/{id}`, the id percent-encoded as one segment. */
export function recordPath(type: string, id: string): string {
  return `/v1/${type}${encodePath([id])}`;
}

/** A JSON:API `type`, or 400: `invalid_path` for one that could not name a collection. */
export function checkType(value: unknown, at: string): string {
  if (typeof value !== 'string') throw refusal(400, 'bad_request', at, `${FORMAT}: a type must be a string (at ${at}).`);
  if (!TYPE.test(value)) {
    throw refusal(400, 'invalid_path', at, `${FORMAT}: the type ${JSON.stringify(value.slice(0, 100))} (at ${at}) may hold only ASCII letters, digits, - and _.`);
  }
  return value;
}

/**
 * An `id` (or a `lid`, which stands for one): a string that is one path
 * segment of the resource API, so it can never reach another record, route
 * or tenant: not empty, not `.` or `..`, no `/`, `\` or control character,
 * at most 256 characters. Else 400 `invalid_path`.
 */
export function checkId(value: unknown, at: string, what: 'id' | 'lid'): string {
  if (typeof value !== 'string') throw refusal(400, 'bad_request', at, `${FORMAT}: ${what === 'id' ? 'an id' : 'a lid'} must be a string (at ${at}).`);
  let why: string | undefined;
  if (value === '') why = 'is empty';
  else if (value === '.' || value === '..') why = 'is a dot segment';
  else if (value.includes('/') || value.includes('\\')) why = 'contains a slash or backslash';
  else if (CONTROL.test(value) || LONE_SURROGATE.test(value)) why = 'contains a control character or a lone surrogate';
  else if (value.length > MAX_ID) why = `is longer than ${MAX_ID} characters`;
  if (why === undefined) return value;
  throw refusal(400, 'invalid_path', at, `${FORMAT}: the ${what} ${JSON.stringify(value.slice(0, 100))} (at ${at}) ${why}; it must be one path segment.`);
}

/** A resource object as an answer gives it: the record read back. */
export interface ResourceObject {
  type: string;
  id: string;
  lid?: string;
  attributes: Record<string, unknown>;
  relationships?: unknown;
  links: { self: string };
}

/** The record a route answered with, as the resource object of `type` (lid echoed when given). */
export function resourceOf(type: string, record: unknown, location: string | undefined, lid: string | undefined): ResourceObject | undefined {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return undefined;
  const { id, relationships, ...attributes } = record as Record<string, unknown>;
  if (typeof id !== 'string') return undefined;
  // Members in the order JSON:API writes them: type, id, lid, attributes, relationships, links.
  const resource = { type, id } as ResourceObject;
  if (lid !== undefined) resource.lid = lid;
  resource.attributes = attributes;
  if (relationships !== undefined) resource.relationships = relationships;
  resource.links = { self: location ?? recordPath(type, id) };
  return resource;
}
