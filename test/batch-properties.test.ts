import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECT_MODELS, type DialectModel, type Encoded } from './support/batch-dialects.js';
import {
  dataOf,
  etagsOf,
  existingIds,
  newRun,
  PROPERTY_RUNS,
  refused,
  runSingles,
  seed,
  snapshot,
  startState,
  wellFormed,
  anyBatch,
  type ABatch,
  type Run,
  type SnapRecord,
  type Start,
} from './support/batch-model.js';
import { describeEachBackend, startTestServer, TOKENS, type TestServer } from './support/server.js';

/**
 * Model-based property tests of every batch dialect over real HTTP: random
 * batches of abstract operations (reads and writes on ids 1-3 of two
 * collections, an id only another tenant has, non-object bodies, stale and
 * current If-Match, paths no route answers, and operations that refuse the
 * whole batch), encoded in each dialect's wire form, sent to a real server,
 * and read back into one outcome per operation. The oracle for a batch is
 * a second server with the same starting state on which the operations run
 * one by one as single requests (test/support/batch-model.ts).
 *
 * Case counts: OMNIBUS_PROPERTY_RUNS (default 30 per property, dialect and backend).
 */
const RUNS = PROPERTY_RUNS;
const TIMEOUT = 60_000 + RUNS * 1500;

interface Sent {
  run: Run;
  exclude: Set<string>;
  before: SnapRecord[];
  after: SnapRecord[];
  enc: Encoded;
  status: number;
  contentType: string | null;
  text: string;
}

/** Applies the dialect's adaptation of operations it cannot express. */
const adapted = (d: DialectModel, arb: fc.Arbitrary<ABatch>): fc.Arbitrary<ABatch> =>
  d.adapt ? arb.map((b) => ({ ...b, ops: b.ops.map((g) => ({ ...g, op: d.adapt!(g.op) })) })) : arb;

/**
 * Well-formed batches for the dialect: its own refusals left out (a FHIR
 * resource that is not an object, two transaction entries writing one record,
 * a read in an OData change set, JSON:API attributes that are not an object).
 */
const PROBE_RUN = newRun('collections');
const wellFormedFor = (d: DialectModel, grouped: boolean): fc.Arbitrary<ABatch> =>
  adapted(d, wellFormed(d.shape, grouped)).filter((b) => !d.encode(b, PROBE_RUN, new Map()).refuses);

async function prepare(s: TestServer, d: DialectModel, run: Run, start: Start): Promise<{ exclude: Set<string>; before: SnapRecord[] }> {
  const exclude = d.objects ? await existingIds(s, run) : new Set<string>();
  await seed(s, run, start, (c, v) => d.bodyOf(c, v, run));
  return { exclude, before: await snapshot(s, run, exclude) };
}

