/**
 * One encoder per batch dialect for the property tests: it turns an abstract
 * batch (test/support/batch-model.ts) into the dialect's wire form, says
 * what each operation is as a single HTTP request (the oracle runs those),
 * which units run atomically and in what order, and reads the dialect's
 * answer back into one outcome per operation, in request order, checking
 * the correlation (ids, indexes, pointers) on the way.
 */
import { expect } from 'vitest';
import { multipartBatch, readBatchResponse, type PartRequest, type Part } from '../fixtures/odata-multipart/multipart.js';
import {
  OMITTED,
  ROLLED_BACK,
  type ABatch,
  type AOp,
  type BatchShape,
  type Coll,
  type Cond,
  type GOp,
  type OracleUnit,
  type Outcome,
  type Run,
  type Single,
} from './batch-model.js';

export interface Encoded {
  path: string;
  contentType: string;
  headers?: Record<string, string>;
  body: string;
  /** Whether the server must refuse this batch before running anything. */
  refuses: boolean;
}

export interface Answer {
  status: number;
  /** One outcome per operation; undefined for a refusal (the dialect's error form with no operation named). */
  outcomes?: Outcome[];
}

export interface DialectModel {
  name: string;
  shape: BatchShape;
  /** Whether the whole batch is one transaction (parts, JSON:API, a FHIR transaction, Composite allOrNone). */
  whole: boolean;
  /** The XML dialect keeps objects in one shared collection. */
  objects?: boolean;
  maxOps: number;
  /** Turns operations the dialect cannot express into ones it can (JSON:API has no read and no precondition). */
  adapt?(op: AOp): AOp;
  /** A record's body in the starting state. */
  bodyOf(c: Coll, v: number, run: Run): Record<string, unknown>;
  encode(b: ABatch, run: Run, etags: Map<string, string>): Encoded;
  single(op: AOp, run: Run, etags: Map<string, string>): Single;
  /** The units in the order they run (members in run order). */
  units(b: ABatch): OracleUnit[];
  /** What the other members of a failed atomic unit report. */
  restOutcome: Outcome;
  decode(b: ABatch, status: number, contentType: string | null, text: string): Answer;
}

// ---------------------------------------------------------------------------
// Shared mapping of abstract operations onto paths, headers and bodies.

const STALE = '"stale-etag"';
const BAD_PATHS = ['/v1/{c}/../x', '//evil.example/v1/{c}/1', '/v1/{c}//1', '/v1/%2e%2e/{c}'];

function ifMatch(cond: Cond, coll: string, id: string, etags: Map<string, string>): string | undefined {
  if (cond === undefined) return undefined;
  if (cond === 'stale') return STALE;
  if (cond === '*') return '*';
  return etags.get(`${coll}/${id}`) ?? '"absent"';
}

function bodyValue(body: { v: number } | { non: unknown }): unknown {
  return 'v' in body ? { v: body.v } : body.non;
}

/** The operation as a plain HTTP request against the resource API. */
function plain(op: AOp, run: Run, etags: Map<string, string>): Single {
  const coll = run.collOf(op.c);
  switch (op.m) {
    case 'GET':
      return { method: 'GET', path: `/v1/${coll}/${run.idOf(op.id)}` };
    case 'POST':
      return { method: 'POST', path: `/v1/${coll}`, headers: { 'content-type': 'application/json' }, body: bodyValue(op.body) };
    case 'PUT':
    case 'PATCH':
    case 'DELETE': {
      const id = run.idOf(op.id);
      const headers: Record<string, string> = {};
      const im = ifMatch(op.cond, coll, id, etags);
      if (im !== undefined) headers['if-match'] = im;
      if (op.m !== 'DELETE') headers['content-type'] = 'application/json';
      return { method: op.m, path: `/v1/${coll}/${id}`, headers, ...(op.m === 'DELETE' ? {} : { body: bodyValue(op.body) }) };
    }
    case 'NOROUTE':
      return { method: 'DELETE', path: `/v2/${coll}/1` };
    case 'BADPATH':
      return { method: 'GET', path: BAD_PATHS[op.form % BAD_PATHS.length]!.replace('{c}', coll) };
    case 'BADMETHOD':
      return { method: 'BREW', path: `/v1/${coll}/${run.idOf(op.id)}` };
  }
}

