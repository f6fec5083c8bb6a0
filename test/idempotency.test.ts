import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requestFingerprint } from '../src/idempotency/index.js';
import { multipartBatch } from './fixtures/odata-multipart/multipart.js';
import { startNodes, type TestCluster, type TestNode } from './support/nodes.js';
import { describeEachBackend, TOKENS, type CallResult } from './support/server.js';

/**
 * Idempotent retry (`Idempotency-Key`), sentence by sentence, over real HTTP
 * on every backend: replay, reuse, requests still running, tenants, single
 * writes, expiry. The crash test is test/idempotency-crash.test.ts.
 */

const ATOMIC = 'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic"';
const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';

const newKey = (): string => `key-${randomUUID()}`;
let n = 0;
/** A fresh collection name per use, so counts start at zero. */
const fresh = (prefix = 'idem'): string => `${prefix}${++n}x${Math.random().toString(36).slice(2, 7)}`;

/** One batch request in some format, writing one record to `collection` (XML always writes to `objects`, FHIR to its Type). */
interface FormatCase {
  name: string;
  path: string;
  contentType: string;
  /** The collection its records land in. */
  collection(c: string): string;
  body(c: string, variant?: number): string;
}

const FORMATS: FormatCase[] = [
  {
    name: 'ops batch',
    path: '/batch',
    contentType: 'application/json',
    collection: (c) => c,
    body: (c, v = 0) => JSON.stringify({ requests: [{ method: 'POST', path: `/v1/${c}`, body: { v } }] }),
  },
  {
    name: 'requests batch',
    path: '/v1/batch',
    contentType: 'application/json',
    collection: (c) => c,
    body: (c, v = 0) => JSON.stringify([{ id: '1', method: 'POST', path: `/v1/${c}`, body: JSON.stringify({ v }) }]),
  },
  {
    name: 'parts batch',
    path: '/batch/parts',
    contentType: 'application/json',
    collection: (c) => c,
    body: (c, v = 0) => JSON.stringify({ parts: [{ id: 'p1', path: `/v1/${c}`, operation: 'create', payload: { v } }] }),
  },
  {
    name: 'XML object batch',
    path: '/api/object/batch',
    contentType: 'application/xml',
    collection: () => 'objects',
    body: (c, v = 0) =>
      `${XML_DECLARATION}<request identifier="${c}"><operations><create><object><attributes><a d="title" vt="16"><text>${c} ${v}</text></a></attributes></object></create></operations></request>`,
  },
  {
    name: 'OData JSON batch',
    path: '/v1/$batch',
    contentType: 'application/json',
    collection: (c) => c,
    body: (c, v = 0) => JSON.stringify({ requests: [{ id: '1', method: 'POST', url: `/v1/${c}`, body: { v } }] }),
  },
  {
    name: 'OData multipart batch',
    path: '/v1/$batch',
    contentType: 'multipart/mixed; boundary=idem_boundary',
    collection: (c) => c,
    body: (c, v = 0) => multipartBatch([{ method: 'POST', url: `/v1/${c}`, body: { v } }], { boundary: 'idem_boundary' }).body,
  },
  {
    name: 'JSON:API atomic operations',
    path: '/operations',
    contentType: ATOMIC,
    collection: (c) => c,
    body: (c, v = 0) => JSON.stringify({ 'atomic:operations': [{ op: 'add', data: { type: c, attributes: { v } } }] }),
  },
  {
    name: 'FHIR transaction Bundle',
    path: '/fhir',
    contentType: 'application/fhir+json',
    collection: () => 'IdemPatient',
    body: (c, v = 0) =>
      JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'IdemPatient', c, v }, request: { method: 'POST', url: 'IdemPatient' } }] }),
  },
];

