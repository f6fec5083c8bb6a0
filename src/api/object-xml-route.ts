import { z } from 'zod';
import { xmlDocument } from '../dialects/xml/writer.js';
import { objectElement, storedAttributes, type ObjectView } from '../dialects/xml/object-xml.js';
import { ApiError } from '../errors.js';
import type { RecordKey, Store, StoredRecord } from '../store/types.js';
import type { CollectionRegistry } from './collections.js';
import { OBJECTS_COLLECTION, type ObjectAttribute } from './objects-model.js';
import { checkRead, checkRequired, checkWrite, preconditionFailed, requestConditions } from './preconditions.js';
import { revise, validators } from './records.js';
import { readJsonObject } from './request-body.js';
import { emptyResponse, jsonResponse } from './responses.js';
import type { ExtraRoute } from './router.js';
import type { ApiRequest, ApiResponse } from './types.js';

export interface ObjectRouteOptions {
  store: Store;
  collections: CollectionRegistry;
  requireIfMatch: boolean;
}

const MAX_REF_LENGTH = 256;
const MAX_CAS_ATTEMPTS = 8;
const XML_CONTENT_TYPE = 'application/xml; charset=utf-8';

const patchSchema = z
  .object({
    includedAttrs: z.array(z.string().max(256)).max(10_000),
    attributes: z.array(z.unknown()),
  })
  .strict();

/**
 * Seed 003's single-object routes, on records of the `objects` collection:
 *
 * - `GET /api/object/{ref}`: the object in its XML form
 *   (`<object ref created updated><attributes>…</attributes></object>`), or,
 *   when the client prefers `application/json`, `{ref, created, updated,
 *   attributes}` (the XML batch's `read` asks for this). ETag and
 *   Last-Modified as on `/v1`; `If-None-Match` answers 304.
 * - `PATCH /api/object/{ref}` with `{"includedAttrs":[d...], "attributes":[...]}`:
 *   removes every attribute whose `d` is listed, appends the given ones, and
 *   writes the result compare-and-set (the XML batch's `update` with
 *   `included_attrs`). If-Match / If-None-Match / requireIfMatch as on `/v1`.
 *
 * Errors are problem+json like every other route. Tenancy is the record
 * store's: another tenant's ref is simply not found.
 */
export function objectXmlRoute(options: ObjectRouteOptions): ExtraRoute {
  return {
    match(segments, method) {
      if (segments.length !== 3 || segments[0] !== 'api' || segments[1] !== 'object') return undefined;
      if (method === 'GET') return (req, s) => readObject(options, req, keyOf(req, s));
      if (method === 'PATCH') return (req, s) => patchObject(options, req, keyOf(req, s));
      return async () => {
        throw new ApiError(405, 'method_not_allowed', `${method} is not allowed here.`, { allow: 'GET, HEAD, PATCH' });
      };
    },
  };
}

function keyOf(req: ApiRequest, segments: string[]): RecordKey {
  const ref = segments[2]!;
  if (ref.length > MAX_REF_LENGTH) throw new ApiError(400, 'invalid_path', `Object refs are at most ${MAX_REF_LENGTH} characters.`);
  return { tenant: req.principal.tenant, collection: OBJECTS_COLLECTION, id: ref };
}

async function readObject(options: ObjectRouteOptions, req: ApiRequest, key: RecordKey): Promise<ApiResponse> {
  const current = await options.store.getRecord(key);
  if (!current) throw missing(key);
  if (checkRead(requestConditions(req), current) === 'not-modified') return emptyResponse(304, validators(current));
  const view = viewOf(current);
  if (prefersJson(req.headers.get('accept'))) return jsonResponse(200, view, validators(current));
  return { status: 200, headers: { 'content-type': XML_CONTENT_TYPE, ...validators(current) }, text: xmlDocument(objectElement(view)) };
}

async function patchObject(options: ObjectRouteOptions, req: ApiRequest, key: RecordKey): Promise<ApiResponse> {
  const conditions = requestConditions(req);
  checkRequired(conditions, options.requireIfMatch, false);
  const parsed = patchSchema.safeParse(readJsonObject(req.body, 'PATCH'));
  if (!parsed.success) {
    throw new ApiError(400, 'bad_request', 'The body must be {"includedAttrs": [descriptor, ...], "attributes": [attribute, ...]}.');
  }
  const included = new Set(parsed.data.includedAttrs);
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const current = await options.store.getRecord(key);
    if (!current) throw conditions.ifMatch ? preconditionFailed('If-Match cannot match: the object does not exist.') : missing(key);
    checkWrite(conditions, current);
    const kept = storedAttributes(current.data).filter((a) => !included.has(a.d));
    const data = { ...current.data, attributes: [...kept, ...(parsed.data.attributes as ObjectAttribute[])] };
    options.collections.validate(OBJECTS_COLLECTION, data);
    const next = revise(current, data, req.principal);
    if (await options.store.replaceRecord(next, current.etag)) return jsonResponse(200, { id: next.id, ...next.data }, validators(next));
  }
  throw new ApiError(409, 'conflict', 'The object kept changing while this update was applied; retry.');
}

function viewOf(r: StoredRecord): ObjectView {
  return { ref: r.id, created: r.created, updated: r.updated, attributes: storedAttributes(r.data) };
}

/** JSON when `application/json` is acceptable and no XML type is preferred to it; XML otherwise (the default). */
function prefersJson(accept: string | undefined): boolean {
  if (!accept) return false;
  let json = 0;
  let xml = 0;
  for (const item of accept.split(',')) {
    const [type = '', ...params] = item.split(';');
    const media = type.trim().toLowerCase();
    const qParam = params.map((p) => p.trim().toLowerCase()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) || 0 : 1;
    if (media === 'application/json') json = Math.max(json, q);
    else if (media === 'application/xml' || media === 'text/xml') xml = Math.max(xml, q);
  }
  return json > 0 && json > xml;
}

function missing(key: RecordKey): ApiError {
  return new ApiError(404, 'not_found', `No object ${key.id}`);
}