const refusing = (op: AOp): boolean => op.m === 'BADPATH' || op.m === 'BADMETHOD';

/** The operations the wire form carries: the batch's, repeated past the limit for `tooMany`. */
function wireOps(b: ABatch, max: number): GOp[] {
  if (b.malform !== 'tooMany') return b.ops;
  const out: GOp[] = [];
  while (out.length <= max) out.push(...b.ops);
  return out;
}

function finish(enc: Omit<Encoded, 'refuses'>, b: ABatch, refuses: boolean): Encoded {
  if (b.malform === 'truncate') return { ...enc, body: enc.body.slice(0, Math.floor(enc.body.length / 2)), refuses: true };
  return { ...enc, refuses: refuses || b.malform === 'tooMany' };
}

/** Units when groups are tagged: a group runs at its first member's position, members in request order. */
function groupUnits(b: ABatch): OracleUnit[] {
  const units: OracleUnit[] = [];
  const byGroup = new Map<number, OracleUnit>();
  b.ops.forEach((g, i) => {
    if (g.group === undefined) return void units.push({ members: [i], atomic: false });
    let u = byGroup.get(g.group);
    if (!u) {
      u = { members: [], atomic: true };
      byGroup.set(g.group, u);
      units.push(u);
    }
    u.members.push(i);
  });
  return units;
}

const wholeUnit = (b: ABatch): OracleUnit[] => [{ members: b.ops.map((_, i) => i), atomic: true }];
const okIf2xx = (status: number): Outcome => (status < 400 ? 'ok' : status);

