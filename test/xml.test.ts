import { SaxesParser } from 'saxes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachBackend, startTestServer, TOKENS, type TestServer } from './support/server.js';

/** A parsed XML element, for reading responses in tests. */
interface El {
  name: string;
  attrs: Record<string, string>;
  children: El[];
  text: string;
}

function parseXml(text: string): El {
  const parser = new SaxesParser({ xmlns: false });
  const stack: El[] = [];
  let root: El | undefined;
  parser.on('opentag', (t) => {
    const el: El = { name: t.name, attrs: { ...(t.attributes as Record<string, string>) }, children: [], text: '' };
    stack[stack.length - 1]?.children.push(el);
    root ??= el;
    stack.push(el);
  });
  parser.on('text', (t) => {
    const top = stack[stack.length - 1];
    if (top) top.text += t;
  });
  parser.on('closetag', () => void stack.pop());
  parser.write(text).close();
  return root!;
}

interface Attr {
  d: string;
  q?: string;
  vt: number;
  value: string;
}

/** `<object>` back to the JSON attribute form. */
function attrsOf(object: El): Attr[] {
  const list = object.children.find((c) => c.name === 'attributes')!;
  return list.children.map((a) => {
    const text = a.children.find((c) => c.name === 'text');
    const out: Attr = { d: a.attrs['d']!, vt: Number(a.attrs['vt']), value: text ? text.text : a.text };
    if (a.attrs['q'] !== undefined) out.q = a.attrs['q'];
    return out;
  });
}

const DECL = '<?xml version="1.0" encoding="UTF-8"?>';

function esc(v: string): string {
  return v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/\r/g, '&#13;').replace(/\n/g, '&#10;').replace(/\t/g, '&#9;');
}

function attrXml(a: Attr): string {
  const q = a.q !== undefined ? ` q="${esc(a.q)}"` : '';
  const value = a.vt >= 16 ? `<text>${esc(a.value)}</text>` : esc(a.value);
  return `<a d="${esc(a.d)}"${q} vt="${a.vt}">${value}</a>`;
}

const objectXml = (attrs: Attr[], included?: string) =>
  `<object><attributes${included !== undefined ? ` included_attrs="${included}"` : ''}>${attrs.map(attrXml).join('')}</attributes></object>`;

const doc = (ops: string, identifier = 'test-1') => `${DECL}\n<request identifier="${identifier}">\n  <operations>\n    ${ops}\n  </operations>\n</request>`;

