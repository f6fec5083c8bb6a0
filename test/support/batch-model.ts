/**
 * The model behind the batch property tests (test/batch-properties.test.ts):
 * abstract operations on a small id space of two collections, mixing valid
 * ones with client mistakes, grouped or not into transaction groups; the
 * starting state of a run; snapshots of a tenant's records over the list
 * store; and the oracle that runs a batch's operations one by one as
 * single HTTP requests on a second server (undoing a failed group with
 * compensating writes, so a group there is all or nothing as well).
 *
 * OMNIBUS_PROPERTY_RUNS=<n> runs n cases per property, dialect and backend
 * (default 30, which keeps the file near 35 s on both backends).
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type { TestServer } from './server.js';

export const PROPERTY_RUNS = Number(process.env['OMNIBUS_PROPERTY_RUNS'] ?? 30);

/** Ids the operations name: 1-3 of the batch's tenant, g1 only another tenant has. */
export const IDS = ['1', '2', '3', 'g1'] as const;
export type Id = (typeof IDS)[number];
export type Coll = 0 | 1;

/** If-Match: the record's ETag when the batch started (stale once an earlier operation wrote it), a made-up one, or `*`. */
export type Cond = 'start' | 'stale' | '*' | undefined;

/** A request body: an object, or a JSON value that is not one where the route wants an object. */
export type Body = { v: number } | { non: unknown };

export type AOp =
  | { m: 'GET'; c: Coll; id: Id }
  | { m: 'PUT'; c: Coll; id: Id; body: Body; cond: Cond }
  | { m: 'PATCH'; c: Coll; id: Id; body: Body; cond: Cond }
  | { m: 'POST'; c: Coll; body: Body }
  | { m: 'DELETE'; c: Coll; id: Id; cond: Cond }
  /** A path no route answers (a foreign prefix): the operation alone fails. */
  | { m: 'NOROUTE'; c: Coll }
  /** A path the batch must refuse (a `..` segment, another host). */
  | { m: 'BADPATH'; c: Coll; form: number }
  /** A method no route knows: the batch is refused. */
  | { m: 'BADMETHOD'; c: Coll; id: Id };

/** An operation and the transaction group it belongs to (undefined: it stands alone). */
export interface GOp {
  op: AOp;
  group?: number;
}

export interface ABatch {
  ops: GOp[];
  /** A batch-level flag some dialects have (ops `stop_on_error`). */
  stop: boolean;
  /** A batch-level malformation: none, the text cut short, or more operations than the limit. */
  malform: 'none' | 'truncate' | 'tooMany';
}

/** The starting state: which of ids 1-3 exist in each collection, and their `v`. */
export type Start = Array<Array<number | null>>;

const coll = fc.constantFrom<Coll>(0, 1);
const id = fc.constantFrom<Id>(...IDS);
const objBody = fc.integer({ min: 0, max: 99 }).map((v): Body => ({ v }));
const nonObject = fc.constantFrom<unknown>([1, 2], 'text', 7, null, true).map((non): Body => ({ non }));
const body = fc.oneof({ weight: 4, arbitrary: objBody }, { weight: 1, arbitrary: nonObject });
const cond = fc.constantFrom<Cond>(undefined, undefined, 'start', 'start', 'stale', '*');

/** A valid operation or one that fails by itself (never one that refuses the batch). */
export const validOrFailingOp: fc.Arbitrary<AOp> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ m: fc.constant('GET' as const), c: coll, id }) },
  { weight: 3, arbitrary: fc.record({ m: fc.constant('PUT' as const), c: coll, id, body, cond }) },
  { weight: 3, arbitrary: fc.record({ m: fc.constant('PATCH' as const), c: coll, id, body, cond }) },
  { weight: 2, arbitrary: fc.record({ m: fc.constant('POST' as const), c: coll, body }) },
  { weight: 3, arbitrary: fc.record({ m: fc.constant('DELETE' as const), c: coll, id, cond }) },
  { weight: 1, arbitrary: fc.record({ m: fc.constant('NOROUTE' as const), c: coll }) },
);