function parseJson(text: string, what: string): any {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${what}: the answer is not JSON: ${text.slice(0, 300)}`);
  }
}

function problemCode(body: unknown): string | undefined {
  return body && typeof body === 'object' && typeof (body as { code?: unknown }).code === 'string' ? (body as { code: string }).code : undefined;
}

// ---------------------------------------------------------------------------
// The dialects.

const plainBody = (_c: Coll, v: number) => ({ v });

const ops: DialectModel = {
  name: 'ops',
  shape: { groups: 'none' },
  whole: false,
  maxOps: 100,
  bodyOf: plainBody,
  encode(b, run, etags) {
    const requests = wireOps(b, 100).map(({ op }) => {
      const s = plain(op, run, etags);
      return { method: s.method, path: s.path, ...(s.headers ? { headers: s.headers } : {}), ...('body' in s ? { body: s.body } : {}) };
    });
    return finish({ path: '/batch', contentType: 'application/json', body: JSON.stringify({ requests, stop_on_error: b.stop }) }, b, b.ops.some((g) => refusing(g.op)));
  },
  single: plain,
  units: groupUnits,
  restOutcome: ROLLED_BACK,
  decode(b, status, _type, text) {
    const doc = parseJson(text, 'ops');
    if (status !== 200) return { status };
    const responses = doc.responses as Array<{ status: number }>;
    if (b.stop) {
      // The array ends at the first failure, that one included.
      const firstFail = responses.findIndex((r) => r.status >= 400);
      expect(firstFail === -1 ? responses.length : firstFail + 1).toBe(responses.length);
      if (firstFail === -1) expect(responses).toHaveLength(b.ops.length);
    } else expect(responses).toHaveLength(b.ops.length);
    return { status, outcomes: b.ops.map((_, i) => responses[i]?.status ?? OMITTED) };
  },
};

const requests: DialectModel = {
  name: 'requests',
  shape: { groups: 'free' },
  whole: false,
  maxOps: 100,
  bodyOf: plainBody,
  encode(b, run, etags) {
    const list = wireOps(b, 100).map(({ op, group }, i) => {
      const s = plain(op, run, etags);
      return {
        id: `op${i}`,
        method: s.method,
        path: s.path,
        headers: Object.entries(s.headers ?? {})
          .map(([k, v]) => `${k}: ${v}`)
          .join('\n'),
        ...('body' in s ? { body: JSON.stringify(s.body) } : {}),
        ...(group === undefined ? {} : { transaction: `t${group}` }),
      };
    });
    return finish({ path: '/v1/batch', contentType: 'application/json', body: JSON.stringify(list) }, b, b.ops.some((g) => refusing(g.op)));
  },
  single: plain,
  units: groupUnits,
  restOutcome: ROLLED_BACK,
  decode(b, status, _type, text) {
    const doc = parseJson(text, 'requests');
    if (status !== 200) return { status };
    const list = doc as Array<{ id: string; code: number; body: string }>;
    expect(list.map((r) => r.id)).toEqual(b.ops.map((_, i) => `op${i}`));
    return {
      status,
      outcomes: list.map((r) => (r.code === 424 && problemCode(JSON.parse(r.body)) === 'transaction_rolled_back' ? ROLLED_BACK : r.code)),
    };
  },
};

const PART_OPERATION: Record<string, string> = { GET: 'get', POST: 'create', PATCH: 'update', PUT: 'replace', DELETE: 'delete', NOROUTE: 'get', BADPATH: 'get', BADMETHOD: 'brew' };

const parts: DialectModel = {
  name: 'parts',
  shape: { groups: 'whole' },
  whole: true,
  maxOps: 100,
  bodyOf: plainBody,
  encode(b, run, etags) {
    const list = wireOps(b, 100).map(({ op }, i) => {
      const s = plain(op, run, etags);
      const im = s.headers?.['if-match'];
      return {
        id: `p${i}`,
        path: s.path,
        operation: PART_OPERATION[op.m],
        ...('body' in s ? { payload: s.body } : {}),
        ...(im === undefined ? {} : { ifMatch: im === '*' ? null : im }),
      };
    });
    return finish({ path: '/batch/parts', contentType: 'application/json', body: JSON.stringify({ parts: list }) }, b, b.ops.some((g) => refusing(g.op)));
  },
  single: (op, run, etags) => ({ ...plain(op, run, etags), expect: okIf2xx }),
  units: wholeUnit,
  restOutcome: OMITTED,
  decode(b, status, _type, text) {
    const doc = parseJson(text, 'parts');
    if (status === 200) {
      expect((doc.parts as Array<{ id: string }>).map((p) => p.id)).toEqual(b.ops.map((_, i) => `p${i}`));
      return { status, outcomes: b.ops.map(() => 'ok') };
    }
    if (!Array.isArray(doc.parts)) return { status }; // a refusal: problem+json
    expect(doc.parts).toHaveLength(1);
    const at = b.ops.findIndex((_, i) => `p${i}` === doc.parts[0].id);
    expect(at).toBeGreaterThanOrEqual(0);
    return { status, outcomes: b.ops.map((_, i) => (i === at ? status : OMITTED)) };
  },
};

const attributes = (v: number) => [{ d: 'v', vt: 3, value: String(v) }];
const textAttributes = (value: unknown) => [{ d: 't', vt: 16, value: JSON.stringify(value) }];
const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

function xmlObject(body: { v: number } | { non: unknown }): string {
  return 'v' in body
    ? `<object><attributes><a d="v" vt="3">${body.v}</a></attributes></object>`
    : `<object><attributes><a d="t" vt="16"><text>${xmlEscape(JSON.stringify(body.non))}</text></a></attributes></object>`;
}

const xml: DialectModel = {
  name: 'xml',
  shape: { groups: 'none' },
  whole: false,
  objects: true,
  maxOps: 64,
  bodyOf: (_c, v) => ({ attributes: attributes(v) }),
  encode(b, run) {
    const elements = wireOps(b, 64).map(({ op }) => {
      switch (op.m) {
        case 'GET':
          return `<read ref="${run.idOf(op.id)}"/>`;
        case 'POST':
          return `<create>${xmlObject(op.body)}</create>`;
        case 'PUT':
        case 'PATCH':
          return `<update ref="${run.idOf(op.id)}">${xmlObject(op.body)}</update>`;
        case 'DELETE':
          return `<delete ref="${run.idOf(op.id)}"/>`;
        case 'NOROUTE':
          return `<read ref="${run.idOf('1')}none"/>`;
        case 'BADPATH':
          return `<read ref="${['..', 'a/b', '', '.'][op.form % 4]}"/>`;
        case 'BADMETHOD':
          return `<brew ref="${run.idOf(op.id)}"/>`;
      }
    });
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<request identifier="prop"><operations>${elements.join('')}</operations></request>`;
    return finish({ path: '/api/object/batch', contentType: 'application/xml', body }, b, b.ops.some((g) => refusing(g.op)));
  },
  single(op, run) {
    // Update and delete are unconditional (If-Match: *); on an absent object the dialect says not_found.
    const expectXml = (status: number, code: string | undefined): Outcome => (status < 400 ? 'ok' : code === 'precondition_failed' ? 'not_found' : (code ?? String(status)));
    const path = (id: string) => `/v1/objects/${id}`;
    const body = (bd: { v: number } | { non: unknown }) => ({ attributes: 'v' in bd ? attributes(bd.v) : textAttributes(bd.non) });
    switch (op.m) {
      case 'GET':
        return { method: 'GET', path: path(run.idOf(op.id)), expect: expectXml };
      case 'POST':
        return { method: 'POST', path: '/v1/objects', body: body(op.body), expect: expectXml };
      case 'PUT':
      case 'PATCH':
        return { method: 'PUT', path: path(run.idOf(op.id)), headers: { 'if-match': '*' }, body: body(op.body), expect: expectXml };
      case 'DELETE':
        return { method: 'DELETE', path: path(run.idOf(op.id)), headers: { 'if-match': '*' }, expect: expectXml };
      case 'NOROUTE':
        return { method: 'GET', path: path(`${run.idOf('1')}none`), expect: expectXml };
      default:
        throw new Error(`no single for ${op.m}`);
    }
  },
  units: groupUnits,
  restOutcome: ROLLED_BACK,
  decode(b, status, _type, text) {
    expect(text.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
    const top = /<response status="([a-z]+)"/.exec(text);
    expect(top).not.toBeNull();
    if (status !== 200) {
      expect(top![1]).toBe('error');
      return { status };
    }
    // Answers are the children of <response> that carry an index; <object> inside a read has none.
    const found = [...text.matchAll(/<(create|read|update|delete|error) index="(\d+)"(?: code="([^"]+)")?/g)];
    expect(found.map((m) => Number(m[2]))).toEqual(b.ops.map((_, i) => i));
    const ELEMENT: Record<string, string> = { GET: 'read', POST: 'create', PUT: 'update', PATCH: 'update', DELETE: 'delete', NOROUTE: 'read' };
    return {
      status,
      outcomes: found.map((m, i) => {
        if (m[1] === 'error') return m[3]!;
        expect(m[1]).toBe(ELEMENT[b.ops[i]!.op.m]);
        return 'ok';
      }),
    };
  },
};

function odataError(body: unknown): string | undefined {
  const e = (body as { error?: { code?: unknown } } | undefined)?.error;
  return typeof e?.code === 'string' ? e.code : undefined;
}

const odataJson: DialectModel = {
  name: 'odata-json',
  shape: { groups: 'adjacent' },
  whole: false,
  maxOps: 100,
  bodyOf: plainBody,
  encode(b, run, etags) {
    const list = wireOps(b, 100).map(({ op, group }, i) => {
      const s = plain(op, run, etags);
      return {
        id: String(i + 1),
        method: s.method,
        url: s.path,
        headers: s.headers ?? {},
        ...('body' in s ? { body: s.body } : {}),
        ...(group === undefined ? {} : { atomicityGroup: `g${group}` }),
      };
    });
    return finish({ path: '/v1/$batch', contentType: 'application/json', body: JSON.stringify({ requests: list }) }, b, b.ops.some((g) => refusing(g.op)));
  },
  single: plain,
  units: groupUnits,
  restOutcome: ROLLED_BACK,
  decode(b, status, _type, text) {
    const doc = parseJson(text, 'odata-json');
    if (status !== 200) {
      expect(typeof doc.error?.code).toBe('string');
      return { status };
    }
    const list = doc.responses as Array<{ id: string; status: number; body?: unknown; atomicityGroup?: string }>;
    expect(list.map((r) => r.id)).toEqual(b.ops.map((_, i) => String(i + 1)));
    list.forEach((r, i) => expect(r.atomicityGroup).toBe(b.ops[i]!.group === undefined ? undefined : `g${b.ops[i]!.group}`));
    return { status, outcomes: list.map((r) => (r.status === 424 && odataError(r.body) === 'transaction_rolled_back' ? ROLLED_BACK : r.status)) };
  },
};

const odataMultipart: DialectModel = {
  name: 'odata-multipart',
  shape: { groups: 'adjacent' },
  whole: false,
  maxOps: 100,
  bodyOf: plainBody,
  encode(b, run, etags) {
    const wire = wireOps(b, 100);
    const req = (op: AOp, i: number): PartRequest => {
      const s = plain(op, run, etags);
      return { method: s.method, url: s.path, headers: s.headers ?? {}, ...('body' in s ? { body: JSON.stringify(s.body) } : {}), contentId: String(i + 1) };
    };
    const list: Part[] = [];
    let refuses = false;
    for (let i = 0; i < wire.length; i++) {
      const g = wire[i]!;
      if (g.group === undefined) {
        list.push(req(g.op, i));
        continue;
      }
      const changeset: PartRequest[] = [];
      for (; i < wire.length && wire[i]!.group === g.group; i++) {
        // A change set holds no read.
        if (wire[i]!.op.m === 'GET') refuses = true;
        changeset.push(req(wire[i]!.op, i));
      }
      i--;
      list.push({ changeset });
    }
    const { body, contentType } = multipartBatch(list);
    return finish({ path: '/v1/$batch', contentType, headers: { prefer: 'odata.continue-on-error' }, body }, b, refuses || b.ops.some((g) => refusing(g.op)));
  },
  single: plain,
  units: groupUnits,
  restOutcome: OMITTED,
  decode(b, status, type, text) {
    if (status !== 200) {
      expect(typeof parseJson(text, 'odata-multipart').error?.code).toBe('string');
      return { status };
    }
    const answer = readBatchResponse(type, text).parts;
    const outcomes: Outcome[] = b.ops.map(() => OMITTED);
    const units = groupUnits(b);
    expect(answer).toHaveLength(units.length);
    units.forEach((u, k) => {
      const part = answer[k]!;
      if (!u.atomic) {
        expect(part.kind).toBe('response');
        if (part.kind === 'response') outcomes[u.members[0]!] = part.status;
        return;
      }
      if (part.kind === 'changeset') {
        expect(part.responses.map((r) => r.mime['content-id'])).toEqual(u.members.map((i) => String(i + 1)));
        part.responses.forEach((r, j) => (outcomes[u.members[j]!] = r.status));
      } else {
        // A failed change set: one part, the failing request's status, its Content-ID.
        const at = Number(part.mime['content-id']) - 1;
        expect(u.members).toContain(at);
        outcomes[at] = part.status;
      }
    });
    return { status, outcomes };
  },
};

/** FHIR's order: DELETE, then POST, then PUT/PATCH, then GET, each in array order. */
const FHIR_RANK: Record<string, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, NOROUTE: 3, BADPATH: 3, BADMETHOD: 3 };
const fhirOrder = (b: ABatch): number[] =>
  b.ops
    .map((g, i) => ({ i, r: FHIR_RANK[g.op.m]! }))
    .sort((x, y) => x.r - y.r || x.i - y.i)
    .map((x) => x.i);

