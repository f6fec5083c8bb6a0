import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TOKENS, type TestServer } from '../support/server.js';
import { codesOf, DIALECTS, expectRefused, FREE_PATH_DIALECTS, operationStatuses, recordCount, sendOps, startBystander, type AttackDialect, type Bystander, type PlainOp } from './dialects.js';

/**
 * Attack catalogue, paths: server-side request forgery, traversal and batch
 * nesting through every dialect, over real HTTP. Validation runs on parsed
 * operations before anything runs, the same on every store: SQLite only.
 * The whole list is docs/SECURITY.md.
 */

let s: TestServer;
let bystander: Bystander;
beforeAll(async () => {
  [s, bystander] = await Promise.all([startTestServer(), startBystander()]);
});
afterAll(async () => {
  await Promise.all([s.close(), bystander.close()]);
});

/** A single GET with its path sent byte for byte as given. */
function rawGet(path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: s.port, path, headers: { authorization: `Bearer ${TOKENS.acme}` } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject).end();
  });
}

/** A write that must never happen: it stands before the attack, so a batch that ran anything would leave it. */
const canary = (): PlainOp => ({ method: 'POST', path: '/v1/canary', body: { written: true } });

/** Sends [canary, attack]: the batch is refused whole, the canary is not written, and no connection reached the bystander. */
async function expectAttackRefused(d: AttackDialect, attack: PlainOp, codes: string[]) {
  const before = await recordCount(s);
  const seen = bystander.connections();
  const r = await sendOps(s, d, [canary(), attack]);
  expect(r.status, `${d.name} ${JSON.stringify(attack.path)}: ${r.text.slice(0, 400)}`).toBe(400);
  const found = codesOf(r);
  expect(
    codes.some((c) => found.includes(c)),
    `${d.name} ${JSON.stringify(attack.path)} answered ${found.join(',')}, expected one of ${codes.join(',')}`,
  ).toBe(true);
  expect(await recordCount(s)).toBe(before);
  expect(bystander.connections()).toBe(seen);
  return r;
}

describe('SSRF: an operation path naming another host or scheme', () => {
  const attacks = (): Array<[string, string]> => {
    const host = `127.0.0.1:${bystander.port}`;
    return [
      ['//host (scheme-relative)', `//${host}/v1/books`],
      ['\\\\host (backslashes)', `\\\\${host}\\v1\\books`],
      ['/\\host (slash, backslash)', `/\\${host}/v1/books`],
      ['http:// absolute URL of another port', `http://${host}/v1/books`],
      ['https:// absolute URL', `https://${host}/v1/books`],
      ['file: URL', 'file:///etc/passwd'],
      ['userinfo trick http://own@other', `http://127.0.0.1:${s.port}@${host}/v1/books`],
      ['%2f%2f (encoded scheme-relative)', `/%2f%2f${host}/v1/books`],
      ['%2F%2F upper case', `/%2F%2F${host}`],
      ['%5c%5c (encoded backslashes)', `/%5c%5c${host}/v1`],
      ['tab-prefixed //host', `\t//${host}/v1/books`],
    ];
  };

  describe.each(FREE_PATH_DIALECTS)('$name', (d) => {
    it('refuses every other-host or other-scheme path with 400 invalid_path; no byte leaves the server, nothing is written', async () => {
      for (const [, path] of attacks()) await expectAttackRefused(d, { method: 'GET', path }, ['invalid_path']);
    });
  });

  it('a same-origin absolute URL is the only absolute form taken, and it never opens a connection either (OData JSON)', async () => {
    const seen = bystander.connections();
    const r = await sendOps(s, DIALECTS.find((d) => d.name === 'odata-json')!, [{ method: 'GET', path: `http://127.0.0.1:${s.port}/v1/ssrf` }]);
    expect(r.status).toBe(200);
    expect(r.json.responses[0].status).toBe(200);
    expect(bystander.connections()).toBe(seen);
  });
});

