import type { Batch, BatchOutcome, OperationResult } from '../../engine/types.js';
import type { ApiError } from '../../errors.js';
import type { EncodedResponse } from '../types.js';
import { refusedEntry, type FhirBundleInfo, type FhirEntryInfo } from './decode.js';
import { operationOutcome, problemOf, statusLine } from './outcome.js';
import { FHIR_BASE, fhirLocation } from './urls.js';

/** What every answer of this endpoint is. */
export const FHIR_JSON = 'application/fhir+json';

interface ResponseEntry {
  fullUrl?: string;
  resource?: unknown;
  response: { status: string; location?: string; etag?: string; lastModified?: string; outcome?: unknown };
}

/**
 * The answer to a Bundle that ran. A transaction that committed: 200 with a
 * `transaction-response` Bundle, one entry per request entry, in request
 * order. A transaction that failed: nothing of it is visible, and the answer
 * is the failing entry's status with one OperationOutcome pointing at it. A
 * batch: 200 with a `batch-response` Bundle, each entry its own outcome.
 */
export function encodeBundleResponse(batch: Batch, outcome: BatchOutcome, info: FhirBundleInfo, baseUrl: string): EncodedResponse {
  const results = new Map(outcome.results.map((r) => [r.index, r]));
  if (info.type === 'transaction') {
    const failed = failingResult(batch, results);
    if (failed) return transactionFailure(failed, info.operations[failed.index]!);
  }
  const entries: ResponseEntry[] = new Array(info.operations.length);
  info.operations.forEach((e, index) => {
    const r = results.get(index);
    entries[e.entry] = r ? responseEntry(r, e, baseUrl) : { response: { status: statusLine(504) } };
  });
  const bundle = { resourceType: 'Bundle', type: `${info.type}-response`, entry: entries };
  return { status: 200, headers: { 'content-type': FHIR_JSON }, body: JSON.stringify(bundle) };
}

/**
 * The entry that made a transaction fail: the first (in the order they ran)
 * that failed on its own account; its companions report the rollback.
 */
function failingResult(batch: Batch, results: ReadonlyMap<number, OperationResult>): OperationResult | undefined {
  let first: OperationResult | undefined;
  for (const op of batch.operations) {
    const r = results.get(op.index);
    if (!r || r.status < 400) continue;
    if (problemOf(r).code !== 'transaction_rolled_back') return r;
    first ??= r;
  }
  return first;
}

function transactionFailure(r: OperationResult, e: FhirEntryInfo): EncodedResponse {
  const { code, detail } = problemOf(r);
  const diagnostics = `The FHIR Bundle transaction was rolled back, nothing of it was kept: Bundle.entry[${e.entry}] (${e.method} ${e.type}) failed with ${statusLine(r.status)}: ${detail}`;
  const headers: Record<string, string> = { 'content-type': FHIR_JSON };
  const retryAfter = r.headers['retry-after'];
  if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
  return { status: r.status, headers, body: JSON.stringify(operationOutcome(code, r.status, diagnostics, e.entry)) };
}

function responseEntry(r: OperationResult, e: FhirEntryInfo, baseUrl: string): ResponseEntry {
  if (r.status >= 400) {
    const { code, detail } = problemOf(r);
    const diagnostics = `FHIR Bundle batch: Bundle.entry[${e.entry}] (${e.method} ${e.type}) failed with ${statusLine(r.status)}: ${detail}`;
    return { response: { status: statusLine(r.status), outcome: operationOutcome(code, r.status, diagnostics, e.entry) } };
  }
  const response: ResponseEntry['response'] = { status: statusLine(r.status) };
  // A create answers its Location; an update is at its own Type/id.
  const location = r.headers['location'] !== undefined ? fhirLocation(r.headers['location']) : e.self;
  if (location !== undefined) response.location = location;
  const etag = r.headers['etag'];
  if (etag !== undefined) response.etag = etag;
  const lastModified = isoDate(r.headers['last-modified']);
  if (lastModified !== undefined) response.lastModified = lastModified;
  const hasResource = !(r.status === 204 || r.status === 304 || e.method === 'HEAD' || r.body === undefined || r.body === null);
  const resource = hasResource ? (e.search ? searchset(r.body, e.type, baseUrl) : r.body) : undefined;
  // Built in its final shape at once: fullUrl, resource, response.
  if (location !== undefined) return hasResource ? { fullUrl: `${baseUrl}${FHIR_BASE}/${location}`, resource, response } : { fullUrl: `${baseUrl}${FHIR_BASE}/${location}`, response };
  return hasResource ? { resource, response } : { response };
}

/** HTTP dates seen, as instants: a batch's answers share a few seconds, and `Date.parse` is costly. */
const instants = new Map<string, string>();

/** An HTTP date as FHIR's `instant` (`2026-12-01T10:00:00.000Z`). */
function isoDate(httpDate: string | undefined): string | undefined {
  if (httpDate === undefined) return undefined;
  let instant = instants.get(httpDate);
  if (instant === undefined) {
    const t = Date.parse(httpDate);
    if (Number.isNaN(t)) return undefined;
    instant = new Date(t).toISOString();
    if (instants.size >= 256) instants.clear();
    instants.set(httpDate, instant);
  }
  return instant;
}

/**
 * A list GET's `{"items":[...],"next"}` as a `searchset` Bundle: each item
 * an entry (its `_etag` and `_updated`, which are no FHIR elements, left
 * out), `next` as a `next` link under the FHIR base.
 */
function searchset(body: unknown, type: string, baseUrl: string): unknown {
  const list = body as { items?: unknown; next?: unknown };
  if (!Array.isArray(list.items)) return body;
  const entry = list.items.map((item) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) return { resource: item };
    const { _etag: _e, _updated: _u, ...resource } = item as Record<string, unknown>;
    const id = resource['id'];
    return {
      ...(typeof id === 'string' ? { fullUrl: `${baseUrl}${FHIR_BASE}/${type}/${encodeURIComponent(id)}` } : {}),
      resource,
      search: { mode: 'match' },
    };
  });
  const bundle: Record<string, unknown> = { resourceType: 'Bundle', type: 'searchset', entry };
  if (typeof list.next === 'string') bundle['link'] = [{ relation: 'next', url: `${baseUrl}${FHIR_BASE}/${fhirLocation(list.next)}` }];
  return bundle;
}

/**
 * A refused Bundle (nothing ran): its status and one OperationOutcome, the
 * error's own headers kept (`Retry-After`), `WWW-Authenticate: Bearer` with
 * a 401; `expression` points at the entry when the refusal is about one.
 */
export function encodeBundleError(error: ApiError): EncodedResponse {
  const headers: Record<string, string> = { ...error.headers, 'content-type': FHIR_JSON };
  if (error.status === 401) headers['www-authenticate'] = 'Bearer';
  const detail = error.message.includes('FHIR Bundle') ? error.message : `FHIR Bundle refused: ${error.message}`;
  return { status: error.status, headers, body: JSON.stringify(operationOutcome(error.code, error.status, detail, refusedEntry(error))) };
}