function fhirEntry(op: AOp, run: Run, etags: Map<string, string>): Record<string, unknown> {
  const type = run.collOf(op.c);
  const resource = (body: { v: number } | { non: unknown }) => ('v' in body ? { resourceType: type, v: body.v } : body.non);
  switch (op.m) {
    case 'GET':
      return { request: { method: 'GET', url: `${type}/${op.id}` } };
    case 'POST':
      return { resource: resource(op.body), request: { method: 'POST', url: type } };
    case 'PUT':
    case 'PATCH':
    case 'DELETE': {
      const im = ifMatch(op.cond, type, op.id, etags);
      return {
        ...(op.m === 'DELETE' ? {} : { resource: resource(op.body) }),
        request: { method: op.m, url: `${type}/${op.id}`, ...(im === undefined ? {} : { ifMatch: im }) },
      };
    }
    case 'NOROUTE':
      return { request: { method: 'GET', url: `${type}/none` } };
    case 'BADPATH':
      return { request: { method: 'GET', url: [`${type}/1/_history/2`, `http://evil.example/fhir/${type}/1`, `${type}/1/extra`, `${type}/$everything`][op.form % 4] } };
    case 'BADMETHOD':
      return { request: { method: 'BREW', url: `${type}/${op.id}` } };
  }
}