describe('traversal: dot segments, however they are spelled', () => {
  const attacks: Array<[string, string]> = [
    ['.. segments', '/v1/books/../../admin/tokens'],
    ['. segment', '/v1/./books/x'],
    ['%2e%2e (encoded dots)', '/v1/books/%2e%2e/%2e%2e/admin/tokens'],
    ['.%2E (half encoded)', '/v1/books/.%2E/x'],
    ['%00 (NUL) in a segment', '/v1/books/a%00b'],
    ['raw NUL', '/v1/books/a\u0000b'],
    ['raw CR LF (header splitting)', '/v1/books/x\r\nX-Injected: 1'],
    ['%0d%0a (encoded CR LF)', '/v1/books/x%0d%0aX-Injected:%201'],
    ['empty segment', '/v1//books'],
    ['# fragment', '/v1/books/x#y'],
  ];

  describe.each(FREE_PATH_DIALECTS)('$name', (d) => {
    for (const [label, path] of attacks) {
      // A CR or LF cannot stand in a multipart request line at all: there it ends the line (refused as malformed instead).
      const codes = d.name === 'odata-multipart' && /[\r\n]/.test(path) ? ['invalid_path', 'invalid_multipart', 'invalid_header'] : ['invalid_path'];
      it(`${label}: 400 ${codes.join(' / ')}, nothing written`, async () => {
        await expectAttackRefused(d, { method: 'GET', path }, codes);
        await expectAttackRefused(d, { method: 'DELETE', path }, codes);
      });
    }
  });

  describe('xml (the ref attribute is the only path input)', () => {
    const xml = DIALECTS.find((d) => d.name === 'xml')!;
    const refs: Array<[string, string]> = [
      ['ref=".."', '..'],
      ['ref="."', '.'],
    ];
    for (const [label, ref] of refs) {
      it(`${label}: 400 invalid_path, nothing written`, async () => {
        await expectAttackRefused(xml, { method: 'GET', path: `/x/${ref}` }, ['invalid_path']);
        await expectAttackRefused(xml, { method: 'DELETE', path: `/x/${ref}` }, ['invalid_path']);
      });
    }
  });

  it('a dot segment is refused as a single request too (one place reads paths)', async () => {
    // Sent as written: fetch would resolve the dot segments before they left the client.
    for (const path of ['/v1/books/%2e%2e', '/v1/books/.%2E/x', '/v1/books/a%2fb']) {
      const r = await rawGet(path);
      expect(r.status, path).toBe(400);
      expect(JSON.parse(r.text).code, path).toBe('invalid_path');
    }
  });

  it('ids that merely contain dots, percent signs or lookalikes stay ordinary ids', async () => {
    const ops = DIALECTS.find((d) => d.name === 'ops')!;
    const ids = ['a..b', '...', 'v1.2', '50%', 'a%20b', 'x\u2024y', '\uff0ea'];
    const r = await sendOps(
      s,
      ops,
      ids.map((id) => ({ method: 'PUT', path: `/v1/dots/${encodeURIComponent(id)}`, body: { id } })),
    );
    expect(r.status, r.text).toBe(200);
    expect(r.json.responses.map((x: { status: number }) => x.status)).toEqual(ids.map(() => 201));
  });
});

/**
 * A path is percent-decoded once. What decodes to a dot or a slash only on a
 * second reading (`%252e%252e`), or only after Unicode folding (U+2024, U+FF0E,
 * U+3002, U+FF0F), is an ordinary record id: data that names the record it
 * spells, never a step to another route, tenant or host.
 */