/** An operation that makes the whole batch refused. */
export const refusingOp: fc.Arbitrary<AOp> = fc.oneof(
  fc.record({ m: fc.constant('BADPATH' as const), c: coll, form: fc.nat(3) }),
  fc.record({ m: fc.constant('BADMETHOD' as const), c: coll, id }),
);

export const startState: fc.Arbitrary<Start> = fc.array(fc.array(fc.option(fc.integer({ min: 0, max: 99 }), { nil: null }), { minLength: 3, maxLength: 3 }), {
  minLength: 2,
  maxLength: 2,
});

export interface BatchShape {
  /** How operations are grouped: none, freely (same tag anywhere), adjacent runs only, or the whole batch is one unit. */
  groups: 'none' | 'free' | 'adjacent' | 'whole';
  maxOps?: number;
}

/** Operations with optional group tags, per the dialect's grouping rule. */
export function gops(ops: fc.Arbitrary<AOp>, shape: BatchShape, grouped: boolean): fc.Arbitrary<GOp[]> {
  const list = fc.array(ops, { minLength: 1, maxLength: shape.maxOps ?? 7 });
  if (!grouped || shape.groups === 'none' || shape.groups === 'whole') return list.map((xs) => xs.map((op) => ({ op })));
  if (shape.groups === 'free') {
    return list.chain((xs) =>
      fc.array(fc.option(fc.nat(1), { nil: undefined, freq: 2 }), { minLength: xs.length, maxLength: xs.length }).map((tags) => xs.map((op, i) => ({ op, group: tags[i] }))),
    );
  }
  // Adjacent: runs of operations, each run a group or standalone operations.
  return fc.array(fc.record({ ops: fc.array(ops, { minLength: 1, maxLength: 3 }), grouped: fc.boolean() }), { minLength: 1, maxLength: 3 }).map((runs) => {
    const out: GOp[] = [];
    runs.forEach((r, ri) => r.ops.forEach((op) => out.push(r.grouped ? { op, group: ri } : { op })));
    return out;
  });
}

export function batchOf(ops: fc.Arbitrary<GOp[]>, malform: fc.Arbitrary<ABatch['malform']> = fc.constant('none')): fc.Arbitrary<ABatch> {
  return fc.record({ ops, stop: fc.boolean(), malform });
}

/** Well-formed batches of valid and failing operations. */
export function wellFormed(shape: BatchShape, grouped: boolean): fc.Arbitrary<ABatch> {
  return batchOf(gops(validOrFailingOp, shape, grouped));
}

/** Batches the server must refuse: one refusing operation among others, a truncated text, or too many operations. */
export function refused(shape: BatchShape): fc.Arbitrary<ABatch> {
  const withRefusing = fc
    .tuple(gops(validOrFailingOp, shape, true), refusingOp, fc.nat())
    .map(([xs, bad, at]) => {
      const i = at % (xs.length + 1);
      return [...xs.slice(0, i), { op: bad, group: xs[i - 1]?.group }, ...xs.slice(i)];
    });
  return fc.oneof(batchOf(withRefusing), batchOf(gops(validOrFailingOp, shape, true), fc.constantFrom('truncate', 'tooMany')));
}

/** Every batch: well-formed or not, grouped or not. */
export function anyBatch(shape: BatchShape): fc.Arbitrary<ABatch> {
  return fc.oneof({ weight: 3, arbitrary: wellFormed(shape, true) }, { weight: 1, arbitrary: refused(shape) });
}

// ---------------------------------------------------------------------------
// Runs: collections, starting state, snapshots.

export interface Run {
  /** The two collection names of this run (letters and digits: valid as a FHIR type, a JSON:API type, an sObject). */
  colls: [string, string];
  /** Where ids live: the XML dialect keeps every object in `objects`, its refs prefixed with the run's name. */
  idOf(id: Id): string;
  collOf(c: Coll): string;
}

let runCounter = 0;

