import fc from 'fast-check';
import { SaxesParser } from 'saxes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xmlDialect } from '../src/dialects/index.js';
import { SQLITE_BACKEND } from './support/backends.js';
import { decodeOrRefuse as decode, FUZZ_TEST_TIMEOUT, fuzzOptions, HTTP_FUZZ_RUNS, mutateText, randomText, textMutations, type DecoderHarness } from './support/fuzz.js';
import { startTestServer, type TestServer } from './support/server.js';

/**
 * The XML object batch decoder (`POST /api/object/batch`) never lets
 * anything but a client error out: random bytes, random text from XML's
 * vocabulary (declarations, DTDs, entities, processing instructions, CDATA),
 * documents built from random operations and attributes, and mutations of
 * valid documents. What it accepts encodes to one result per operation; a
 * refusal is a well-formed `<response status="error">` carrying the error's
 * code. Over HTTP a sample of mutated documents never answers 5xx, answers
 * in XML, and a refused one writes nothing. Case counts:
 * test/support/fuzz.ts (OMNIBUS_FUZZ_RUNS).
 */
interface El {
  name: string;
  attrs: Record<string, string>;
  children: El[];
}

/** Reads an answer strictly (saxes, no DTD), independently of the server's own reader. */
function parseXml(text: string): El {
  const parser = new SaxesParser({ xmlns: false });
  const stack: El[] = [];
  let root: El | undefined;
  parser.on('doctype', () => {
    throw new Error('an answer carries a DTD');
  });
  parser.on('opentag', (t) => {
    const el: El = { name: t.name, attrs: { ...(t.attributes as Record<string, string>) }, children: [] };
    stack[stack.length - 1]?.children.push(el);
    root ??= el;
    stack.push(el);
  });
  parser.on('closetag', () => void stack.pop());
  parser.write(text).close();
  return root!;
}

const harness: DecoderHarness = {
  dialect: xmlDialect,
  maxOperations: 64,
  errorForm(encoded, error) {
    expect(encoded.headers['content-type']).toMatch(/^application\/xml/);
    const root = parseXml(encoded.body);
    expect(root.name).toBe('response');
    expect(root.attrs['status']).toBe('error');
    expect(root.children.map((c) => [c.name, c.attrs['code']])).toEqual([['error', error.code]]);
  },
  answerForm(encoded, batch) {
    expect(encoded.status).toBe(200);
    const root = parseXml(encoded.body);
    expect(root.name).toBe('response');
    expect(root.children.map((c) => c.attrs['index'])).toEqual(batch.operations.map((_, i) => String(i)));
  },
};
const decodeOrRefuse = (text: string, contentType = 'text/xml', seed = 0) => decode(harness, text, contentType, seed);

const DECL = '<?xml version="1.0" encoding="UTF-8"?>';
const refs = fc.oneof(fc.constantFrom('83w92', '7qq1', '', '../batch', '..', 'a/b', '%2e%2e', "x('1')", '\u0000', 'a b'), fc.string({ maxLength: 6 }));
const text = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('&amp;', '&lt;x&gt;', '&#0;', '&#x1F600;', '&bogus;', '<![CDATA[a<b]]>', ']]>', '&'));
const attribute = fc
  .record({ d: fc.oneof(fc.constantFrom('title', 'author', ''), fc.string({ maxLength: 5 })), q: fc.option(fc.string({ maxLength: 4 })), vt: fc.oneof(fc.constantFrom('16', '1', '0', '-1', 'x', '99999999999'), fc.string({ maxLength: 3 })), value: text, wrapped: fc.boolean() })
  .map((a) => `<a d="${a.d.replace(/["&<]/g, '')}"${a.q === null ? '' : ` q="${a.q.replace(/["&<]/g, '')}"`} vt="${a.vt.replace(/["&<]/g, '')}">${a.wrapped ? `<text>${a.value}</text>` : a.value}</a>`);
const object = fc.tuple(fc.array(attribute, { maxLength: 3 }), fc.option(fc.constantFrom('title', 'title,author', '', ',,'))).map(([as, included]) => `<object><attributes${included === null ? '' : ` included_attrs="${included}"`}>${as.join('')}</attributes></object>`);
const operation = fc.oneof(
  object.map((o) => `<create>${o}</create>`),
  refs.map((r) => `<read ref="${r.replace(/["&<]/g, '')}"/>`),
  fc.tuple(refs, object).map(([r, o]) => `<update ref="${r.replace(/["&<]/g, '')}">${o}</update>`),
  refs.map((r) => `<delete ref="${r.replace(/["&<]/g, '')}"/>`),
  fc.constantFrom('<upsert ref="a"/>', '<read/>', '<create/>', '<update ref="a"/>', '<!-- c -->', '<?pi x?>', 'loose text'),
);
const documents = fc
  .tuple(fc.oneof(fc.constantFrom('import-7', '', ' '), fc.string({ maxLength: 6 })), fc.array(operation, { maxLength: 8 }), fc.constantFrom(DECL, "<?xml version='1.0' encoding='utf-8'?>", '', '<?xml version="1.0"?>', '<?xml version="1.0" encoding="ISO-8859-1"?>'))
  .map(([id, ops, decl]) => `${decl}\n<request identifier="${id.replace(/["&<]/g, '')}"><operations>${ops.join('')}</operations></request>`);