describe('traversal: double-encoded dots and Unicode lookalikes are ids, never steps', () => {
  const disguised: Array<[string, string]> = [
    ['%252e%252e (double-encoded dots)', '%252e%252e'],
    ['%252E upper case', '%252E%252E'],
    ['%252f (double-encoded slash) in the id', 'a%252f..%252fb'],
    ['U+2024 ONE DOT LEADER twice', '\u2024\u2024'],
    ['U+2025 TWO DOT LEADER', '\u2025'],
    ['U+FF0E FULLWIDTH FULL STOP', '\uff0e\uff0e'],
    ['U+FF0E percent-encoded', '%EF%BC%8E'],
    ['U+3002 IDEOGRAPHIC FULL STOP', '\u3002\u3002'],
    ['U+FF61 HALFWIDTH IDEOGRAPHIC FULL STOP', '\uff61'],
    ['U+FF0F FULLWIDTH SOLIDUS', '\uff0e\uff0e\uff0fadmin'],
  ];

  describe.each(FREE_PATH_DIALECTS)('$name', (d) => {
    it('a GET of each is 404 (no such record) in a batch that runs; no connection leaves the server', async () => {
      const seen = bystander.connections();
      for (const [label, segment] of disguised) {
        const r = await sendOps(s, d, [{ method: 'GET', path: `/v1/books/${segment}` }]);
        expect(r.status, `${label}: ${r.text.slice(0, 300)}`).toBeLessThan(500);
        expect(operationStatuses(d, r), `${label}: ${r.text.slice(0, 300)}`).toEqual([404]);
      }
      expect(bystander.connections()).toBe(seen);
    });
  });

  it('each written with PUT is a record of that collection under its literal id, read back as a single request', async () => {
    const ops = DIALECTS.find((d) => d.name === 'ops')!;
    const collection = `disguised${Date.now().toString(36)}`;
    const r = await sendOps(s, ops, disguised.map(([label, segment]) => ({ method: 'PUT', path: `/v1/${collection}/${segment}`, body: { label } })));
    expect(r.status, r.text).toBe(200);
    expect(operationStatuses(ops, r)).toEqual(disguised.map(() => 201));
    const ids = r.json.responses.map((x: { body: { id: string } }) => x.body.id);
    expect(ids).toEqual(disguised.map(([, segment]) => decodeURIComponent(segment)));
    const listed = await s.call('GET', `/v1/${collection}?$top=100`);
    expect(listed.json.items.map((i: { id: string }) => i.id).sort()).toEqual([...ids].sort());
    for (const [label, segment] of disguised) expect((await s.call('GET', `/v1/${collection}/${segment}`)).json.label, label).toBe(label);
  });
});