async function send(s: TestServer, d: DialectModel, b: ABatch, start: Start, withAfter = true): Promise<Sent> {
  const run = newRun(d.objects ? 'objects' : 'collections');
  const { exclude, before } = await prepare(s, d, run, start);
  const enc = d.encode(b, run, etagsOf(before));
  const res = await fetch(s.url + enc.path, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKENS.acme}`, 'content-type': enc.contentType, ...enc.headers },
    body: enc.body,
  });
  const text = await res.text();
  const after = withAfter ? await snapshot(s, run, exclude) : [];
  return { run, exclude, before, after, enc, status: res.status, contentType: res.headers.get('content-type'), text };
}

const describeBatch = (b: ABatch) => JSON.stringify(b);

describeEachBackend('batch properties', () => {
  let a: TestServer;
  let oracle: TestServer;
  beforeAll(async () => {
    // One operation at a time in OData JSON too, so that request order is run order.
    a = await startTestServer({ batchConcurrency: 1 });
    oracle = await startTestServer({ batchConcurrency: 1 });
  });
  afterAll(async () => {
    await a?.close();
    await oracle?.close();
  });

  /** Runs the batch on the oracle's store as single requests and compares outcomes and data with the batch's. */
  async function matchesOracle(d: DialectModel, b: ABatch, start: Start, sent: Sent): Promise<void> {
    const answer = d.decode(b, sent.status, sent.contentType, sent.text);
    expect(answer.outcomes, `${d.name} answered ${sent.status} ${sent.text.slice(0, 400)}`).toBeDefined();
    const { exclude } = await prepare(oracle, d, sent.run, start);
    const expected = await runSingles(oracle, sent.run, d.units(b), (i, etags) => d.single(b.ops[i]!.op, sent.run, etags), {
      count: b.ops.length,
      exclude,
      stopOnError: d.name === 'ops' && b.stop,
      restStatus: d.restOutcome,
    });
    expect(answer.outcomes, `outcomes of ${describeBatch(b)}; answer ${sent.text.slice(0, 600)}`).toEqual(expected);
    expect(dataOf(sent.after, sent.run), `store after ${describeBatch(b)}`).toEqual(dataOf(await snapshot(oracle, sent.run, exclude), sent.run));
  }

  // Found by the properties: on PostgreSQL the first wave's read-ahead answered a request after a
  // group from before the group ran, although one slot runs the batch in request order.
  it('OData JSON with one slot runs in request order: a request after a group sees what the group wrote', async () => {
    const c = newRun('collections').collOf(0);
    const res = await a.call('POST', '/v1/$batch', {
      json: {
        requests: [
          { id: '1', method: 'PUT', url: `/v1/${c}/1`, body: { v: 1 }, atomicityGroup: 'g' },
          { id: '2', method: 'PATCH', url: `/v1/${c}/1`, body: { w: 2 } },
          { id: '3', method: 'GET', url: `/v1/${c}/1` },
        ],
      },
    });
    expect(res.status).toBe(200);
    expect(res.json.responses.map((r: { status: number }) => r.status)).toEqual([201, 200, 200]);
    expect(res.json.responses[2].body).toEqual({ id: '1', v: 1, w: 2 });
  });

  for (const d of DIALECT_MODELS) {
    describe(d.name, () => {
      it('a refused batch changes nothing', async () => {
        await fc.assert(
          fc.asyncProperty(adapted(d, refused(d.shape)), startState, async (b, start) => {
            const sent = await send(a, d, b, start);
            expect(sent.enc.refuses).toBe(true);
            expect(sent.status, `${describeBatch(b)} answered ${sent.text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
            expect(sent.status).toBeLessThan(500);
            d.decode(b, sent.status, sent.contentType, sent.text);
            expect(sent.after).toEqual(sent.before);
          }),
          { numRuns: RUNS },
        );
        // An atomic document whose member fails is refused as a whole (4xx) and changes nothing either.
        if (d.whole && !d.name.startsWith('composite')) {
          let failed = 0;
          await fc.assert(
            fc.asyncProperty(wellFormedFor(d, false), startState, async (b, start) => {
              const sent = await send(a, d, b, start);
              if (sent.status >= 400) {
                failed++;
                expect(sent.status).toBeLessThan(500);
                expect(sent.after).toEqual(sent.before);
              }
            }),
            { numRuns: RUNS },
          );
          expect(failed).toBeGreaterThan(0);
        }
      }, TIMEOUT);

      it('a well-formed batch never answers 5xx, for the batch or any operation', async () => {
        await fc.assert(
          fc.asyncProperty(adapted(d, anyBatch(d.shape)), startState, async (b, start) => {
            const sent = await send(a, d, b, start, false);
            expect(sent.status, sent.text.slice(0, 300)).toBeLessThan(500);
            const answer = d.decode(b, sent.status, sent.contentType, sent.text);
            for (const o of answer.outcomes ?? []) {
              if (typeof o === 'number') expect(o, `${describeBatch(b)}: ${sent.text.slice(0, 400)}`).toBeLessThan(500);
              else expect(o).not.toBe('internal');
            }
          }),
          { numRuns: RUNS },
        );
      }, TIMEOUT);

      it('answers one result per operation, in order, correlated by id or index', async () => {
        await fc.assert(
          fc.asyncProperty(wellFormedFor(d, true), startState, async (b, start) => {
            const sent = await send(a, d, b, start, false);
            expect(sent.enc.refuses, describeBatch(b)).toBe(false);
            if (!d.whole || d.name.startsWith('composite')) expect(sent.status, sent.text.slice(0, 400)).toBe(200);
            // decode checks the ids, indexes or pointer; a failed atomic document names exactly one operation.
            const answer = d.decode(b, sent.status, sent.contentType, sent.text);
            expect(answer.outcomes, `${describeBatch(b)}: ${sent.status} ${sent.text.slice(0, 400)}`).toHaveLength(b.ops.length);
            if (sent.status !== 200) expect(answer.outcomes!.filter((o) => o !== 'omitted')).toHaveLength(1);
          }),
          { numRuns: RUNS },
        );
      }, TIMEOUT);

      if (d.whole || d.shape.groups !== 'none') {
        it('every transaction group is either fully visible or not at all', async () => {
          await fc.assert(
            fc.asyncProperty(wellFormedFor(d, true), startState, async (b, start) => {
              const sent = await send(a, d, b, start);
              // A failed atomic document leaves the store exactly as it was, ETags included.
              const answer = d.decode(b, sent.status, sent.contentType, sent.text);
              if (d.whole && answer.outcomes?.some((o) => typeof o === 'number' && o >= 400)) expect(sent.after).toEqual(sent.before);
              // Groups: the store equals running each group's operations alone, undone when one fails.
              await matchesOracle(d, b, start, sent);
            }),
            { numRuns: RUNS },
          );
        }, TIMEOUT);
      }

      if (!d.whole) {
        it('a batch without groups leaves the store and the statuses of its operations run one by one', async () => {
          await fc.assert(
            fc.asyncProperty(wellFormedFor(d, false), startState, async (b, start) => {
              const sent = await send(a, d, b, start);
              await matchesOracle(d, b, start, sent);
            }),
            { numRuns: RUNS },
          );
        }, TIMEOUT);
      }
    });
  }
});