export function newRun(kind: 'collections' | 'objects'): Run {
  const n = `P${Date.now().toString(36)}${(++runCounter).toString(36)}`;
  if (kind === 'objects') return { colls: ['objects', 'objects'], idOf: (id) => `${n}x${id}`, collOf: () => 'objects' };
  return { colls: [`${n}A`, `${n}B`], idOf: (id) => id, collOf: (c) => `${n}${c === 0 ? 'A' : 'B'}` };
}

export interface SnapRecord {
  coll: string;
  tenant: string;
  id: string;
  etag: string;
  updated: string;
  data: Record<string, unknown>;
}

/**
 * Both tenants' records of the run's collections, sorted, read straight from
 * the server's store (no HTTP round trip); `exclude` leaves out ids that
 * existed before the run (in the shared `objects`).
 */
export async function snapshot(s: TestServer, run: Run, exclude: ReadonlySet<string> = new Set()): Promise<SnapRecord[]> {
  const out: SnapRecord[] = [];
  for (const tenant of ['acme', 'globex']) {
    for (const coll of new Set(run.colls)) {
      for (const r of await s.services.store.listRecords(tenant, coll, { top: 100_000, skip: 0 })) {
        if (exclude.has(`${tenant}/${r.id}`)) continue;
        out.push({ coll, tenant, id: r.id, etag: `"${r.etag}"`, updated: r.updated, data: { id: r.id, ...r.data } });
      }
    }
  }
  return out.sort((a, b) => (`${a.tenant}/${a.coll}/${a.id}` < `${b.tenant}/${b.coll}/${b.id}` ? -1 : 1));
}

/** The ids of the records already in the run's collections (for `objects`, shared by every run). */
export async function existingIds(s: TestServer, run: Run): Promise<Set<string>> {
  return new Set((await snapshot(s, run)).map((r) => `${r.tenant}/${r.id}`));
}

/**
 * The store state as data only, comparable across two servers: ETags and
 * times dropped, and the random ids that POST assigns replaced by `*`
 * (compared as a multiset).
 */
export function dataOf(snap: SnapRecord[], run: Run): string[] {
  const known = new Set(IDS.map((i) => run.idOf(i)));
  return snap
    .map((r) => JSON.stringify([r.tenant, r.coll, known.has(r.id) ? r.id : '*', { ...r.data, id: known.has(r.id) ? r.id : '*' }]))
    .sort();
}

/** A single request: what one operation is as an ordinary HTTP request. */
export interface Single {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** Maps the single's status (and problem code) to what the dialect reports for it. */
  expect?: (status: number, code: string | undefined) => Outcome;
}

/** What a dialect reports for one operation: a status, a string (a code, `ok`), or a marker. */
export type Outcome = number | string;
/** A group member that was rolled back or never ran because another member failed (424, PROCESSING_HALTED). */
export const ROLLED_BACK = 'rolled_back';
/** An operation the answer leaves out (after a stop, or in an atomic failure that names only the failing one). */
export const OMITTED = 'omitted';

/** Writes the starting state straight into the store: ids 1-3 as `start` says, g1 in the other tenant only. */
export async function seed(s: TestServer, run: Run, start: Start, bodyOf: (c: Coll, v: number) => Record<string, unknown>): Promise<void> {
  const now = new Date().toISOString();
  const put = async (tenant: string, coll: string, id: string, data: Record<string, unknown>) => {
    const record = { tenant, collection: coll, id, data, etag: randomBytes(8).toString('hex'), created: now, updated: now, createdBy: 'seed', updatedBy: 'seed' };
    const outcome = await s.services.store.insertRecord(record, 0);
    if (outcome !== 'inserted') throw new Error(`seeding ${tenant}/${coll}/${id}: ${outcome}`);
  };
  for (const c of [0, 1] as const) {
    if (c === 1 && run.colls[0] === run.colls[1]) break;
    const coll = run.collOf(c);
    for (let k = 0; k < 3; k++) {
      const v = start[c]![k];
      if (v !== null && v !== undefined) await put('acme', coll, run.idOf(IDS[k]!), bodyOf(c, v));
    }
    await put('globex', coll, run.idOf('g1'), bodyOf(c, 1000));
  }
}