const VALID = [
  `${DECL}
<request identifier="import-7">
  <operations>
    <create><object><attributes><a d="title" vt="16"><text>Nice book</text></a><a d="year" q="first" vt="3">1999</a></attributes></object></create>
    <read ref="83w92"/>
    <update ref="83w92"><object><attributes included_attrs="title"><a d="title" vt="16"><text>New &amp; <![CDATA[<improved>]]></text></a></attributes></object></update>
    <update ref="83w92"><object><attributes><a d="title" vt="16"><text>All</text></a></attributes></object></update>
    <delete ref="7qq1"/>
  </operations>
</request>`,
  `${DECL}<request identifier="e"><operations/></request>`,
];
const TOKENS = ['<', '>', '/>', '</a>', '<a d="x" vt="16">', '"', '&', '&amp;', '&#0;', '<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]>', '<!ENTITY x "y">', '&e;', '<![CDATA[', ']]>', '<?pi?>', '<!--', '-->', '<create/>', '<read ref="x"/>', 'included_attrs="title"', '\u0000', '\uFFFE', '\uD800'];
const contentTypes = fc.constantFrom('text/xml', 'application/xml', 'application/xml; charset=utf-8', 'text/xml; charset="UTF-8"', 'text/xml; charset=latin1', 'application/json', '');

describe('xml decoder fuzzing', () => {
  it('random bytes, under any content type, never throw anything but a client error', () => {
    fc.assert(
      fc.property(randomText, contentTypes, fc.boolean(), (t, type, declared) => {
        decodeOrRefuse(declared ? `${DECL}${t}` : t, type);
      }),
      fuzzOptions,
    );
  }, FUZZ_TEST_TIMEOUT);

  it('documents built from random operations decode and encode, or are refused with a client error', () => {
    let accepted = 0;
    fc.assert(
      fc.property(documents, fc.nat(7), (doc, seed) => {
        if (!decodeOrRefuse(doc, 'text/xml', seed)) accepted++;
      }),
      fuzzOptions,
    );
    expect(accepted).toBeGreaterThan(0);
  }, FUZZ_TEST_TIMEOUT);

  it('mutations of valid documents never throw anything but a client error', () => {
    for (const doc of VALID) expect(decodeOrRefuse(doc)).toBe(false);
    fc.assert(fc.property(fc.constantFrom(...VALID), textMutations(TOKENS), fc.nat(7), (doc, ms, seed) => void decodeOrRefuse(mutateText(doc, ms), 'text/xml', seed)), fuzzOptions);
  }, FUZZ_TEST_TIMEOUT);
});

describe('xml over HTTP, fuzzed', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({}, SQLITE_BACKEND);
  });
  afterAll(() => s.close());

  it('mutated documents never answer 5xx, always answer XML, and a refused one writes nothing', async () => {
    const count = () => s.services.store.countRecords('acme');
    await fc.assert(
      fc.asyncProperty(textMutations(TOKENS, 4), async (ms) => {
        const before = await count();
        const r = await s.call('POST', '/api/object/batch', { body: mutateText(VALID[0]!, ms), headers: { 'content-type': 'text/xml' } });
        expect(r.status, r.text).toBeLessThan(500);
        expect(r.headers.get('content-type')).toMatch(/^application\/xml/);
        const root = parseXml(r.text);
        if (r.status !== 200) {
          expect(root.attrs['status']).toBe('error');
          expect(await count()).toBe(before);
        } else {
          for (const c of root.children) if (c.name === 'error') expect(c.attrs['code']).not.toBe('internal');
        }
      }),
      { numRuns: HTTP_FUZZ_RUNS },
    );
  }, FUZZ_TEST_TIMEOUT);
});