/** The raw answer, bytes included, for byte-for-byte comparisons. */
async function raw(node: TestNode, method: string, path: string, init: { headers?: Record<string, string>; body?: string; token?: string } = {}) {
  const res = await fetch(node.url + path, {
    method,
    headers: { authorization: `Bearer ${init.token ?? TOKENS.acme}`, ...init.headers },
    body: init.body,
  });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

/** Headers that differ between two answers by nature (per request or per connection). */
const PER_RESPONSE = new Set(['date', 'x-request-id', 'idempotent-replayed', 'connection', 'keep-alive', 'transfer-encoding']);

function stableHeaders(h: Headers): Record<string, string> {
  return Object.fromEntries([...h].filter(([name]) => !PER_RESPONSE.has(name)));
}

describeEachBackend('Idempotency-Key', (backend) => {
  let cluster: TestCluster;
  let a: TestNode;
  let b: TestNode;
  beforeAll(async () => {
    cluster = await startNodes(backend, 2);
    [a, b] = cluster.nodes as [TestNode, TestNode];
  });
  afterAll(() => cluster?.close());
  // A test that failed with a gate closed must not hold the next one up.
  afterEach(() => cluster?.nodes.forEach((node) => node.gate.open()));

  const count = async (collection: string, node: TestNode = a, token?: string): Promise<number> => {
    const r = await node.call('GET', `/v1/${collection}?$top=1000`, { token });
    return r.status === 200 ? (r.json.items as unknown[]).length : 0;
  };
  const keyed = (key: string, extra: Record<string, string> = {}) => ({ 'idempotency-key': key, ...extra });

  describe('replay', () => {
    it('a retried batch is answered byte for byte with Idempotent-Replayed: true, and nothing runs again', async () => {
      const c = fresh();
      const key = newKey();
      const body = JSON.stringify({ requests: [1, 2, 3].map((v) => ({ method: 'POST', path: `/v1/${c}`, body: { v } })) });
      const headers = keyed(key, { 'content-type': 'application/json' });
      const first = await raw(a, 'POST', '/batch', { headers, body });
      const again = await raw(a, 'POST', '/batch', { headers, body });
      expect(first.status).toBe(200);
      expect(first.headers.get('idempotent-replayed')).toBeNull();
      expect(again.status).toBe(200);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.bytes.equals(first.bytes)).toBe(true);
      expect(stableHeaders(again.headers)).toEqual(stableHeaders(first.headers));
      expect(await count(c)).toBe(3);
    });

    it('the replay comes from the store: another node answers it the same', async () => {
      const c = fresh();
      const key = newKey();
      const body = JSON.stringify({ requests: [{ method: 'POST', path: `/v1/${c}`, body: {} }] });
      const headers = keyed(key, { 'content-type': 'application/json' });
      const first = await raw(a, 'POST', '/batch', { headers, body });
      const other = await raw(b, 'POST', '/batch', { headers, body });
      expect(other.headers.get('idempotent-replayed')).toBe('true');
      expect(other.bytes.equals(first.bytes)).toBe(true);
      expect(await count(c, b)).toBe(1);
    });

    for (const format of FORMATS) {
      it(`${format.name}: a retry replays the answer and writes nothing again`, async () => {
        const c = fresh();
        const collection = format.collection(c);
        const before = await count(collection);
        const key = newKey();
        const init = { headers: keyed(key, { 'content-type': format.contentType }), body: format.body(c) };
        const first = await raw(a, 'POST', format.path, init);
        expect(first.status, first.bytes.toString()).toBeLessThan(300);
        const again = await raw(a, 'POST', format.path, init);
        expect(again.status).toBe(first.status);
        expect(again.headers.get('idempotent-replayed')).toBe('true');
        expect(again.bytes.equals(first.bytes)).toBe(true);
        expect(await count(collection)).toBe(before + 1);
      });
    }

    it('a refused batch (400) and a failed all-or-none batch (412) are replayed too; the retry runs nothing', async () => {
      const c = fresh();
      const key = newKey();
      const bad = JSON.stringify({ requests: [{ method: 'GET', path: '/v1/../etc' }] });
      const first = await a.call('POST', '/batch', { body: bad, headers: keyed(key, { 'content-type': 'application/json' }) });
      const again = await a.call('POST', '/batch', { body: bad, headers: keyed(key, { 'content-type': 'application/json' }) });
      expect([first.status, again.status]).toEqual([400, 400]);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.text).toBe(first.text);

      const failing = { parts: [{ id: 'p1', path: `/v1/${c}`, operation: 'create', payload: {} }, { id: 'p2', path: `/v1/${c}/none`, operation: 'delete', ifMatch: 'stale' }] };
      const key2 = newKey();
      const f1 = await a.call('POST', '/batch/parts', { json: failing, headers: keyed(key2) });
      const f2 = await a.call('POST', '/batch/parts', { json: failing, headers: keyed(key2) });
      expect([f1.status, f2.status]).toEqual([412, 412]);
      expect(f2.headers.get('idempotent-replayed')).toBe('true');
      expect(f2.text).toBe(f1.text);
      expect(await count(c)).toBe(0);
    });

    it('a key in the structured-field form of the draft ("...") is the same key as without quotes', async () => {
      const c = fresh();
      const key = newKey();
      const json = { requests: [{ method: 'POST', path: `/v1/${c}`, body: {} }] };
      const first = await a.call('POST', '/batch', { json, headers: keyed(`"${key}"`) });
      const again = await a.call('POST', '/batch', { json, headers: keyed(key) });
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.text).toBe(first.text);
      expect(await count(c)).toBe(1);
    });
  });

  describe('single writes', () => {
    it('POST, PUT, PATCH and DELETE with a key run once; a retry replays the answer', async () => {
      const c = fresh();
      const post = async () => a.call('POST', `/v1/${c}`, { json: { v: 1 }, headers: keyed(postKey) });
      const postKey = newKey();
      const created = await post();
      const again = await post();
      expect([created.status, again.status]).toEqual([201, 201]);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.json.id).toBe(created.json.id);
      expect(again.headers.get('etag')).toBe(created.headers.get('etag'));
      expect(again.headers.get('location')).toBe(created.headers.get('location'));
      expect(await count(c)).toBe(1);

      const putKey = newKey();
      const put1 = await a.call('PUT', `/v1/${c}/p`, { json: { v: 1 }, headers: keyed(putKey) });
      const put2 = await a.call('PUT', `/v1/${c}/p`, { json: { v: 1 }, headers: keyed(putKey) });
      expect([put1.status, put2.status]).toEqual([201, 201]); // a second PUT that ran would answer 200
      expect(put2.headers.get('idempotent-replayed')).toBe('true');

      const patchKey = newKey();
      const etag = put1.headers.get('etag')!;
      const patch = () => a.call('PATCH', `/v1/${c}/p`, { json: { w: 2 }, headers: keyed(patchKey, { 'if-match': etag }) });
      const patch1 = await patch();
      const patch2 = await patch();
      expect([patch1.status, patch2.status]).toEqual([200, 200]); // a second PATCH that ran would answer 412
      expect(patch2.text).toBe(patch1.text);

      const deleteKey = newKey();
      const del1 = await a.call('DELETE', `/v1/${c}/p`, { headers: keyed(deleteKey) });
      const del2 = await a.call('DELETE', `/v1/${c}/p`, { headers: keyed(deleteKey) });
      expect([del1.status, del2.status]).toEqual([204, 204]); // a second DELETE that ran would answer 404
      expect(del2.headers.get('idempotent-replayed')).toBe('true');
      expect(del2.text).toBe('');
    });

    it('a key on a GET (or HEAD) is ignored, even a malformed one: the read runs each time', async () => {
      const c = fresh();
      await a.call('PUT', `/v1/${c}/r`, { json: { v: 1 } });
      const key = newKey();
      const first = await a.call('GET', `/v1/${c}/r`, { headers: keyed(key) });
      await a.call('PUT', `/v1/${c}/r`, { json: { v: 2 } });
      const second = await a.call('GET', `/v1/${c}/r`, { headers: keyed(key) });
      expect(first.json.v).toBe(1);
      expect(second.json.v).toBe(2);
      expect(second.headers.get('idempotent-replayed')).toBeNull();
      const malformed = await a.call('GET', `/v1/${c}/r`, { headers: keyed('has spaces in it') });
      expect(malformed.status).toBe(200);
      const head = await a.call('HEAD', `/v1/${c}/r`, { headers: keyed('') });
      expect(head.status).toBe(200);
    });
  });

  describe('refusals', () => {
    it('the same key with another body is 422 idempotency_key_reused, in the format\'s own form, and runs nothing', async () => {
      for (const format of FORMATS) {
        const c = fresh();
        const collection = format.collection(c);
        const key = newKey();
        const headers = keyed(key, { 'content-type': format.contentType });
        const first = await a.call('POST', format.path, { headers, body: format.body(c, 1) });
        expect(first.status, `${format.name}: ${first.text}`).toBeLessThan(300);
        const before = await count(collection);
        const other = await a.call('POST', format.path, { headers, body: format.body(c, 2) });
        expect(other.status, format.name).toBe(422);
        expect(other.text, format.name).toContain('idempotency_key_reused');
        expect(other.text).not.toMatch(/SPEC|seed|§/);
        if (format.name === 'XML object batch') expect(other.text).toContain('<response status="error"');
        if (format.name.startsWith('OData')) expect(other.json.error.code).toBe('idempotency_key_reused');
        expect(await count(collection)).toBe(before);
      }
    });

    it('a key reused on another endpoint, in another format or for a single write is 422', async () => {
      const c = fresh();
      const key = newKey();
      const ops = await a.call('POST', '/batch', { json: { requests: [{ method: 'POST', path: `/v1/${c}`, body: {} }] }, headers: keyed(key) });
      expect(ops.status).toBe(200);
      const requests = await a.call('POST', '/v1/batch', { json: [{ id: '1', method: 'POST', path: `/v1/${c}`, body: '{}' }], headers: keyed(key) });
      expect(requests.status).toBe(422);
      expect(requests.json.code).toBe('idempotency_key_reused');
      const odata = await a.call('POST', '/v1/$batch', { json: { requests: [{ id: '1', method: 'POST', url: `/v1/${c}`, body: {} }] }, headers: keyed(key) });
      expect(odata.status).toBe(422);
      expect(odata.json.error.code).toBe('idempotency_key_reused');
      const single = await a.call('POST', `/v1/${c}`, { json: {}, headers: keyed(key) });
      expect(single.status).toBe(422);
      expect(single.headers.get('content-type')).toBe('application/problem+json');
      expect(single.json.code).toBe('idempotency_key_reused');
      // The same body to another path: another request.
      const elsewhere = await a.call('PUT', `/v1/${c}/x`, { json: {}, headers: keyed(key) });
      expect(elsewhere.status).toBe(422);
      expect(await count(c)).toBe(1);
    });

    it('a malformed key (empty, over 255 characters, a space, non-ASCII) is 400 bad_request and nothing runs', async () => {
      const c = fresh();
      for (const bad of ['', 'k'.repeat(256), 'two words', 'caf\u00e9', '""']) {
        const batch = await a.call('POST', '/batch', { json: { requests: [{ method: 'POST', path: `/v1/${c}`, body: {} }] }, headers: keyed(bad) });
        expect(batch.status, JSON.stringify(bad)).toBe(400);
        expect(batch.json.code).toBe('bad_request');
        expect(batch.json.detail).toContain('Idempotency-Key');
        const single = await a.call('POST', `/v1/${c}`, { json: {}, headers: keyed(bad) });
        expect(single.status).toBe(400);
        expect(single.json.code).toBe('bad_request');
      }
      const xml = await a.call('POST', '/api/object/batch', {
        body: FORMATS[3]!.body(c),
        headers: keyed('two words', { 'content-type': 'application/xml' }),
      });
      expect(xml.status).toBe(400);
      expect(xml.text).toContain('<error code="bad_request">');
      expect(await count(c)).toBe(0);
      // 255 visible characters are a key.
      const longest = await a.call('POST', `/v1/${c}`, { json: {}, headers: keyed('k'.repeat(254) + '~') });
      expect(longest.status).toBe(201);
    });

    it('keys belong to a tenant: another tenant with the same key runs its own request, and never sees the replay', async () => {
      const c = fresh();
      const key = newKey();
      const json = { requests: [{ method: 'POST', path: `/v1/${c}`, body: { v: 1 } }] };
      const acme = await a.call('POST', '/batch', { json, headers: keyed(key) });
      const globex = await a.call('POST', '/batch', { json, headers: keyed(key), token: TOKENS.globex });
      expect(globex.status).toBe(200);
      expect(globex.headers.get('idempotent-replayed')).toBeNull();
      expect(globex.json.responses[0].body.id).not.toBe(acme.json.responses[0].body.id);
      // Another body under the same key is globex's business, not a reuse of acme's key.
      const key2 = newKey();
      await a.call('POST', '/batch', { json, headers: keyed(key2) });
      const other = await a.call('POST', '/batch', { json: { requests: [] }, headers: keyed(key2), token: TOKENS.globex });
      expect(other.status).toBe(200);
      expect(await count(c, a, TOKENS.globex)).toBe(1);
      expect(await count(c)).toBe(2);
      const acmeAgain = await a.call('POST', '/batch', { json, headers: keyed(key) });
      expect(acmeAgain.text).toBe(acme.text);
    });
  });

  describe('while the first request runs', () => {
    it('the same key answers 409 idempotency_in_progress with Retry-After, then the replay', async () => {
      const key = newKey();
      const json = { requests: [{ method: 'POST', path: '/v1/gated', body: { key } }] };
      a.gate.close();
      const first = a.call('POST', '/batch', { json, headers: keyed(key) });
      await a.gate.reached();
      const during = await a.call('POST', '/batch', { json, headers: keyed(key) });
      expect(during.status).toBe(409);
      expect(during.json.code).toBe('idempotency_in_progress');
      expect(Number(during.headers.get('retry-after'))).toBeGreaterThan(0);
      // Another body under the running key is a reuse all the same.
      const reuse = await a.call('POST', '/batch', { json: { requests: [] }, headers: keyed(key) });
      expect(reuse.status).toBe(422);
      // In the format's own form: the XML object batch answers XML.
      const xml = await a.call('POST', '/api/object/batch', { body: FORMATS[3]!.body('x'), headers: keyed(key, { 'content-type': 'application/xml' }) });
      expect(xml.status).toBe(422);
      a.gate.open();
      const done = await first;
      expect(done.status).toBe(200);
      const after = await a.call('POST', '/batch', { json, headers: keyed(key) });
      expect(after.headers.get('idempotent-replayed')).toBe('true');
      expect(after.text).toBe(done.text);
    });

    it('a single write with the same key while it runs: 409 with Retry-After', async () => {
      const key = newKey();
      a.gate.close();
      const first = a.call('PUT', '/v1/gated/single', { json: { v: 1 }, headers: keyed(key) });
      await a.gate.reached();
      const during = await a.call('PUT', '/v1/gated/single', { json: { v: 1 }, headers: keyed(key) });
      expect(during.status).toBe(409);
      expect(during.json.code).toBe('idempotency_in_progress');
      expect(during.headers.get('retry-after')).toBe('1');
      a.gate.open();
      expect((await first).status).toBeLessThan(300);
    });

    it('20 concurrent clients with the same key: exactly one runs, the others get 409 or the replay', async () => {
      const c = fresh();
      const key = newKey();
      const json = { requests: [1, 2, 3].map((v) => ({ method: 'POST', path: `/v1/${c}`, body: { v } })) };
      const answers = await Promise.all(Array.from({ length: 20 }, () => a.call('POST', '/batch', { json, headers: keyed(key) })));
      const ran = answers.filter((r) => r.status === 200 && r.headers.get('idempotent-replayed') === null);
      expect(ran).toHaveLength(1);
      for (const r of answers) {
        if (r.status === 200) expect(r.text).toBe(ran[0]!.text);
        else {
          expect(r.status).toBe(409);
          expect(r.json.code).toBe('idempotency_in_progress');
          expect(r.headers.get('retry-after')).toBeTruthy();
        }
      }
      expect(await count(c)).toBe(3);
    });

    it.runIf(backend.name === 'postgres')('two nodes, one transaction each: the first to commit keeps its writes, the other rolls back and answers its response', async () => {
      const key = newKey();
      const marker = randomUUID();
      const json = { requests: [{ method: 'POST', path: '/v1/gated', body: { marker } }, { method: 'POST', path: '/v1/gated', body: { marker } }] };
      a.gate.close();
      const slow = a.call('POST', '/batch', { json, headers: keyed(key) });
      await a.gate.reached();
      const fast = await b.call('POST', '/batch', { json, headers: keyed(key) });
      expect(fast.status).toBe(200);
      expect(fast.headers.get('idempotent-replayed')).toBeNull();
      a.gate.open();
      const late = await slow;
      expect(late.status).toBe(200);
      expect(late.headers.get('idempotent-replayed')).toBe('true');
      expect(late.text).toBe(fast.text);
      const items = (await a.call('GET', `/v1/gated?$filter=marker eq '${marker}'&$top=100`)).json.items;
      expect(items).toHaveLength(2);
    });

    it.runIf(backend.name === 'postgres')('20 concurrent clients over two nodes with one key: the writes happen once', async () => {
      const c = fresh();
      const key = newKey();
      const json = { requests: [1, 2].map((v) => ({ method: 'POST', path: `/v1/${c}`, body: { v } })) };
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).call('POST', '/batch', { json, headers: keyed(key) })));
      const ran = answers.filter((r) => r.status === 200 && r.headers.get('idempotent-replayed') === null);
      expect(ran.length).toBeLessThanOrEqual(1);
      for (const r of answers) expect([200, 409]).toContain(r.status);
      expect(await count(c)).toBe(2);
    });
  });
});

