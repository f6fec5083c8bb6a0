import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachBackend, startTestServer, type CallResult, type TestServer } from '../support/server.js';
import { DIALECTS, dialect, expectRefused, JSON_DIALECTS, operationStatuses, recordCount, send, sendOps, type AttackDialect, type BatchRequest } from './dialects.js';

/**
 * Attack catalogue, bodies: prototype keys stored literally (every backend),
 * JSON nested 100,000 deep, byte and operation-count limits, and strings that
 * are no Unicode text, through every dialect over real HTTP
 * (docs/SECURITY.md).
 */

/** A document with `"PH":1` in the operation's body replaced by `members`, as text (an object literal would set a prototype). */
function withMembers(req: BatchRequest, members: string): BatchRequest {
  // requests carries bodies as JSON strings: there the members go in escaped.
  const body = req.body.includes('"PH":1') ? req.body.replace('"PH":1', members) : req.body.replace('\\"PH\\":1', JSON.stringify(members).slice(1, -1));
  expect(body, 'placeholder not found').not.toBe(req.body);
  return { ...req, body };
}

const PROTO = '"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"prototype":{"polluted":"yes"},"hasOwnProperty":"no","toString":"no"';

describeEachBackend('prototype keys in operation bodies', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  let n = 0;
  const prototypeKeys = () => Object.getOwnPropertyNames(Object.prototype).sort();

  describe.each(DIALECTS.filter((d) => d.name !== 'xml'))('$name', (d) => {
    it('__proto__, constructor.prototype, prototype, hasOwnProperty in a create and a merge patch: stored literally as own members, nothing polluted', async () => {
      const before = prototypeKeys();
      const c = `Pp${++n}${d.name.replace(/[^a-z]/g, '')}`;
      const put = await send(s, withMembers(d.build([{ method: 'PUT', path: `/v1/${c}/x`, body: { PH: 1 } }]), `${PROTO},"a":1`));
      expect(put.status, put.text).toBe(200);
      expect(operationStatuses(d, put)).toEqual([d.name === 'parts' || d.name === 'jsonapi-atomic' ? 200 : 201]);
      const patch = await send(s, withMembers(d.build([{ method: 'PATCH', path: `/v1/${c}/x`, body: { PH: 1 } }]), '"__proto__":{"more":1},"constructor":{"prototype":{"more":1}}'));
      expect(patch.status, patch.text).toBe(200);
      const stored = (await s.services.store.getRecord({ tenant: 'acme', collection: c, id: 'x' }))!;
      expect(Object.getPrototypeOf(stored.data)).toBe(Object.prototype);
      expect(Object.hasOwn(stored.data, '__proto__')).toBe(true);
      const own = (o: object, k: string) => Object.getOwnPropertyDescriptor(o, k)?.value;
      expect(own(stored.data, '__proto__')).toEqual({ polluted: 'yes', more: 1 });
      expect(own(stored.data, 'constructor')).toEqual({ prototype: { polluted: 'yes', more: 1 } });
      expect(own(stored.data, 'prototype')).toEqual({ polluted: 'yes' });
      expect(own(stored.data, 'hasOwnProperty')).toBe('no');
      const read = await s.call('GET', `/v1/${c}/x`);
      expect(read.text).toMatch(/"__proto__":\{("polluted":"yes","more":1|"more":1,"polluted":"yes")\}/);
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
      expect(({} as Record<string, unknown>)['more']).toBeUndefined();
      expect(prototypeKeys()).toEqual(before);
    });
  });

  it('xml: descriptors named __proto__ and constructor are attribute data, nothing polluted', async () => {
    const r = await send(s, {
      path: '/api/object/batch',
      contentType: 'application/xml',
      body: `<?xml version="1.0" encoding="UTF-8"?><request identifier="p"><operations><create><object><attributes><a d="__proto__" vt="16"><text>x</text></a><a d="constructor" q="prototype" vt="1">y</a></attributes></object></create></operations></request>`,
    });
    expect(r.status, r.text).toBe(200);
    const ref = /ref="([^"]+)"/.exec(r.text)![1]!;
    const stored = (await s.services.store.getRecord({ tenant: 'acme', collection: 'objects', id: ref }))!;
    expect(stored.data['attributes']).toEqual([
      { d: '__proto__', vt: 16, value: 'x' },
      { d: 'constructor', q: 'prototype', vt: 1, value: 'y' },
    ]);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('limits and malformed text', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  async function expectAlive() {
    expect((await s.call('GET', '/healthz', { token: null })).status).toBe(200);
  }

  describe('JSON nested 100,000 levels deep', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const deepObject = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;

    it.each(DIALECTS.filter((d) => d.name !== 'xml'))('$name: in an operation body, 400 (the operation, or the batch), fast, nothing written, the server still answers', async (d) => {
      for (const value of [deep, deepObject]) {
        const before = await recordCount(s);
        const started = performance.now();
        const r = await send(s, withMembers(d.build([{ method: 'PUT', path: '/v1/Deep/x', body: { PH: 1 } }]), `"d":${value}`));
        expect(performance.now() - started).toBeLessThan(2000);
        if (r.status === 200) expect(operationStatuses(d, r)).toEqual([400]);
        else expect(r.status, r.text.slice(0, 300)).toBe(400);
        expect(r.text).toMatch(/nests deeper|bad_request|BAD_REQUEST|invalid_json/);
        expect(await recordCount(s)).toBe(before);
      }
      await expectAlive();
    });

    it.each(JSON_DIALECTS)('$name: as the batch document itself, 400, the server still answers', async (d) => {
      const req = d.build([{ method: 'GET', path: '/v1/Deep/x' }]);
      const r = await send(s, { ...req, body: `{"x":${deep}}` });
      expect(r.status, r.text.slice(0, 300)).toBe(400);
      await expectAlive();
    });

    it('a single write: 400 bad_request, nothing stored', async () => {
      const r = await s.call('PUT', '/v1/Deep/single', { body: `{"d":${deep}}`, headers: { 'content-type': 'application/json' } });
      expectRefused(r, 400, 'bad_request');
      expect((await s.call('GET', '/v1/Deep/single')).status).toBe(404);
    });

    it('xml: elements nested 100,000 deep: 400 at the first element out of place (bad_request) or past 32 levels (invalid_xml), fast', async () => {
      const started = performance.now();
      const r = await send(s, {
        path: '/api/object/batch',
        contentType: 'application/xml',
        body: `<?xml version="1.0" encoding="UTF-8"?><request identifier="d"><operations><create><object><attributes><a d="t" vt="16"><text>${'<x>'.repeat(100_000)}${'</x>'.repeat(100_000)}</text></a></attributes></object></create></operations></request>`,
      });
      expect(performance.now() - started).toBeLessThan(2000);
      expectRefused(r, 400, 'bad_request');
      // Where the reader takes any element (its depth is counted before it looks), the parser's depth limit answers.
      const { readXml } = await import('../../src/dialects/xml/parser.js');
      const doc = `<?xml version="1.0" encoding="UTF-8"?>${'<x>'.repeat(100_000)}${'</x>'.repeat(100_000)}`;
      expect(() => readXml(doc, { openElement() {}, closeElement() {}, text() {} })).toThrow(expect.objectContaining({ code: 'invalid_xml' }));
      await expectAlive();
    });
  });

  describe('a 100-operation batch of 1 MB bodies (100 MB, over the 10 MiB limit)', () => {
    const big = 'x'.repeat(1 << 20);
    const hundred = (d: AttackDialect) => d.build(Array.from({ length: 100 }, (_, i) => ({ method: d.name === 'xml' ? 'POST' : 'PUT', path: `/v1/Big/b${i}`, body: { big } })));

    it('ops, sent whole (100 MB on the wire): 413 body_too_large, nothing written', async () => {
      const before = await recordCount(s);
      const r = await send(s, hundred(dialect('ops')));
      expectRefused(r, 413, 'body_too_large');
      expect(await recordCount(s)).toBe(before);
    });

    it.each(DIALECTS)('$name: 413 body_too_large in its own form as soon as the declared Content-Length is read, nothing written', async (d) => {
      const before = await recordCount(s);
      const req = hundred(d);
      const bytes = Buffer.from(req.body);
      expect(bytes.length).toBeGreaterThan(100 * 2 ** 20);
      // The first megabyte only: the answer must not wait for the other 99.
      const r = await new Promise<CallResult>((resolve, reject) => {
        const out = request(`${s.url}${req.path}`, { method: 'POST', headers: { authorization: 'Bearer acme-rw-token', 'content-type': req.contentType, 'content-length': bytes.length } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode!, headers: new Headers(res.headers as Record<string, string>), text, json });
            out.destroy();
          });
        });
        out.on('error', () => {});
        out.write(bytes.subarray(0, 2 ** 20));
        setTimeout(() => reject(new Error('no answer before the body was sent')), 10_000).unref();
      });
      expectRefused(r, 413, 'body_too_large');
      expect(await recordCount(s)).toBe(before);
    });

    it('sent chunked, without Content-Length: 413 body_too_large once 10 MiB have arrived, the rest unread', async () => {
      const before = await recordCount(s);
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(`${s.url}/batch`, { method: 'POST', headers: { authorization: 'Bearer acme-rw-token', 'content-type': 'application/json' } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
          req.destroy();
        });
        req.on('error', () => {});
        const chunk = JSON.stringify({ method: 'PUT', path: '/v1/Big/c', body: { big } }) + ',';
        let sent = 0;
        req.write('{"requests":[');
        const pump = () => {
          // Stops well before 100 MB if the answer came first (the server refused early).
          while (sent < 100 && !req.destroyed) {
            sent++;
            if (!req.write(chunk)) return void req.once('drain', pump);
          }
          if (!req.destroyed) req.end('{"method":"GET","path":"/v1/Big"}]}');
        };
        pump();
        setTimeout(() => reject(new Error('no answer')), 20_000).unref();
      });
      expect(status).toBe(413);
      expect(await recordCount(s)).toBe(before);
      await expectAlive();
    });
  });

  describe('a huge number of tiny operations', () => {
    /** Runs `fn`, sampling the heap every 5 ms: its peak growth in MB and the time taken. */
    async function measured<T>(fn: () => Promise<T>): Promise<{ value: T; peakMb: number; ms: number }> {
      const base = process.memoryUsage().heapUsed;
      let peak = base;
      const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 5);
      const started = performance.now();
      try {
        const value = await fn();
        return { value, peakMb: (peak - base) / 2 ** 20, ms: performance.now() - started };
      } finally {
        clearInterval(timer);
      }
    }

    /** As many GETs as fit in ~8.5 MiB of this dialect's form (under the 10 MiB byte limit, so the count is what refuses it). */
    function tinyBatch(d: AttackDialect): { req: BatchRequest; count: number } {
      const one = d.build([{ method: 'GET', path: '/v1/t/x' }]);
      const two = d.build([{ method: 'GET', path: '/v1/t/x' }, { method: 'GET', path: '/v1/t/x' }]);
      const per = two.body.length - one.body.length;
      const count = Math.floor((8.5 * 2 ** 20) / per);
      return { req: d.build(Array.from({ length: count }, () => ({ method: 'GET', path: '/v1/t/x' }))), count };
    }

    it.each(DIALECTS)('$name: hundreds of thousands of GETs within the byte limit: 413 batch_too_large, quickly, memory bounded, nothing run', async (d) => {
      const { req, count } = tinyBatch(d);
      expect(count).toBeGreaterThan(20_000);
      expect(Buffer.byteLength(req.body)).toBeLessThan(10 * 2 ** 20);
      const { value: r, peakMb, ms } = await measured(() => send(s, req));
      expectRefused(r, 413, 'batch_too_large');
      expect(ms).toBeLessThan(5000);
      expect(peakMb).toBeLessThan(400);
      await expectAlive();
    });
  });

  describe('strings that are no Unicode text (lone surrogates)', () => {
    /** Every string of the document, one at a time, with a lone surrogate appended (JSON escapes it as \ud800). */
    function variants(doc: unknown): string[] {
      const out: string[] = [];
      const paths: (string | number)[][] = [];
      const walk = (v: unknown, path: (string | number)[]) => {
        if (typeof v === 'string') paths.push(path);
        else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
        else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
      };
      walk(doc, []);
      for (const path of paths) {
        const copy = structuredClone(doc) as Record<string | number, unknown>;
        let at: Record<string | number, unknown> = copy;
        for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, unknown>;
        const last = path[path.length - 1]!;
        at[last] = `${at[last] as string}\ud800`;
        out.push(JSON.stringify(copy));
      }
      return out;
    }

    const FHIR_TRANSACTION = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:00000000-0000-4000-8000-000000000001', resource: { resourceType: 'Ls', name: 'a' }, request: { method: 'POST', url: 'Ls' } },
        { request: { method: 'GET', url: "Ls?$filter=ref eq 'urn:uuid:00000000-0000-4000-8000-000000000001'" } },
      ],
    };

    const ODATA_BODIES = (d: AttackDialect): unknown => JSON.parse(d.build([{ method: 'PUT', path: '/v1/Ls/x', headers: { 'If-None-Match': '*' }, body: { name: 'a', tags: ['b'] } }, { method: 'GET', path: '/v1/Ls?$top=1' }]).body);

    it.each(JSON_DIALECTS)('$name: a lone surrogate in any string of the batch: never 5xx, never stored', async (d) => {
      const before = await recordCount(s);
      const docs = variants(ODATA_BODIES(d));
      if (d.name === 'fhir') docs.push(...variants(FHIR_TRANSACTION));
      expect(docs.length).toBeGreaterThan(3);
      const req = d.build([]);
      for (const body of docs) {
        const r: CallResult = await send(s, { ...req, body });
        expect(r.status, `${body}: ${r.text.slice(0, 300)}`).toBeLessThan(500);
        expect(r.text).not.toMatch(/"status":\s*5\d\d|"code":5\d\d|internal/i);
        // A damaged string elsewhere (a query) may leave a well-formed write to run; the surrogate itself is never stored.
        for (const item of (await s.call('GET', '/v1/Ls?$top=1000')).json.items) {
          expect(JSON.stringify(item)).not.toMatch(/\\ud[89ab]/i);
          await s.call('DELETE', `/v1/Ls/${encodeURIComponent(item.id)}`);
        }
      }
      expect(await recordCount(s)).toBe(before);
    });

    it('fhir (regression): a transaction fullUrl with a lone surrogate, mentioned by a GET query, is 400 bad_request, not a 500', async () => {
      const doc = structuredClone(FHIR_TRANSACTION);
      doc.entry[0]!.fullUrl += '\ud800';
      const r = await send(s, { ...dialect('fhir').build([]), body: JSON.stringify(doc) });
      expectRefused(r, 400, 'bad_request');
      expect(r.text).toContain('lone surrogate');
    });
  });
});
