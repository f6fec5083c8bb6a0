import type { Principal } from '../auth/principal.js';
import { ApiError } from '../errors.js';
import { encodePath } from '../paths.js';
import { parseFilter, parseOrderBy } from '../store/query/filter.js';
import type { RecordKey, Store, StoredRecord } from '../store/types.js';
import type { CollectionRegistry } from './collections.js';
import { formatEtag, newEtag, randomChunk } from './etag.js';
import { mergePatch } from './merge-patch.js';
import { fetchedRecord } from './read-ahead.js';
import { checkRead, checkRequired, checkWrite, preconditionFailed, requestConditions, type Conditions } from './preconditions.js';
import { readJsonObject } from './request-body.js';
import { emptyResponse, jsonResponse } from './responses.js';
import type { ApiRequest, ApiResponse } from './types.js';

export interface RecordsOptions {
  requireIfMatch: boolean;
  /** Object limit for a tenant; 0 means unlimited. */
  maxObjectsFor(tenant: string): number;
}

export const DEFAULT_TOP = 50;
export const MAX_TOP = 1000;
/** Compare-and-set attempts before a write gives up under contention (409). */
const MAX_CAS_ATTEMPTS = 8;

/** Handlers of `/v1/{collection}[/{id}]`, framework-free: called by the HTTP adapter and the batch dispatcher alike. */
export class RecordsApi {
  constructor(
    private readonly store: Store,
    private readonly collections: CollectionRegistry,
    private readonly options: RecordsOptions,
  ) {}

  async list(req: ApiRequest, collection: string): Promise<ApiResponse> {
    const top = integerParam(req.query.get('$top'), '$top', DEFAULT_TOP, MAX_TOP);
    const skip = integerParam(req.query.get('$skip'), '$skip', 0, Number.MAX_SAFE_INTEGER);
    const filterText = req.query.get('$filter');
    const orderText = req.query.get('$orderby');
    const filter = filterText !== null ? parseFilter(filterText) : undefined;
    const orderBy = orderText !== null ? parseOrderBy(orderText) : undefined;
    const rows = await this.store.listRecords(req.principal.tenant, collection, {
      filter,
      orderBy,
      top: top + 1,
      skip,
    });
    const items = rows.slice(0, top).map(listItem);
    const next = rows.length > top ? nextLink(collection, req.query, top, skip + top) : null;
    return jsonResponse(200, { items, next });
  }

  async create(req: ApiRequest, collection: string): Promise<ApiResponse> {
    const body = this.recordBody(req, collection);
    // The new record has no current representation: If-Match can never hold.
    if (req.headers.has('if-match')) throw preconditionFailed('If-Match cannot match a record that does not exist yet.');
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const record = newRecord({ tenant: req.principal.tenant, collection, id: generateId() }, body, req.principal);
      const outcome = await this.store.insertRecord(record, this.options.maxObjectsFor(record.tenant), { freshId: true });
      if (outcome === 'inserted') return created(record);
      if (outcome === 'limit') throw objectLimit(record.tenant);
    }
    throw contention();
  }

  async read(req: ApiRequest, key: RecordKey): Promise<ApiResponse> {
    const current = await this.current(key, 0);
    if (!current) throw missing(key);
    if (checkRead(requestConditions(req), current) === 'not-modified') return emptyResponse(304, validators(current));
    return jsonResponse(200, representation(current), validators(current));
  }

  async replace(req: ApiRequest, key: RecordKey): Promise<ApiResponse> {
    const conditions = this.writeConditions(req, true);
    const body = this.recordBody(req, key.collection);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const current = await this.current(key, attempt);
      if (current) {
        checkWrite(conditions, current);
        const next = revise(current, body, req.principal);
        if (await this.store.replaceRecord(next, current.etag)) return ok(next);
      } else {
        if (conditions.ifMatch) throw preconditionFailed('If-Match cannot match: the record does not exist.');
        const record = newRecord(key, body, req.principal);
        const outcome = await this.store.insertRecord(record, this.options.maxObjectsFor(key.tenant));
        if (outcome === 'inserted') return created(record);
        if (outcome === 'limit') throw objectLimit(key.tenant);
      }
    }
    throw contention();
  }

  async patch(req: ApiRequest, key: RecordKey): Promise<ApiResponse> {
    const conditions = this.writeConditions(req, false);
    const patch = readJsonObject(req.body, 'PATCH');
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const current = await this.existing(key, conditions, attempt);
      checkWrite(conditions, current);
      const merged = withoutId(mergePatch(current.data, patch) as Record<string, unknown>);
      this.collections.validate(key.collection, merged);
      const next = revise(current, merged, req.principal);
      if (await this.store.replaceRecord(next, current.etag)) return ok(next);
    }
    throw contention();
  }

  async remove(req: ApiRequest, key: RecordKey): Promise<ApiResponse> {
    const conditions = this.writeConditions(req, false);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const current = await this.existing(key, conditions, attempt);
      checkWrite(conditions, current);
      if (await this.store.deleteRecord(key, current.etag)) return emptyResponse(204);
    }
    throw contention();
  }

  private writeConditions(req: ApiRequest, isPut: boolean): Conditions {
    const conditions = requestConditions(req);
    checkRequired(conditions, this.options.requireIfMatch, isPut);
    return conditions;
  }

  /**
   * The record as stored, or, on a first attempt, as read ahead for the
   * batch running this request (api/read-ahead.ts). A write that read ahead
   * is still compare-and-set: when the record changed since, the write loses
   * and its next attempt reads the store.
   */
  private async current(key: RecordKey, attempt: number): Promise<StoredRecord | undefined> {
    const ahead = attempt === 0 ? fetchedRecord(key) : undefined;
    return ahead === undefined ? this.store.getRecord(key) : (ahead ?? undefined);
  }

  /** The record a PATCH or DELETE acts on: 404 when absent, or 412 when the write was conditional on it. */
  private async existing(key: RecordKey, conditions: Conditions, attempt: number): Promise<StoredRecord> {
    const current = await this.current(key, attempt);
    if (current) return current;
    throw conditions.ifMatch ? preconditionFailed('If-Match cannot match: the record does not exist.') : missing(key);
  }

  private recordBody(req: ApiRequest, collection: string): Record<string, unknown> {
    const body = withoutId(readJsonObject(req.body, req.method));
    this.collections.validate(collection, body);
    return body;
  }
}