describeEachBackend('Idempotency-Key claims (requests that are not one transaction)', (backend) => {
  let cluster: TestCluster;
  let a: TestNode;
  let b: TestNode;
  beforeAll(async () => {
    // Every standalone operation commits on its own: a batch of several is several transactions.
    cluster = await startNodes(backend, 2, { idempotencyLeaseS: 1, batchCommitMs: 0 });
    [a, b] = cluster.nodes as [TestNode, TestNode];
  });
  afterAll(() => cluster?.close());
  // A test that failed with a gate closed must not hold the next one up.
  afterEach(() => cluster?.nodes.forEach((node) => node.gate.open()));

  it('the key is claimed with its first commit: another node answers 409 while the rest runs, then the replay', async () => {
    const key = newKey();
    const c = fresh();
    const json = { requests: [{ method: 'PUT', path: `/v1/${c}/first`, body: {} }, { method: 'PUT', path: '/v1/gated/second', body: { key } }] };
    a.gate.close();
    const running = a.call('POST', '/batch', { json, headers: { 'idempotency-key': key } });
    await a.gate.reached();
    // The first operation committed, and the claim with it.
    const row = await cluster.handle.store.idempotencyKeys!.find('acme', key);
    expect(row?.state).toBe('running');
    expect(row!.leaseUntil).toBeGreaterThan(Date.now());
    expect((await b.call('GET', `/v1/${c}/first`)).status).toBe(200);
    const early = await b.call('POST', '/batch', { json, headers: { 'idempotency-key': key } });
    expect(early.status).toBe(409);
    expect(early.json.code).toBe('idempotency_in_progress');
    expect(early.headers.get('retry-after')).toBe('1');
    a.gate.open();
    const done = await running;
    expect(done.json.responses.map((r: { status: number }) => r.status)).toEqual([201, 201]);
    const replay = await b.call('POST', '/batch', { json, headers: { 'idempotency-key': key } });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.text).toBe(done.text);
  });

  it('a claim is renewed while its request runs: past OMNIBUS_IDEMPOTENCY_LEASE_S another node still answers 409', async () => {
    const key = newKey();
    const json = { requests: Array.from({ length: 16 }, (_, i) => ({ method: 'PUT', path: `/v1/gated/${key}-${i}`, body: {} })) };
    a.gate.slow(200); // about 3 s in all, three times the lease
    const running = a.call('POST', '/batch', { json, headers: { 'idempotency-key': key } });
    await new Promise((r) => setTimeout(r, 2200));
    const later = await b.call('POST', '/batch', { json, headers: { 'idempotency-key': key } });
    expect(later.status).toBe(409);
    expect(later.json.code).toBe('idempotency_in_progress');
    const done = await running;
    expect(done.status).toBe(200);
    expect(done.json.responses.every((r: { status: number }) => r.status === 201)).toBe(true);
    const replay = await b.call('POST', '/batch', { json, headers: { 'idempotency-key': key } });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
  });

  it('a claim left behind by a crashed request holds the key until OMNIBUS_IDEMPOTENCY_LEASE_S, then the retry runs', async () => {
    const key = newKey();
    const c = fresh();
    const body = JSON.stringify({ requests: [{ method: 'POST', path: `/v1/${c}`, body: {} }] });
    const now = Date.now();
    await cluster.handle.store.idempotencyKeys!.put(
      'acme',
      key,
      {
        fingerprint: requestFingerprint('POST', '/batch', new URLSearchParams(), body),
        owner: 'a-node-that-crashed',
        state: 'running',
        leaseUntil: now + 1000,
        expiresAt: now + 86_400_000,
      },
      now,
    );
    const held = await a.call('POST', '/batch', { body, headers: { 'idempotency-key': key, 'content-type': 'application/json' } });
    expect(held.status).toBe(409);
    expect(held.json.code).toBe('idempotency_in_progress');
    await new Promise((r) => setTimeout(r, 1100));
    const ran = await a.call('POST', '/batch', { body, headers: { 'idempotency-key': key, 'content-type': 'application/json' } });
    expect(ran.status).toBe(200);
    expect(ran.headers.get('idempotent-replayed')).toBeNull();
    expect((await a.call('GET', `/v1/${c}`)).json.items).toHaveLength(1);
  });

  it('a group after standalone operations: the claim commits with the first of them, the group after it', async () => {
    const key = newKey();
    const c = fresh();
    const json = [
      { id: '1', method: 'PUT', path: `/v1/${c}/alone`, body: '{}' },
      { id: '2', method: 'PUT', path: `/v1/${c}/g1`, body: '{}', transaction: 't' },
      { id: '3', method: 'PUT', path: `/v1/${c}/g2`, body: '{}', transaction: 't' },
    ];
    const first = await a.call('POST', '/v1/batch', { json, headers: { 'idempotency-key': key } });
    expect(first.json.map((r: { code: number }) => r.code)).toEqual([201, 201, 201]);
    const again = await b.call('POST', '/v1/batch', { json, headers: { 'idempotency-key': key } });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((await a.call('GET', `/v1/${c}`)).json.items).toHaveLength(3);
  });
});