/** The ETag each id had when the batch started (`"absent"` for a record that did not exist), for If-Match `start`. */
export function etagsOf(snap: SnapRecord[]): Map<string, string> {
  return new Map(snap.filter((r) => r.tenant === 'acme').map((r) => [`${r.coll}/${r.id}`, r.etag]));
}

export interface OracleUnit {
  /** Indexes of the batch's operations in this unit, in the order they run. */
  members: number[];
  atomic: boolean;
}

/**
 * Runs the batch's operations one by one as single requests on `s`, unit by
 * unit: a standalone operation alone, an atomic unit member by member up to
 * its first failure, after which compensating writes put back every record
 * the unit changed (so the unit leaves nothing behind, as a rolled-back
 * transaction). Returns what each operation should report in the batch.
 */
export async function runSingles(
  s: TestServer,
  run: Run,
  units: OracleUnit[],
  singleOf: (i: number, etags: Map<string, string>) => Single,
  opts: { count: number; exclude: ReadonlySet<string>; stopOnError: boolean; restStatus: Outcome },
): Promise<Outcome[]> {
  const out: Outcome[] = Array.from({ length: opts.count }, () => OMITTED);
  const start = await snapshot(s, run, opts.exclude);
  // The ETag each record had at the start, as this server names it now (a compensated record has a new one).
  const etags = etagsOf(start);
  let stopped = false;
  for (const unit of units) {
    if (stopped) break;
    const before = unit.atomic ? await snapshot(s, run, opts.exclude) : [];
    let failedAt = -1;
    const results: Outcome[] = [];
    for (const i of unit.members) {
      const single = singleOf(i, etags);
      const res = await s.call(single.method, single.path, { headers: single.headers, ...('body' in single ? { json: single.body } : {}) });
      const code = typeof res.json?.code === 'string' ? res.json.code : undefined;
      if (res.status >= 500) throw new Error(`single ${single.method} ${single.path} answered ${res.status} ${res.text}`);
      results.push(single.expect ? single.expect(res.status, code) : res.status);
      if (res.status >= 400) {
        failedAt = i;
        if (unit.atomic) break;
      }
    }
    if (unit.atomic && failedAt >= 0) {
      await compensate(s, run, before, opts.exclude, etags);
      for (const i of unit.members) out[i] = opts.restStatus;
      out[failedAt] = results[results.length - 1]!;
    } else {
      unit.members.forEach((i, k) => (out[i] = results[k]!));
    }
    if (opts.stopOnError && failedAt >= 0) stopped = true;
  }
  return out;
}

/** Puts the batch tenant's records back as `before` has them, and renames start ETags of the records rewritten. */
async function compensate(s: TestServer, run: Run, before: SnapRecord[], exclude: ReadonlySet<string>, etags: Map<string, string>): Promise<void> {
  const now = await snapshot(s, run, exclude);
  const key = (r: SnapRecord) => `${r.tenant}/${r.coll}/${r.id}`;
  const was = new Map(before.map((r) => [key(r), r]));
  const is = new Map(now.map((r) => [key(r), r]));
  for (const [k, r] of is) {
    const old = was.get(k);
    if (old && old.etag === r.etag) continue;
    if (!old) {
      const res = await s.call('DELETE', `/v1/${r.coll}/${r.id}`);
      if (res.status !== 204) throw new Error(`compensating: ${res.status} ${res.text}`);
    }
  }
  for (const [k, old] of was) {
    const cur = is.get(k);
    if (cur && cur.etag === old.etag) continue;
    const { id: _id, ...data } = old.data;
    const res = await s.call('PUT', `/v1/${old.coll}/${old.id}`, { json: data });
    if (res.status >= 300) throw new Error(`compensating: ${res.status} ${res.text}`);
    const tag = `${old.coll}/${old.id}`;
    if (etags.get(tag) === old.etag) etags.set(tag, res.headers.get('etag')!);
  }
}
