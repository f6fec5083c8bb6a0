import { afterEach, describe, expect, it } from 'vitest';
import type { RateLimit } from '../src/rate-limit/index.js';
import { multipartBatch, readBatchResponse } from './fixtures/odata-multipart/multipart.js';
import { describeEachBackend, startTestServer, TOKENS, type CallResult, type TestServer } from './support/server.js';

/**
 * The rate limit (OMNIBUS_RATE_LIMIT), sentence by sentence, over real HTTP
 * on every backend: a token bucket per principal where every batch operation
 * is one request. Two nodes sharing one budget: test/rate-limit-cluster.test.ts.
 */

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';
const ATOMIC = 'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic"';

describeEachBackend('rate limits', () => {
  let servers: TestServer[] = [];
  /** A fresh server (fresh buckets) allowing `limit` requests per `windowS`. */
  const limited = async (limit: number, windowS = 3600): Promise<TestServer> => {
    const s = await startTestServer({ rateLimit: { limit, windowS } satisfies RateLimit });
    servers.push(s);
    return s;
  };
  afterEach(async () => {
    for (const s of servers) await s.close();
    servers = [];
  });

  const gets = (n: number, c = 'rl') => ({ requests: Array.from({ length: n }, (_, i) => ({ method: 'GET', path: `/v1/${c}/r${i}` })) });
  const statuses = (r: CallResult): number[] => r.json.responses.map((x: { status: number }) => x.status);

  /** The problem of an operation over the budget: 429 rate_limited naming OMNIBUS_RATE_LIMIT, with a Retry-After in seconds. */
  function expectRateLimited(status: number, headers: Record<string, string>, body: { code: string; detail: string }) {
    expect(status).toBe(429);
    expect(body.code).toBe('rate_limited');
    expect(body.detail).toContain('OMNIBUS_RATE_LIMIT');
    expect(body.detail).not.toMatch(/SPEC|seed|§/);
    expect(Number(headers['retry-after'])).toBeGreaterThanOrEqual(1);
  }

  it('is off by default: a thousand operations and a hundred requests pass', async () => {
    const s = await startTestServer();
    servers.push(s);
    for (let b = 0; b < 10; b++) expect(statuses(await s.call('POST', '/batch', { json: gets(100) })).every((x) => x === 404)).toBe(true);
    for (let i = 0; i < 100; i++) expect((await s.call('GET', '/v1/rl/x')).status).toBe(404);
  });

  it('a single request over the budget answers 429 rate_limited with Retry-After, as problem+json', async () => {
    const s = await limited(3, 60);
    for (let i = 0; i < 3; i++) expect((await s.call('GET', '/v1/rl/x')).status).toBe(404);
    const over = await s.call('GET', '/v1/rl/x');
    expect(over.status).toBe(429);
    expect(over.headers.get('content-type')).toBe('application/problem+json');
    expectRateLimited(over.status, Object.fromEntries(over.headers), over.json);
    expect(Number(over.headers.get('retry-after'))).toBeLessThanOrEqual(20); // one token at 3 per 60 s
    // Another principal has a budget of its own.
    expect((await s.call('GET', '/v1/rl/x', { token: TOKENS.globex })).status).toBe(404);
  });

  it('a keyed single write answered 429 is not kept: after the refill the same key runs it', async () => {
    const s = await limited(1, 1);
    expect((await s.call('GET', '/v1/rl/x')).status).toBe(404);
    const over = await s.call('PUT', '/v1/rl/k', { json: { v: 1 }, headers: { 'idempotency-key': 'rl-single' } });
    expect(over.status).toBe(429);
    await new Promise((r) => setTimeout(r, 1100));
    const ran = await s.call('PUT', '/v1/rl/k', { json: { v: 1 }, headers: { 'idempotency-key': 'rl-single' } });
    expect(ran.status).toBe(201);
    expect(ran.headers.get('idempotent-replayed')).toBeNull();
  });

  it('a batch reserves all its operations in one step: those beyond the budget answer 429 in their own result, the batch 200', async () => {
    const s = await limited(5);
    const r = await s.call('POST', '/batch', { json: gets(8) });
    expect(r.status).toBe(200);
    expect(statuses(r)).toEqual([404, 404, 404, 404, 404, 429, 429, 429]);
    for (const op of r.json.responses.slice(5)) expectRateLimited(op.status, op.headers, op.body);
    // Three operations at 5 per hour: 36 minutes.
    expect(Number(r.json.responses[5].headers['retry-after'])).toBe(2160);
    // The budget is spent: the next request, and every operation of the next batch, is over it.
    expect((await s.call('GET', '/v1/rl/x')).status).toBe(429);
    expect(statuses(await s.call('POST', '/batch', { json: gets(2) }))).toEqual([429, 429]);
  });

  it('operations over the budget never run: writes beyond it leave nothing', async () => {
    const s = await limited(2);
    const r = await s.call('POST', '/batch', {
      json: { requests: [1, 2, 3, 4].map((i) => ({ method: 'PUT', path: `/v1/rlw/r${i}`, body: { i } })) },
    });
    expect(statuses(r)).toEqual([201, 201, 429, 429]);
    expect(r.json.responses[2].body.code).toBe('rate_limited');
    // Read straight from the store: a request would need budget.
    const stored = await s.services.store.listRecords('acme', 'rlw', { top: 10, skip: 0 });
    expect(stored.map((x) => x.id).sort()).toEqual(['r1', 'r2']);
  });

  it('every batch format says 429 rate_limited with Retry-After in its own form', async () => {
    // requests batch: headers are one string, the body a string
    let s = await limited(1);
    const requests = await s.call('POST', '/v1/batch', {
      json: [
        { id: 'a', method: 'GET', path: '/v1/rl/a' },
        { id: 'b', method: 'GET', path: '/v1/rl/b' },
      ],
    });
    expect(requests.status).toBe(200);
    expect(requests.json.map((x: { code: number }) => x.code)).toEqual([404, 429]);
    expect(requests.json[1].headers).toMatch(/^retry-after: \d+$/m);
    expect(JSON.parse(requests.json[1].body).code).toBe('rate_limited');

    // parts batch: all or none, so the whole batch answers 429, with the part that was over the budget
    s = await limited(2);
    const parts = await s.call('POST', '/batch/parts', {
      json: { parts: [0, 1, 2].map((i) => ({ id: `p${i}`, path: '/v1/rlp', operation: 'create', payload: { i } })) },
    });
    expect(parts.status).toBe(429);
    expect(Number(parts.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(parts.json.parts).toHaveLength(1);
    expect(parts.json.parts[0].payload.code).toBe('rate_limited');
    expect((await s.services.store.listRecords('acme', 'rlp', { top: 10, skip: 0 })).length).toBe(0);

    // XML object batch: an <error> with the code and a retry-after attribute
    s = await limited(1);
    const create = '<create><object><attributes><a d="title" vt="16"><text>t</text></a></attributes></object></create>';
    const xml = await s.call('POST', '/api/object/batch', {
      body: `${XML_DECLARATION}<request identifier="rl"><operations>${create}${create}</operations></request>`,
      headers: { 'content-type': 'application/xml' },
    });
    expect(xml.status).toBe(200);
    expect(xml.text).toMatch(/<create index="0"/);
    expect(xml.text).toMatch(/<error index="1" code="rate_limited" retry-after="\d+"><message>[^<]*OMNIBUS_RATE_LIMIT/);

    // OData JSON batch: canonical Retry-After, an OData error
    s = await limited(1);
    const odata = await s.call('POST', '/v1/$batch', {
      json: { requests: [{ id: '1', method: 'GET', url: '/v1/rl/a' }, { id: '2', method: 'GET', url: '/v1/rl/b' }] },
    });
    expect(odata.status).toBe(200);
    const second = odata.json.responses.find((x: { id: string }) => x.id === '2');
    expect(second.status).toBe(429);
    expect(Number(second.headers['Retry-After'])).toBeGreaterThanOrEqual(1);
    expect(second.body.error.code).toBe('rate_limited');

    // OData multipart batch: the part's own HTTP response
    s = await limited(1);
    const { body, contentType } = multipartBatch([
      { method: 'GET', url: '/v1/rl/a' },
      { method: 'GET', url: '/v1/rl/b' },
    ]);
    const mp = await s.call('POST', '/v1/$batch', { body, headers: { 'content-type': contentType, prefer: 'odata.continue-on-error' } });
    expect(mp.status).toBe(200);
    const answer = readBatchResponse(mp.headers.get('content-type'), mp.text).parts as Array<{ status?: number; headers?: Record<string, string> }>;
    expect(mp.text).toMatch(/HTTP\/1\.1 429 Too Many Requests\r\n/);
    expect(mp.text).toMatch(/\r\nRetry-After: \d+\r\n/);
    expect(mp.text).toContain('"code":"rate_limited"');
    expect(answer).toHaveLength(2);

    // JSON:API atomic operations: one transaction, so the document fails with 429
    s = await limited(1);
    const atomic = await s.call('POST', '/operations', {
      body: JSON.stringify({ 'atomic:operations': [0, 1].map((i) => ({ op: 'add', data: { type: 'rla', attributes: { i } } })) }),
      headers: { 'content-type': ATOMIC },
    });
    expect(atomic.status).toBe(429);
    expect(atomic.json.errors[0].code).toBe('rate_limited');

    // FHIR batch Bundle: the entry's response status and a throttled OperationOutcome
    s = await limited(1);
    const fhir = await s.call('POST', '/fhir', {
      body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [0, 1].map(() => ({ request: { method: 'GET', url: 'Patient' } })) }),
      headers: { 'content-type': 'application/fhir+json' },
    });
    expect(fhir.status).toBe(200);
    const over = fhir.json.entry[1].response;
    expect(over.status).toMatch(/^429/);
    expect(over.outcome.issue[0].code).toBe('throttled');
    expect(over.outcome.issue[0].details.coding[0].code).toBe('rate_limited');
  });

  it('a transaction group gets its budget whole or not at all: over it the group fails, and its unused tokens go back', async () => {
    const s = await limited(4);
    const r = await s.call('POST', '/v1/batch', {
      json: [
        { id: '0', method: 'GET', path: '/v1/rlg/x' },
        ...[1, 2, 3, 4].map((i) => ({ id: String(i), method: 'PUT', path: `/v1/rlg/r${i}`, body: '{}', transaction: 't' })),
        { id: '5', method: 'GET', path: '/v1/rlg/y' },
      ],
    });
    expect(r.status).toBe(200);
    const codes = r.json.map((x: { code: number }) => x.code);
    expect(codes[0]).toBe(404);
    expect(codes.slice(1, 5).sort()).toEqual([424, 424, 424, 429]);
    // Once a unit is over the budget, so is everything after it.
    expect(codes[5]).toBe(429);
    expect((await s.services.store.listRecords('acme', 'rlg', { top: 10, skip: 0 })).length).toBe(0);
    // Four tokens were granted and one used: three went back.
    expect(statuses(await s.call('POST', '/batch', { json: gets(4) }))).toEqual([404, 404, 404, 429]);
  });

  it('concurrent batches never spend more than the budget', async () => {
    const s = await limited(30);
    const answers = await Promise.all(Array.from({ length: 10 }, () => s.call('POST', '/batch', { json: gets(5) })));
    const all = answers.flatMap(statuses);
    expect(all.filter((x) => x !== 429)).toHaveLength(30);
    expect(all.filter((x) => x === 429)).toHaveLength(20);
  });

  it('failed authentications count against the address: over the budget it is refused 429 before any token is read', async () => {
    const s = await limited(3, 60);
    expect((await s.call('GET', '/v1/rl/x', { token: 'wrong-1' })).status).toBe(401);
    expect((await s.call('POST', '/batch', { json: gets(1), token: 'wrong-2' })).status).toBe(401);
    expect((await s.call('GET', '/v1/rl/x', { token: null, headers: { authorization: 'Basic eDp5' } })).status).toBe(401);
    const over = await s.call('GET', '/v1/rl/x', { token: 'wrong-4' });
    expectRateLimited(over.status, Object.fromEntries(over.headers), over.json);
    expect(over.json.detail).toContain('failed authentications');
    // From that address, a valid token waits too (no answer tells a valid token from a guess), in each format's form.
    expect((await s.call('GET', '/v1/rl/x')).status).toBe(429);
    const xml = await s.call('POST', '/api/object/batch', { body: `${XML_DECLARATION}<request identifier="x"><operations/></request>`, headers: { 'content-type': 'application/xml' } });
    expect(xml.status).toBe(429);
    expect(xml.text).toContain('<error code="rate_limited">');
    expect(Number(xml.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('a replayed batch runs no operation and spends nothing', async () => {
    const s = await limited(3);
    const headers = { 'idempotency-key': 'rl-replay' };
    const first = await s.call('POST', '/batch', { json: gets(3), headers });
    expect(statuses(first)).toEqual([404, 404, 404]);
    const again = await s.call('POST', '/batch', { json: gets(3), headers });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(statuses(again)).toEqual([404, 404, 404]);
  });
});

describe('OMNIBUS_RATE_LIMIT in the configuration', () => {
  it('takes N/Ws and N/Wm, and refuses anything else with a message naming the variable', async () => {
    const { loadConfig } = await import('../src/config.js');
    expect(loadConfig({ OMNIBUS_RATE_LIMIT: '600/60s' }).rateLimit).toEqual({ limit: 600, windowS: 60 });
    expect(loadConfig({ OMNIBUS_RATE_LIMIT: '100/1m' }).rateLimit).toEqual({ limit: 100, windowS: 60 });
    expect(loadConfig({ OMNIBUS_RATE_LIMIT: '10/s' }).rateLimit).toEqual({ limit: 10, windowS: 1 });
    expect(loadConfig({}).rateLimit).toBeUndefined();
    for (const bad of ['600', '600/', 'lots/60s', '0/60s', '600/0s', '600/60x']) {
      expect(() => loadConfig({ OMNIBUS_RATE_LIMIT: bad }), bad).toThrow(/OMNIBUS_RATE_LIMIT: expected <requests>\/<window>, e\.g\. 600\/60s/);
    }
    expect(loadConfig({}).idempotencyTtlS).toBe(86_400);
    expect(loadConfig({}).idempotencyLeaseS).toBe(60);
    expect(loadConfig({ OMNIBUS_IDEMPOTENCY_TTL_S: '5', OMNIBUS_IDEMPOTENCY_LEASE_S: '2' })).toMatchObject({ idempotencyTtlS: 5, idempotencyLeaseS: 2 });
    expect(() => loadConfig({ OMNIBUS_IDEMPOTENCY_TTL_S: '0' })).toThrow(/OMNIBUS_IDEMPOTENCY_TTL_S/);
  });
});