describeEachBackend('Idempotency-Key expiry', (backend) => {
  let cluster: TestCluster;
  let a: TestNode;
  beforeAll(async () => {
    cluster = await startNodes(backend, 1, { idempotencyTtlS: 1 });
    a = cluster.nodes[0]!;
  });
  afterAll(() => cluster?.close());
  // A test that failed with a gate closed must not hold the next one up.
  afterEach(() => cluster?.nodes.forEach((node) => node.gate.open()));

  it('after OMNIBUS_IDEMPOTENCY_TTL_S the same key is new again: the request runs, another body is accepted', async () => {
    const c = fresh();
    const key = newKey();
    const first = await a.call('POST', `/v1/${c}`, { json: { v: 1 }, headers: { 'idempotency-key': key } });
    await new Promise((r) => setTimeout(r, 1200));
    const again = await a.call('POST', `/v1/${c}`, { json: { v: 1 }, headers: { 'idempotency-key': key } });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBeNull();
    expect(again.json.id).not.toBe(first.json.id);
    await new Promise((r) => setTimeout(r, 1200));
    const other = await a.call('POST', `/v1/${c}`, { json: { v: 2 }, headers: { 'idempotency-key': key } });
    expect(other.status).toBe(201);
    expect((await a.call('GET', `/v1/${c}`)).json.items).toHaveLength(3);
  });

  it('expired keys are swept in the background, in chunks, while requests keep being answered', async () => {
    const keys = cluster.handle.store.idempotencyKeys!;
    const now = Date.now();
    const expired = Array.from({ length: 1600 }, (_, i) => `expired-${i}`);
    await cluster.handle.store.transaction(async () => {
      for (const key of expired) {
        const row = { fingerprint: 'f', owner: 'o', state: 'done' as const, response: { status: 200, headers: {}, body: new Uint8Array([1]) }, leaseUntil: now, expiresAt: now - 1 };
        await keys.put('sweep', key, row, now);
      }
    });
    let slowest = 0;
    let gone = false;
    const deadline = Date.now() + 8000;
    while (!gone && Date.now() < deadline) {
      const t = performance.now();
      const r = await a.call('GET', '/healthz');
      expect(r.status).toBe(200);
      const w = await a.call('PUT', `/v1/${fresh()}/x`, { json: {} });
      expect(w.status).toBe(201);
      slowest = Math.max(slowest, performance.now() - t);
      const left = await Promise.all([expired[0]!, expired[799]!, expired[1599]!].map((k) => keys.find('sweep', k)));
      gone = left.every((row) => row === undefined);
      if (!gone) await new Promise((r) => setTimeout(r, 50));
    }
    expect(gone).toBe(true);
    expect(slowest).toBeLessThan(1000);
  });
});