function fhirModel(type: 'batch' | 'transaction'): DialectModel {
  const transaction = type === 'transaction';
  return {
    name: `fhir-${type}`,
    // Fewer entries in a transaction, where two writing one record refuse it.
    shape: { groups: transaction ? 'whole' : 'none', maxOps: transaction ? 5 : 7 },
    whole: transaction,
    maxOps: 100,
    bodyOf: (c, v, run) => ({ resourceType: run.collOf(c), v }),
    encode(b, run, etags) {
      const wire = wireOps(b, 100);
      const entry = wire.map(({ op }) => fhirEntry(op, run, etags));
      // A resource must be an object; in a transaction no two entries write one record.
      let refuses = wire.some(({ op }) => refusing(op) || ('body' in op && 'non' in op.body));
      if (transaction) {
        const written = wire.filter(({ op }) => op.m === 'PUT' || op.m === 'PATCH' || op.m === 'DELETE').map(({ op }) => `${op.c}/${'id' in op ? op.id : ''}`);
        if (new Set(written).size !== written.length) refuses = true;
      }
      return finish({ path: '/fhir', contentType: 'application/fhir+json', body: JSON.stringify({ resourceType: 'Bundle', type, entry }) }, b, refuses);
    },
    single(op, run, etags) {
      const s = plain(op, run, etags);
      if (op.m === 'NOROUTE') return { method: 'GET', path: `/v1/${run.collOf(op.c)}/none` };
      if ('body' in op && 'v' in op.body) return { ...s, body: { resourceType: run.collOf(op.c), v: op.body.v } };
      return s;
    },
    units: (b) => (transaction ? [{ members: fhirOrder(b), atomic: true }] : fhirOrder(b).map((i) => ({ members: [i], atomic: false }))),
    restOutcome: OMITTED,
    decode(b, status, _type, text) {
      const doc = parseJson(text, 'fhir');
      if (status !== 200) {
        expect(doc.resourceType).toBe('OperationOutcome');
        expect(doc.issue).toHaveLength(1);
        const m = /^Bundle\.entry\[(\d+)\]$/.exec(doc.issue[0].expression?.[0] ?? '');
        if (!transaction || !m) return { status };
        return { status, outcomes: b.ops.map((_, i) => (i === Number(m[1]) ? status : OMITTED)) };
      }
      expect(doc.type).toBe(`${type}-response`);
      expect(doc.entry).toHaveLength(b.ops.length);
      return { status, outcomes: (doc.entry as Array<{ response: { status: string } }>).map((e) => Number(/^(\d{3}) /.exec(e.response.status)![1])) };
    },
  };
}

