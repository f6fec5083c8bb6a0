/**
 * Batches whose atomic groups write marker records: each group writes `size`
 * records `{group, k}` (k = 0..size-1) to `MARKERS`, so that afterwards a
 * group's markers in the database are all there or none. One builder per
 * dialect with an all-or-none form: a parts batch, `requests` transaction
 * groups, an OData JSON atomicityGroup, an OData multipart change set, a
 * JSON:API atomic document, a FHIR transaction Bundle, a Composite with
 * allOrNone. `committed` reads the answer: the groups it says committed.
 */
import { randomUUID } from 'node:crypto';
import { multipartBatch, readBatchResponse, statusesOf } from '../fixtures/odata-multipart/multipart.js';

/** The collection (and FHIR resource type, JSON:API type, Salesforce sObject) of every marker. */
export const MARKERS = 'CrashMarker';

export interface MarkerGroup {
  id: string;
  size: number;
}

export interface MarkerBatch {
  dialect: string;
  path: string;
  contentType: string;
  body: string;
  groups: MarkerGroup[];
  /** The ids of the groups that the answer says were committed. */
  committed(status: number, contentType: string | null, text: string): string[];
}

type Marker = { group: string; k: number };

const markers = (g: MarkerGroup): Marker[] => Array.from({ length: g.size }, (_, k) => ({ group: g.id, k }));
const group = (size: number): MarkerGroup => ({ id: randomUUID(), size });
const all = <T>(xs: T[], ok: (x: T) => boolean): boolean => xs.length > 0 && xs.every(ok);

type Builder = (sizes: number[]) => MarkerBatch;

/** Each builder takes the group sizes it should write; the single-group dialects use only the first. */
export const MARKER_BATCHES: Record<string, Builder> = {
  parts([size]) {
    const g = group(size!);
    return {
      dialect: 'parts',
      path: '/batch/parts',
      contentType: 'application/json',
      body: JSON.stringify({ parts: markers(g).map((m) => ({ id: `p${m.k}`, path: `/v1/${MARKERS}`, operation: 'create', payload: m })) }),
      groups: [g],
      committed: (status, _, text) =>
        status === 200 && all(JSON.parse(text).parts as Array<{ payload: { id?: string } }>, (p) => typeof p.payload.id === 'string') ? [g.id] : [],
    };
  },

  requests(sizes) {
    const groups = sizes.map(group);
    const ops = groups.flatMap((g, gi) =>
      markers(g).map((m) => ({ id: `${gi}.${m.k}`, method: 'POST', path: `/v1/${MARKERS}`, body: JSON.stringify(m), transaction: `t${gi}` })),
    );
    return {
      dialect: 'requests',
      path: '/v1/batch',
      contentType: 'application/json',
      body: JSON.stringify(ops),
      groups,
      committed(status, _, text) {
        if (status !== 200) return [];
        const results = JSON.parse(text) as Array<{ id: string; code: number }>;
        return groups.filter((_, gi) => all(results.filter((r) => r.id.startsWith(`${gi}.`)), (r) => r.code === 201)).map((g) => g.id);
      },
    };
  },

  'odata-json'(sizes) {
    const groups = sizes.map(group);
    const requests = groups.flatMap((g, gi) =>
      markers(g).map((m) => ({
        id: `${gi}.${m.k}`,
        method: 'POST',
        url: `/v1/${MARKERS}`,
        headers: { 'content-type': 'application/json' },
        body: m,
        atomicityGroup: `g${gi}`,
      })),
    );
    return {
      dialect: 'odata-json',
      path: '/v1/$batch',
      contentType: 'application/json',
      body: JSON.stringify({ requests }),
      groups,
      committed(status, _, text) {
        if (status !== 200) return [];
        const results = (JSON.parse(text) as { responses: Array<{ id: string; status: number }> }).responses;
        return groups.filter((_, gi) => all(results.filter((r) => r.id.startsWith(`${gi}.`)), (r) => r.status === 201)).map((g) => g.id);
      },
    };
  },

  'odata-multipart'(sizes) {
    const groups = sizes.map(group);
    const { body, contentType } = multipartBatch(
      groups.map((g) => ({ changeset: markers(g).map((m) => ({ method: 'POST', url: `/v1/${MARKERS}`, body: m, contentId: String(m.k + 1) })) })),
    );
    return {
      dialect: 'odata-multipart',
      path: '/v1/$batch',
      contentType,
      body,
      groups,
      committed(status, type, text) {
        if (status !== 200) return [];
        const statuses = statusesOf(readBatchResponse(type, text).parts);
        return groups.filter((_, gi) => Array.isArray(statuses[gi]) && all(statuses[gi] as number[], (s) => s === 201)).map((g) => g.id);
      },
    };
  },

  'jsonapi-atomic'([size]) {
    const g = group(size!);
    return {
      dialect: 'jsonapi-atomic',
      path: '/operations',
      contentType: 'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic"',
      body: JSON.stringify({ 'atomic:operations': markers(g).map((m) => ({ op: 'add', data: { type: MARKERS, attributes: m } })) }),
      groups: [g],
      committed: (status, _, text) =>
        status === 200 && all((JSON.parse(text) as { 'atomic:results': Array<{ data?: { id?: string } }> })['atomic:results'], (r) => typeof r.data?.id === 'string')
          ? [g.id]
          : [],
    };
  },

  fhir([size]) {
    const g = group(size!);
    return {
      dialect: 'fhir',
      path: '/fhir',
      contentType: 'application/fhir+json',
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: markers(g).map((m) => ({ resource: { resourceType: MARKERS, ...m }, request: { method: 'POST', url: MARKERS } })),
      }),
      groups: [g],
      committed(status, _, text) {
        if (status !== 200) return [];
        const bundle = JSON.parse(text) as { type: string; entry: Array<{ response: { status: string } }> };
        return bundle.type === 'transaction-response' && all(bundle.entry, (e) => e.response.status.startsWith('201')) ? [g.id] : [];
      },
    };
  },

  composite([size]) {
    const g = group(size!);
    return {
      dialect: 'composite',
      path: '/services/data/v59.0/composite',
      contentType: 'application/json',
      body: JSON.stringify({
        allOrNone: true,
        compositeRequest: markers(g).map((m) => ({ method: 'POST', url: `/services/data/v59.0/sobjects/${MARKERS}`, referenceId: `m${m.k}`, body: m })),
      }),
      groups: [g],
      committed: (status, _, text) =>
        status === 200 && all((JSON.parse(text) as { compositeResponse: Array<{ httpStatusCode: number }> }).compositeResponse, (r) => r.httpStatusCode === 201)
          ? [g.id]
          : [],
    };
  },
};

export const MARKER_DIALECTS = Object.keys(MARKER_BATCHES);