describeEachBackend('xml dialect', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  interface XmlResult {
    status: number;
    headers: Headers;
    text: string;
    root: El;
  }

  async function xmlBatch(
    body: string,
    init: { server?: TestServer; contentType?: string; token?: string | null } = {},
  ): Promise<XmlResult> {
    const r = await (init.server ?? s).call('POST', '/api/object/batch', {
      body,
      headers: { 'content-type': init.contentType ?? 'text/xml; charset=utf-8' },
      token: init.token,
    });
    return { status: r.status, headers: r.headers, text: r.text, root: parseXml(r.text) };
  }

  /** Expects a refused batch in the XML error form. */
  function expectRefused(r: XmlResult, status: number, code: string, identifier = ''): void {
    expect(r.status).toBe(status);
    expect(r.headers.get('content-type')).toMatch(/^application\/xml/);
    expect(r.root.name).toBe('response');
    expect(r.root.attrs).toEqual({ status: 'error', identifier });
    expect(r.root.children).toHaveLength(1);
    const [error] = r.root.children;
    expect(error!.name).toBe('error');
    expect(error!.attrs['code']).toBe(code);
    expect(error!.children[0]!.name).toBe('message');
    expect(error!.children[0]!.text.length).toBeGreaterThan(0);
  }

  async function objectCount(server: TestServer = s, token: string = TOKENS.acme): Promise<number> {
    return (await server.call('GET', '/v1/objects?$top=1000', { token })).json.items.length;
  }

  async function createObject(attrs: Attr[], server: TestServer = s, token?: string): Promise<string> {
    const r = await server.call('POST', '/v1/objects', { json: { attributes: attrs }, token });
    expect(r.status).toBe(201);
    return r.json.id;
  }

  const TITLE: Attr = { d: 'title', vt: 16, value: 'Nice book' };

  describe('xml dialect (seed 003): operations', () => {
    it('create, read, update and delete, each answered in order with index, url and ref', async () => {
      const keep = await createObject([TITLE, { d: 'pages', vt: 3, value: '12' }]);
      const doomed = await createObject([TITLE]);
      const r = await xmlBatch(
        doc(
          [
            `<create>${objectXml([{ d: 'title', vt: 16, value: 'Created' }])}</create>`,
            `<read ref="${keep}"/>`,
            `<update ref="${keep}">${objectXml([{ d: 'title', vt: 16, value: 'Replaced' }])}</update>`,
            `<delete ref="${doomed}"/>`,
            `<read ref="missing-ref"/>`,
          ].join('\n    '),
          'import-7',
        ),
      );
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^application\/xml/);
      expect(r.text.startsWith(DECL)).toBe(true);
      expect(r.root.attrs).toEqual({ status: 'success', identifier: 'import-7' });
      const [create, read, update, del, error] = r.root.children;
      expect(r.root.children.map((c) => [c.name, c.attrs['index']])).toEqual([
        ['create', '0'],
        ['read', '1'],
        ['update', '2'],
        ['delete', '3'],
        ['error', '4'],
      ]);
      const created = create!.attrs['ref']!;
      expect(create!.attrs['url']).toBe(`${s.url}/api/object/${created}`);
      expect((await s.call('GET', `/v1/objects/${created}`)).json.attributes).toEqual([{ d: 'title', vt: 16, value: 'Created' }]);

      expect(read!.attrs).toEqual({ index: '1', url: `${s.url}/api/object/${keep}`, ref: keep });
      const object = read!.children[0]!;
      expect(object.name).toBe('object');
      expect(object.attrs['ref']).toBe(keep);
      expect(new Date(object.attrs['created']!).toISOString()).toBe(object.attrs['created']);
      expect(new Date(object.attrs['updated']!).toISOString()).toBe(object.attrs['updated']);
      expect(attrsOf(object)).toEqual([TITLE, { d: 'pages', vt: 3, value: '12' }]);

      expect(update!.attrs).toEqual({ index: '2', url: `${s.url}/api/object/${keep}`, ref: keep });
      expect((await s.call('GET', `/v1/objects/${keep}`)).json.attributes).toEqual([{ d: 'title', vt: 16, value: 'Replaced' }]);

      expect(del!.attrs).toEqual({ index: '3', ref: doomed });
      expect((await s.call('GET', `/v1/objects/${doomed}`)).status).toBe(404);

      expect(error!.attrs['code']).toBe('not_found');
      expect(error!.children[0]!.text).toBe('No object missing-ref');
    });

    it('operations fail individually: update and delete of a missing object are not_found, the others still run', async () => {
      const r = await xmlBatch(
        doc(
          [
            `<update ref="nope1">${objectXml([TITLE])}</update>`,
            `<create>${objectXml([TITLE])}</create>`,
            `<delete ref="nope2"/>`,
            `<update ref="nope3">${objectXml([TITLE], 'title')}</update>`,
            `<create>${objectXml([{ d: 'bad', vt: 70000, value: 'x' }])}</create>`,
          ].join(''),
        ),
      );
      expect(r.status).toBe(200);
      expect(r.root.children.map((c) => [c.name, c.attrs['code'] ?? ''])).toEqual([
        ['error', 'not_found'],
        ['create', ''],
        ['error', 'not_found'],
        ['error', 'not_found'],
        ['error', 'validation_failed'],
      ]);
      expect(r.root.children[2]!.children[0]!.text).toBe('No object nope2');
      expect((await s.call('GET', `/v1/objects/nope1`)).status).toBe(404);
    });

    it('update with included_attrs removes only the listed descriptors, then appends the given attributes', async () => {
      const ref = await createObject([
        { d: 'title', vt: 16, value: 'Old title' },
        { d: 'author', vt: 16, value: 'A. Writer' },
        { d: 'title', q: 'alternative', vt: 16, value: 'Old alt' },
        { d: 'pages', vt: 3, value: '12' },
        { d: 'isbn', vt: 16, value: '123' },
      ]);
      const r = await xmlBatch(
        doc(
          `<update ref="${ref}">${objectXml(
            [
              { d: 'title', vt: 16, value: 'New title' },
              { d: 'pages', vt: 3, value: '13' },
            ],
            'title, pages',
          )}</update>`,
        ),
      );
      expect(r.status).toBe(200);
      expect(r.root.children[0]!.name).toBe('update');
      expect((await s.call('GET', `/v1/objects/${ref}`)).json.attributes).toEqual([
        { d: 'author', vt: 16, value: 'A. Writer' },
        { d: 'isbn', vt: 16, value: '123' },
        { d: 'title', vt: 16, value: 'New title' },
        { d: 'pages', vt: 3, value: '13' },
      ]);
    });

    it('update and delete are unconditional even when the server requires If-Match', async () => {
      const strict = await startTestServer({ requireIfMatch: true });
      try {
        const a = (await strict.call('PUT', '/v1/objects/a', { json: { attributes: [TITLE] }, headers: { 'if-none-match': '*' } })).status;
        expect(a).toBe(201);
        await strict.call('PUT', '/v1/objects/b', { json: { attributes: [TITLE] }, headers: { 'if-none-match': '*' } });
        const r = await xmlBatch(
          doc(
            `<update ref="a">${objectXml([{ d: 'x', vt: 1, value: '1' }])}</update><update ref="a">${objectXml([{ d: 'y', vt: 1, value: '2' }], 'x')}</update><delete ref="b"/>`,
          ),
          { server: strict },
        );
        expect(r.root.children.map((c) => c.name)).toEqual(['update', 'update', 'delete']);
        expect((await strict.call('GET', '/v1/objects/a')).json.attributes).toEqual([{ d: 'y', vt: 1, value: '2' }]);
        expect((await strict.call('GET', '/v1/objects/b')).status).toBe(404);
      } finally {
        await strict.close();
      }
    });

    it('an empty operations list answers success with no results', async () => {
      const r = await xmlBatch(`${DECL}<request identifier="x"><operations/></request>`);
      expect(r.status).toBe(200);
      expect(r.root.attrs).toEqual({ status: 'success', identifier: 'x' });
      expect(r.root.children).toEqual([]);
    });

    it('accepts application/xml, no charset, a quoted UPPER-case charset, single quotes and a lower-case encoding name', async () => {
      const body = `<?xml version='1.0' encoding='utf-8'?><request identifier="q"><operations/></request>`;
      for (const contentType of ['application/xml', 'text/xml', 'text/xml; charset="UTF-8"', 'Application/XML;Charset=utf-8']) {
        expect((await xmlBatch(body, { contentType })).status).toBe(200);
      }
    });
  });

  describe('xml dialect: lossless round trips', () => {
    const tricky: Attr[] = [
      { d: 'title', vt: 16, value: 'Nice book' },
      { d: 'title', q: 'alternative', vt: 16, value: '  leading & trailing spaces  ' },
      { d: 'title', q: 'original', vt: 16, value: 'Line one\nLine two\r\nWindows\tTab' },
      { d: 'pages', vt: 3, value: '12' },
      { d: 'note', vt: 16, value: '<b>not markup</b> & "quotes" \'single\' ]]> done' },
      { d: 'unicode', q: 'ünï "cødé"', vt: 17, value: 'Grüße, 日本語, emoji 📚, RTL עברית' },
      { d: 'empty', vt: 16, value: '' },
      { d: 'emptyNumber', vt: 2, value: '' },
      { d: 'spaces', vt: 5, value: '   ' },
      { d: 'd with\nnewline & <sign>', q: 'tab\there', vt: 0, value: 'x' },
    ];

    it('XML to JSON: a created object reads back through GET /v1/objects/{ref} exactly', async () => {
      const r = await xmlBatch(doc(`<create>${objectXml(tricky)}</create>`));
      expect(r.status).toBe(200);
      const ref = r.root.children[0]!.attrs['ref']!;
      expect((await s.call('GET', `/v1/objects/${ref}`)).json).toEqual({ id: ref, attributes: tricky });
    });

    it('JSON to XML: an object written as JSON reads back through the XML batch and GET /api/object/{ref} exactly', async () => {
      const ref = await createObject(tricky);
      const r = await xmlBatch(doc(`<read ref="${ref}"/>`));
      expect(attrsOf(r.root.children[0]!.children[0]!)).toEqual(tricky);
      const single = await s.call('GET', `/api/object/${ref}`);
      expect(attrsOf(parseXml(single.text))).toEqual(tricky);
    });

    it('XML to JSON to XML: read output fed back as an update changes nothing', async () => {
      const ref = await createObject(tricky);
      const first = await s.call('GET', `/api/object/${ref}`);
      const attributesXml = /<attributes>[\s\S]*<\/attributes>/.exec(first.text)![0];
      const r = await xmlBatch(doc(`<update ref="${ref}"><object>${attributesXml}</object></update>`));
      expect(r.root.children[0]!.name).toBe('update');
      expect((await s.call('GET', `/v1/objects/${ref}`)).json.attributes).toEqual(tricky);
      const second = await s.call('GET', `/api/object/${ref}`);
      expect(/<attributes>[\s\S]*<\/attributes>/.exec(second.text)![0]).toBe(attributesXml);
    });

    it('CDATA and character references are read as text; pretty-printing around <text> is layout', async () => {
      const r = await xmlBatch(
        doc(`<create><object><attributes>
          <a d="c" vt="16">
            <text><![CDATA[<raw> & stuff]]>&#x1F4DA;</text>
          </a>
          <a d="n" vt="3">&#52;2</a>
        </attributes></object></create>`),
      );
      const ref = r.root.children[0]!.attrs['ref']!;
      expect((await s.call('GET', `/v1/objects/${ref}`)).json.attributes).toEqual([
        { d: 'c', vt: 16, value: '<raw> & stuff📚' },
        { d: 'n', vt: 3, value: '42' },
      ]);
    });
  });

  describe('GET /api/object/{ref}', () => {
    it('answers one <object> in XML with ETag; JSON when asked; 304 on a matching If-None-Match', async () => {
      const ref = await createObject([{ d: 'title', q: 'alternative', vt: 16, value: 'Nice book' }, { d: 'pages', vt: 3, value: '12' }]);
      const r = await s.call('GET', `/api/object/${ref}`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^application\/xml/);
      expect(r.text.startsWith(DECL)).toBe(true);
      const object = parseXml(r.text);
      expect(object.name).toBe('object');
      expect(object.attrs['ref']).toBe(ref);
      expect(r.text).toContain('<a d="title" q="alternative" vt="16"><text>Nice book</text></a><a d="pages" vt="3">12</a>');
      const etag = r.headers.get('etag')!;
      expect(etag).toMatch(/^"/);
      const json = await s.call('GET', `/api/object/${ref}`, { headers: { accept: 'application/json' } });
      expect(json.json).toMatchObject({ ref, attributes: [{ d: 'title' }, { d: 'pages' }] });
      expect(json.json.created).toBe(object.attrs['created']);
      expect((await s.call('GET', `/api/object/${ref}`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    });

    it('404 (problem+json) for a missing ref or another tenant\'s ref; 401 without a token', async () => {
      const ref = await createObject([{ d: 'secret', vt: 16, value: 'acme-only' }]);
      const other = await s.call('GET', `/api/object/${ref}`, { token: TOKENS.globex });
      expect(other.status).toBe(404);
      expect(other.json.code).toBe('not_found');
      expect(other.text).not.toContain('acme-only');
      expect((await s.call('GET', '/api/object/nothing-here')).status).toBe(404);
      expect((await s.call('GET', `/api/object/${ref}`, { token: null })).status).toBe(401);
      expect((await s.call('DELETE', `/api/object/${ref}`)).status).toBe(405);
    });
  });

  describe('xml dialect: isolation', () => {
    it('reading another tenant\'s ref is not_found in the response and leaks nothing', async () => {
      const ref = await createObject([{ d: 'secret', vt: 16, value: 'globex-private' }], s, TOKENS.globex);
      const r = await xmlBatch(doc(`<read ref="${ref}"/><update ref="${ref}">${objectXml([TITLE])}</update><delete ref="${ref}"/>`));
      expect(r.status).toBe(200);
      expect(r.root.children.map((c) => c.attrs['code'])).toEqual(['not_found', 'not_found', 'not_found']);
      expect(r.text).not.toContain('globex-private');
      expect((await s.call('GET', `/v1/objects/${ref}`, { token: TOKENS.globex })).json.attributes).toEqual([
        { d: 'secret', vt: 16, value: 'globex-private' },
      ]);
    });
  });

  describe('xml dialect: refused batches run nothing and answer in XML', () => {
    it('65 operations: 413 batch_too_large, nothing runs; 64 run', async () => {
      const before = await objectCount();
      const ops65 = Array.from({ length: 65 }, () => `<create>${objectXml([TITLE])}</create>`).join('');
      expectRefused(await xmlBatch(doc(ops65, 'big')), 413, 'batch_too_large', 'big');
      expect(await objectCount()).toBe(before);
      const ops64 = Array.from({ length: 64 }, () => `<create>${objectXml([TITLE])}</create>`).join('');
      const ok = await xmlBatch(doc(ops64));
      expect(ok.status).toBe(200);
      expect(ok.root.children.filter((c) => c.name === 'create')).toHaveLength(64);
      expect(await objectCount()).toBe(before + 64);
    });

    it('an empty or missing identifier: 400 bad_request', async () => {
      const before = await objectCount();
      expectRefused(await xmlBatch(doc(`<create>${objectXml([TITLE])}</create>`, '')), 400, 'bad_request');
      expectRefused(await xmlBatch(`${DECL}<request><operations><create>${objectXml([TITLE])}</create></operations></request>`), 400, 'bad_request');
      expect(await objectCount()).toBe(before);
    });

    it('an unknown operation or element: 400 bad_request, identifier echoed, nothing runs', async () => {
      const before = await objectCount();
      expectRefused(await xmlBatch(doc(`<create>${objectXml([TITLE])}</create><upsert ref="x"/>`, 'idx')), 400, 'bad_request', 'idx');
      expectRefused(await xmlBatch(doc(`<create><object><attributes><b d="x" vt="1">1</b></attributes></object></create>`)), 400, 'bad_request', 'test-1');
      expectRefused(await xmlBatch(doc(`<create>${objectXml([TITLE])}</create><read/>`)), 400, 'bad_request', 'test-1');
      expectRefused(await xmlBatch(doc(`<create><object><attributes><a d="x" vt="big">1</a></attributes></object></create>`)), 400, 'bad_request', 'test-1');
      expect(await objectCount()).toBe(before);
    });

    it('a missing or wrong XML declaration: 400 invalid_xml', async () => {
      const before = await objectCount();
      const ops = `<create>${objectXml([TITLE])}</create>`;
      expectRefused(await xmlBatch(doc(ops).slice(DECL.length)), 400, 'invalid_xml');
      expectRefused(await xmlBatch(doc(ops).replace(DECL, '<?xml version="1.0"?>')), 400, 'invalid_xml');
      expectRefused(await xmlBatch(doc(ops).replace(DECL, '<?xml version="1.0" encoding="ISO-8859-1"?>')), 400, 'invalid_xml');
      expectRefused(await xmlBatch(`\n${doc(ops)}`), 400, 'invalid_xml');
      expect(await objectCount()).toBe(before);
    });

    it('a wrong content type or charset: 415 unsupported_media_type', async () => {
      const before = await objectCount();
      const body = doc(`<create>${objectXml([TITLE])}</create>`);
      expectRefused(await xmlBatch(body, { contentType: 'application/json' }), 415, 'unsupported_media_type', 'test-1');
      expectRefused(await xmlBatch(body, { contentType: 'text/xml; charset=iso-8859-1' }), 415, 'unsupported_media_type', 'test-1');
      expectRefused(await xmlBatch(body, { contentType: 'text/plain' }), 415, 'unsupported_media_type', 'test-1');
      expect(await objectCount()).toBe(before);
    });

    it('not well-formed, or several root elements: 400 invalid_xml', async () => {
      const before = await objectCount();
      const ops = `<create>${objectXml([TITLE])}</create>`;
      expectRefused(await xmlBatch(`${doc(ops, 'two')}<request identifier="again"><operations/></request>`), 400, 'invalid_xml', 'two');
      expectRefused(await xmlBatch(doc(`${ops}<create><object>`)), 400, 'invalid_xml', 'test-1');
      expectRefused(await xmlBatch(doc(`${ops}<read ref="a&b"/>`)), 400, 'invalid_xml', 'test-1');
      expectRefused(await xmlBatch(doc(`${ops}<read ref="x"/>&undefined;`)), 400, 'invalid_xml', 'test-1');
      expect(await objectCount()).toBe(before);
    });

    it('XXE: an external entity reading /etc/passwd is refused (400 invalid_xml) and nothing of the file leaks', async () => {
      const before = await objectCount();
      const xxe = `${DECL}
  <!DOCTYPE request [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
  <request identifier="xxe"><operations>
    <create><object><attributes><a d="leak" vt="16"><text>&xxe;</text></a></attributes></object></create>
  </operations></request>`;
      const r = await xmlBatch(xxe);
      expectRefused(r, 400, 'invalid_xml');
      expect(r.text).not.toContain('root:');
      expect(await objectCount()).toBe(before);
    });

    it('a billion-laughs entity bomb is refused fast', async () => {
      const lol = [`<!ENTITY lol0 "lol">`];
      for (let i = 1; i < 10; i++) lol.push(`<!ENTITY lol${i} "${`&lol${i - 1};`.repeat(10)}">`);
      const bomb = `${DECL}\n<!DOCTYPE request [\n${lol.join('\n')}\n]>\n<request identifier="&lol9;"><operations/></request>`;
      const started = performance.now();
      const r = await xmlBatch(bomb);
      expect(performance.now() - started).toBeLessThan(1000);
      expectRefused(r, 400, 'invalid_xml');
      expect(r.text.length).toBeLessThan(1000);
    });

    it('an external DTD is refused (400 invalid_xml)', async () => {
      const r = await xmlBatch(`${DECL}\n<!DOCTYPE request SYSTEM "http://127.0.0.1:1/evil.dtd">\n<request identifier="x"><operations/></request>`);
      expectRefused(r, 400, 'invalid_xml');
      const r2 = await xmlBatch(`${DECL}\n<request identifier="x"><operations/></request>\n<!DOCTYPE late>`);
      expectRefused(r2, 400, 'invalid_xml');
    });

    it('a 10 MB attribute value passes the body limit: 413 body_too_large, in XML form', async () => {
      const before = await objectCount();
      const big = doc(`<create>${objectXml([{ d: 'blob', vt: 16, value: 'x'.repeat(10 * 1024 * 1024) }])}</create>`);
      expectRefused(await xmlBatch(big), 413, 'body_too_large');
      expect(await objectCount()).toBe(before);
    });

    it('no token: 401 unauthorized, in XML form', async () => {
      const r = await xmlBatch(doc(`<create>${objectXml([TITLE])}</create>`), { token: null });
      expectRefused(r, 401, 'unauthorized');
      expect(r.headers.get('www-authenticate')).toBe('Bearer');
      expectRefused(await xmlBatch(doc(''), { token: 'bogus' }), 401, 'unauthorized');
    });

    it('a read-only token: each write is forbidden individually, reads work', async () => {
      const ref = await createObject([TITLE]);
      const r = await xmlBatch(doc(`<create>${objectXml([TITLE])}</create><read ref="${ref}"/><delete ref="${ref}"/>`), { token: TOKENS.acmeRead });
      expect(r.status).toBe(200);
      expect(r.root.children.map((c) => c.attrs['code'] ?? c.name)).toEqual(['forbidden', 'read', 'forbidden']);
      expect((await s.call('GET', `/v1/objects/${ref}`)).status).toBe(200);
    });
  });

  describe('xml dialect: object limit', () => {
    it('with N-1 of N stored, 2 creates and a delete are rejected whole (403), and the delete did not run', async () => {
      const limited = await startTestServer({ maxObjects: 4 });
      try {
        const refs: string[] = [];
        for (let i = 0; i < 3; i++) refs.push(await createObject([{ d: 'n', vt: 3, value: String(i) }], limited));
        const r = await xmlBatch(
          doc(`<create>${objectXml([TITLE])}</create><create>${objectXml([TITLE])}</create><delete ref="${refs[0]}"/>`, 'lim'),
          { server: limited },
        );
        expectRefused(r, 403, 'object_limit_exceeded', 'lim');
        expect(await objectCount(limited)).toBe(3);
        expect((await limited.call('GET', `/v1/objects/${refs[0]}`)).status).toBe(200);

        // One create fits exactly; a batch without creates is never refused for the limit.
        const one = await xmlBatch(doc(`<create>${objectXml([TITLE])}</create>`), { server: limited });
        expect(one.root.children[0]!.name).toBe('create');
        const reads = await xmlBatch(doc(`<read ref="${refs[1]}"/><delete ref="${refs[0]}"/>`), { server: limited });
        expect(reads.root.children.map((c) => c.name)).toEqual(['read', 'delete']);
        expect(await objectCount(limited)).toBe(3);
      } finally {
        await limited.close();
      }
    });
  });
});