function compositeModel(allOrNone: boolean): DialectModel {
  return {
    name: allOrNone ? 'composite-allOrNone' : 'composite',
    shape: { groups: allOrNone ? 'whole' : 'none' },
    whole: allOrNone,
    maxOps: 100,
    bodyOf: plainBody,
    encode(b, run, etags) {
      const compositeRequest = wireOps(b, 100).map(({ op }, i) => {
        const s = plain(op, run, etags);
        const url = op.m === 'BADPATH' && op.form % 2 === 1 ? '/services/data/v59.0/query?q=SELECT+Id+FROM+x' : s.path.replace(/^\/v1\//, '/services/data/v59.0/sobjects/');
        const headers = { ...s.headers };
        delete headers['content-type'];
        return { method: s.method, url, referenceId: `r${i}`, ...(Object.keys(headers).length ? { httpHeaders: headers } : {}), ...('body' in s ? { body: s.body } : {}) };
      });
      return finish(
        { path: '/services/data/v59.0/composite', contentType: 'application/json', body: JSON.stringify({ allOrNone, compositeRequest }) },
        b,
        b.ops.some((g) => refusing(g.op)),
      );
    },
    single: plain,
    units: (b) => (allOrNone ? wholeUnit(b) : b.ops.map((_, i) => ({ members: [i], atomic: false }))),
    restOutcome: ROLLED_BACK,
    decode(b, status, _type, text) {
      const doc = parseJson(text, 'composite');
      if (status !== 200) {
        expect(Array.isArray(doc) && typeof doc[0]?.errorCode === 'string').toBe(true);
        return { status };
      }
      const list = doc.compositeResponse as Array<{ referenceId: string; httpStatusCode: number; body: unknown }>;
      expect(list.map((r) => r.referenceId)).toEqual(b.ops.map((_, i) => `r${i}`));
      const halted = (body: unknown) => Array.isArray(body) && (body[0] as { errorCode?: string } | undefined)?.errorCode === 'PROCESSING_HALTED';
      return { status, outcomes: list.map((r) => (r.httpStatusCode === 400 && halted(r.body) ? ROLLED_BACK : r.httpStatusCode)) };
    },
  };
}

const JSONAPI_TYPE = 'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic"';

const jsonapi: DialectModel = {
  name: 'jsonapi-atomic',
  shape: { groups: 'whole' },
  whole: true,
  maxOps: 100,
  // No read, no precondition.
  adapt(op) {
    if (op.m === 'GET') return { m: 'PATCH', c: op.c, id: op.id, body: { v: 0 }, cond: undefined };
    if ('cond' in op) return { ...op, cond: undefined };
    return op;
  },
  bodyOf: plainBody,
  encode(b, run) {
    const list = wireOps(b, 100).map(({ op }) => {
      const type = run.collOf(op.c);
      const attrs = (body: { v: number } | { non: unknown }) => bodyValue(body);
      switch (op.m) {
        case 'POST':
          return { op: 'add', data: { type, attributes: attrs(op.body) } };
        case 'PUT':
          return { op: 'add', data: { type, id: op.id, attributes: attrs(op.body) } };
        case 'PATCH':
          return { op: 'update', ref: { type, id: op.id }, data: { type, id: op.id, attributes: attrs(op.body) } };
        case 'DELETE':
          return { op: 'remove', ref: { type, id: op.id } };
        case 'NOROUTE':
          return { op: 'remove', ref: { type, id: 'none' } };
        case 'BADPATH':
          return { op: 'remove', ref: { type: ['a/b', '..', 'x y', ''][op.form % 4], id: '1' } };
        case 'BADMETHOD':
          return { op: 'brew', ref: { type, id: op.id } };
        case 'GET':
          throw new Error('adapted away');
      }
    });
    const refuses = b.ops.some(({ op }) => refusing(op) || ('body' in op && 'non' in op.body));
    return finish({ path: '/operations', contentType: JSONAPI_TYPE, body: JSON.stringify({ 'atomic:operations': list }) }, b, refuses);
  },
  single(op, run, etags) {
    const s = plain(op, run, etags);
    const coll = run.collOf(op.c);
    if (op.m === 'PUT') return { ...s, headers: { 'content-type': 'application/json', 'if-none-match': '*' }, expect: (st) => (st === 412 ? 409 : okIf2xx(st)) };
    if (op.m === 'NOROUTE') return { method: 'DELETE', path: `/v1/${coll}/none`, expect: okIf2xx };
    return { ...s, expect: okIf2xx };
  },
  units: wholeUnit,
  restOutcome: OMITTED,
  decode(b, status, type, text) {
    expect(type).toBe(JSONAPI_TYPE);
    const doc = parseJson(text, 'jsonapi');
    if (status === 200) {
      expect(doc['atomic:results']).toHaveLength(b.ops.length);
      return { status, outcomes: b.ops.map(() => 'ok') };
    }
    expect(doc['atomic:results']).toBeUndefined();
    expect(doc.errors).toHaveLength(1);
    const m = /^\/atomic:operations\/(\d+)(\/|$)/.exec(doc.errors[0].source?.pointer ?? '');
    expect(doc.errors[0].status).toBe(String(status));
    if (!m) return { status };
    return { status, outcomes: b.ops.map((_, i) => (i === Number(m[1]) ? status : OMITTED)) };
  },
};

export const DIALECT_MODELS: DialectModel[] = [
  ops,
  requests,
  parts,
  xml,
  odataJson,
  odataMultipart,
  fhirModel('batch'),
  fhirModel('transaction'),
  compositeModel(false),
  compositeModel(true),
  jsonapi,
];