describe('nesting: an operation that targets a batch endpoint', () => {
  const inner = { requests: [{ method: 'DELETE', path: '/v1/canary/any' }] };
  /** Every batch endpoint, and aliases a router, proxy or decoder might take for one. */
  const endpoints: string[] = [
    '/batch',
    '/batch/parts',
    '/v1/batch',
    '/v1',
    '/api/object/batch',
    '/v1/$batch',
    '/v1/%24batch',
    '/operations',
    '/fhir',
    '/fhir/',
    '/services/data/v59.0/composite',
    '/services/data/v1.0/composite/batch',
    '/services/data/v59.0/composite/tree/accounts',
  ];
  const aliases: Array<[string, string]> = [
    ['upper case', '/BATCH'],
    ['mixed case', '/V1/Batch'],
    ['mixed case parts', '/Batch/PARTS'],
    ['case of $batch', '/v1/$BATCH'],
    ['case of an encoded $batch', '/v1/%24Batch'],
    ['case of /operations', '/Operations'],
    ['case of /fhir', '/FHIR'],
    ['case of the composite version and name', '/Services/Data/V59.0/COMPOSITE'],
    ['case of the XML batch', '/API/Object/Batch'],
    ['%62atch', '/%62atch'],
    ['/v1/%62atch', '/v1/%62atch'],
    ['every letter encoded', '/%62%61%74%63%68'],
    ['%6fperations', '/%6Fperations'],
    ['%66hir', '/%66hir'],
    ['%63omposite', '/services/data/v59.0/%63omposite'],
    ['%62atch under /api/object', '/api/object/%62atch'],
    ['a query string', '/v1/batch?x=1'],
    [';params', '/batch;x=1'],
    [';jsessionid', '/v1/batch;jsessionid=abc'],
    [';params on $batch', '/v1/$batch;a=b'],
    [';params on /operations', '/operations;v=1'],
    [';params on /fhir', '/fhir;x'],
    [';params on composite', '/services/data/v59.0/composite;x'],
    [';params under /api/object', '/api/object/batch;v=1'],
    ['key predicate', "/v1('batch')"],
    ['trailing slash', '/batch/'],
    ['trailing slash on /v1/batch', '/v1/batch/'],
    ['double slash inside', '/v1//batch'],
    ['double slash in front', '//batch'],
    ['trailing dot segment', '/v1/batch/.'],
    ['dot-dot back into it', '/v1/x/../batch'],
  ];

  describe.each(FREE_PATH_DIALECTS.filter((d) => d.name !== 'fhir' && d.name !== 'jsonapi-atomic'))('$name', (d) => {
    it('every batch endpoint of every dialect: 400 nested_batch, nothing runs', async () => {
      for (const path of endpoints) await expectAttackRefused(d, { method: 'POST', path, body: inner }, ['nested_batch']);
    });
    it('aliases (case, %62atch encoding, ;params, queries, key predicates): 400 nested_batch; trailing and double slashes, dot segments: 400 invalid_path', async () => {
      for (const [, path] of aliases) {
        const expected = /\/$|\/\/|\/\.{1,2}(\/|$)/.test(path) ? ['invalid_path'] : ['nested_batch'];
        // Composite reads Salesforce urls itself: one whose version is not `v` + digits is no url it serves (invalid_path).
        if (d.name === 'composite' && /^\/services\//i.test(path)) expected.push('invalid_path');
        await expectAttackRefused(d, { method: 'POST', path, body: inner }, expected);
      }
    });
  });

  describe('fhir (urls are Type[/id] under /fhir)', () => {
    const fhir = DIALECTS.find((d) => d.name === 'fhir')!;
    it('the base, /fhir/, an absolute URL of it, and Types routing to a batch endpoint: 400 nested_batch', async () => {
      for (const path of ['/fhir', '/fhir/', '/FHIR', `http://127.0.0.1:${s.port}/fhir`, 'batch', 'Batch', 'BATCH', '/fhir/batch']) {
        await expectAttackRefused(fhir, { method: 'POST', path, body: inner }, ['nested_batch']);
      }
    });
    it('another batch endpoint written as a path, or a Type with ;params: 400 invalid_path (no FHIR url) or nested_batch', async () => {
      for (const path of [...endpoints.filter((p) => !p.startsWith('/fhir')), '/fhir/batch;x=1', 'batch;x=1']) {
        await expectAttackRefused(fhir, { method: 'POST', path, body: inner }, ['invalid_path', 'nested_batch']);
      }
    });
  });

  describe('jsonapi-atomic (targets are type and id)', () => {
    const atomic = DIALECTS.find((d) => d.name === 'jsonapi-atomic')!;
    it('a type named batch (an add POSTs /v1/batch): 400 nested_batch; an href to any batch endpoint or alias: refused 400', async () => {
      for (const type of ['batch', 'Batch', 'BATCH']) await expectAttackRefused(atomic, { method: 'POST', path: `/v1/${type}`, body: {} }, ['nested_batch']);
      for (const path of [...endpoints, ...aliases.map(([, p]) => p)]) {
        // An href is /v1/{type}/{id}: anything else is no resource (bad_request for a remove without an id).
        await expectAttackRefused(atomic, { method: 'DELETE', path }, ['nested_batch', 'invalid_path', 'bad_request']);
      }
    });
  });

  describe('xml (refs are under /api/object/)', () => {
    const xml = DIALECTS.find((d) => d.name === 'xml')!;
    it('<read ref="batch"> (GET /api/object/batch, its own endpoint) in any case: 400 nested_batch', async () => {
      for (const ref of ['batch', 'Batch', 'BATCH']) await expectAttackRefused(xml, { method: 'GET', path: `/x/${ref}` }, ['nested_batch']);
    });
    it('ref="batch;v=1": 400 nested_batch', async () => {
      await expectAttackRefused(xml, { method: 'GET', path: '/x/batch;v=1' }, ['nested_batch']);
    });
  });
});