function integerParam(value: string | null, name: string, fallback: number, max: number): number {
  if (value === null) return fallback;
  if (!/^\d{1,16}$/.test(value.trim())) throw new ApiError(400, 'bad_request', `${name} must be a non-negative integer.`);
  const n = Number(value.trim());
  if (n > max) throw new ApiError(400, 'bad_request', `${name} must be at most ${max}.`);
  return n;
}

function nextLink(collection: string, query: URLSearchParams, top: number, skip: number): string {
  const parts: string[] = [];
  for (const name of ['$filter', '$orderby']) {
    const v = query.get(name);
    if (v !== null) parts.push(`${name}=${encodeURIComponent(v)}`);
  }
  parts.push(`$top=${top}`, `$skip=${skip}`);
  return `${encodePath(['v1', ...collection.split('/')])}?${parts.join('&')}`;
}

function withoutId(body: Record<string, unknown>): Record<string, unknown> {
  if (!Object.hasOwn(body, 'id')) return body;
  const { id: _ignored, ...rest } = body;
  return rest;
}

function generateId(): string {
  return randomChunk(10).toString('base64url').replace(/[-_]/g, 'x');
}

function newRecord(key: RecordKey, data: Record<string, unknown>, who: Principal): StoredRecord {
  const now = new Date().toISOString();
  return { ...key, data, etag: newEtag(), created: now, updated: now, createdBy: who.subject, updatedBy: who.subject };
}

export function revise(current: StoredRecord, data: Record<string, unknown>, who: Principal): StoredRecord {
  return { ...current, data, etag: newEtag(), updated: new Date().toISOString(), updatedBy: who.subject };
}

export function representation(r: StoredRecord): Record<string, unknown> {
  return { id: r.id, ...r.data };
}

function listItem(r: StoredRecord): Record<string, unknown> {
  return { id: r.id, ...r.data, _etag: formatEtag(r.etag), _updated: r.updated };
}

export function recordLocation(key: RecordKey): string {
  return encodePath(['v1', ...key.collection.split('/'), key.id]);
}

export function validators(r: StoredRecord): Record<string, string> {
  return { etag: formatEtag(r.etag), 'last-modified': new Date(r.updated).toUTCString() };
}

function ok(r: StoredRecord): ApiResponse {
  return jsonResponse(200, representation(r), validators(r));
}

function created(r: StoredRecord): ApiResponse {
  return jsonResponse(201, representation(r), { ...validators(r), location: recordLocation(r) });
}

function missing(key: RecordKey): ApiError {
  return new ApiError(404, 'not_found', `No record ${key.id} in ${key.collection}.`);
}

function objectLimit(tenant: string): ApiError {
  return new ApiError(403, 'object_limit_exceeded', `Tenant ${tenant} has reached its object limit.`);
}

function contention(): ApiError {
  return new ApiError(409, 'conflict', 'The record kept changing while this write was applied; retry.');
}
