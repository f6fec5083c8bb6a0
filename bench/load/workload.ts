/**
 * The mixed batches of the load run: reads, writes on ids that every client
 * shares, transaction groups, parts batches and OData atomicity groups. Every
 * batch is valid and every operation in it can succeed whatever the other
 * clients do (no deletes, no preconditions), so any inner 5xx or 4xx is a
 * server fault, not contention.
 */

export const COLLECTION = 'loadrecs';
/** Ids every client reads and writes: small enough that clients collide on them constantly. */
export const HOT_IDS = 200;

export interface LoadBatch {
  name: string;
  path: string;
  contentType: string;
  body: string;
  /** The inner statuses of an answer (one per operation), or a reason the answer is malformed. */
  statuses(status: number, body: string): number[] | string;
}

const hot = (): string => `h${Math.floor(Math.random() * HOT_IDS)}`;
const payload = (): Record<string, unknown> => ({ n: Math.floor(Math.random() * 1e6), tag: 'load', at: Date.now() });
const times = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));

function parse(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** Reads `{"responses":[{status},…]}` (ops and OData JSON answers) with one answer per operation. */
function responsesStatuses(count: number): LoadBatch['statuses'] {
  return (status, body) => {
    const r = parse(body) as { responses?: Array<{ status: number }> } | undefined;
    if (status !== 200 || !Array.isArray(r?.responses)) return `HTTP ${status}`;
    return r.responses.length === count ? r.responses.map((x) => x.status) : `${r.responses.length} answers`;
  };
}

function opsBatch(name: string, requests: unknown[]): LoadBatch {
  return {
    name,
    path: '/batch',
    contentType: 'application/json',
    body: JSON.stringify({ requests }),
    statuses: responsesStatuses(requests.length),
  };
}

/** 20 GETs of shared ids. */
function reads(): LoadBatch {
  return opsBatch('ops reads', times(20, () => ({ method: 'GET', path: `/v1/${COLLECTION}/${hot()}` })));
}

/** 10 replacements and 5 merges of shared ids, 5 creates. */
function writes(): LoadBatch {
  return opsBatch('ops writes', [
    ...times(10, () => ({ method: 'PUT', path: `/v1/${COLLECTION}/${hot()}`, body: payload() })),
    ...times(5, () => ({ method: 'PATCH', path: `/v1/${COLLECTION}/${hot()}`, body: { patched: Date.now() } })),
    ...times(5, () => ({ method: 'POST', path: `/v1/${COLLECTION}`, body: payload() })),
  ]);
}

/** Two transaction groups of 5 replacements of shared ids, and 5 GETs outside them. */
function groups(): LoadBatch {
  const ops = [
    ...times(5, (i) => ({ id: `a${i}`, method: 'PUT', path: `/v1/${COLLECTION}/${hot()}`, body: JSON.stringify(payload()), transaction: 'a' })),
    ...times(5, (i) => ({ id: `b${i}`, method: 'PUT', path: `/v1/${COLLECTION}/${hot()}`, body: JSON.stringify(payload()), transaction: 'b' })),
    ...times(5, (i) => ({ id: `r${i}`, method: 'GET', path: `/v1/${COLLECTION}/${hot()}` })),
  ];
  return {
    name: 'requests groups',
    path: '/v1/batch',
    contentType: 'application/json',
    body: JSON.stringify(ops),
    statuses: (status, body) => {
      const r = parse(body) as Array<{ id: string; code: number }> | undefined;
      if (status !== 200 || !Array.isArray(r)) return `HTTP ${status}`;
      return r.length === ops.length ? r.map((x) => x.code) : `${r.length} answers`;
    },
  };
}

/** One all-or-nothing parts batch: 5 replacements of shared ids, a create, 2 reads. */
function parts(): LoadBatch {
  const list = [
    ...times(5, (i) => ({ id: `p${i}`, path: `/v1/${COLLECTION}/${hot()}`, operation: 'replace', payload: payload() })),
    { id: 'c', path: `/v1/${COLLECTION}`, operation: 'create', payload: payload() },
    ...times(2, (i) => ({ id: `g${i}`, path: `/v1/${COLLECTION}/${hot()}`, operation: 'get' })),
  ];
  return {
    name: 'parts',
    path: '/batch/parts',
    contentType: 'application/json',
    body: JSON.stringify({ parts: list }),
    statuses: (status, body) => {
      const r = parse(body) as { parts?: unknown[] } | undefined;
      if (status !== 200 || !Array.isArray(r?.parts)) return `HTTP ${status}`;
      // A parts batch answers 200 only when every part succeeded.
      return r.parts.length === list.length ? list.map(() => 200) : `${r.parts.length} answers`;
    },
  };
}

/** An OData atomicity group of 4 replacements, a create and a PATCH of it through a reference, 3 reads. */
function odata(): LoadBatch {
  const requests = [
    ...times(4, (i) => ({ id: `w${i}`, method: 'PUT', url: `${COLLECTION}/${hot()}`, body: payload(), atomicityGroup: 'g' })),
    { id: 'c', method: 'POST', url: COLLECTION, body: payload() },
    { id: 'u', method: 'PATCH', url: '$c', headers: { 'If-Match': '$c' }, body: { patched: true }, dependsOn: ['c'] },
    ...times(3, (i) => ({ id: `r${i}`, method: 'GET', url: `${COLLECTION}/${hot()}` })),
  ];
  return {
    name: 'odata groups',
    path: '/v1/$batch',
    contentType: 'application/json',
    body: JSON.stringify({ requests }),
    statuses: responsesStatuses(requests.length),
  };
}

const KINDS = [reads, reads, writes, groups, parts, odata];

/** A random batch of the mix (reads twice as likely as each kind of write). */
export function randomBatch(): LoadBatch {
  return KINDS[Math.floor(Math.random() * KINDS.length)]!();
}

/** The batch that seeds the shared ids before the run. */
export function seedBatches(): LoadBatch[] {
  const ids = times(HOT_IDS, (i) => `h${i}`);
  const out: LoadBatch[] = [];
  for (let i = 0; i < ids.length; i += 100) {
    out.push(opsBatch('seed', ids.slice(i, i + 100).map((id) => ({ method: 'PUT', path: `/v1/${COLLECTION}/${id}`, body: payload() }))));
  }
  return out;
}
