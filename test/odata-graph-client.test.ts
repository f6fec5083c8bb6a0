import { BatchRequestContent, BatchResponseContent } from '@microsoft/microsoft-graph-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend, startTestServer, TOKENS, type TestServer } from './support/server.js';

/**
 * The Microsoft Graph JavaScript client's own batch serializer and parser
 * against a real server. The batch is built with its `BatchRequestContent`
 * and the answer read with its `BatchResponseContent`; only the POST itself
 * is sent here, because the client's `AuthenticationHandler` adds
 * `Authorization` to https URLs of Microsoft's hosts (or configured
 * `customHosts`, https only), so through `Client.api('/$batch')` a test
 * server on plain http would get no token.
 */
describeEachBackend('Microsoft Graph client', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  async function send(content: BatchRequestContent): Promise<BatchResponseContent> {
    const payload = await content.getContent();
    const res = await fetch(`${s.url}/v1/$batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.acme}`, 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('odata-version')).toBe('4.01');
    return new BatchResponseContent((await res.json()) as ConstructorParameters<typeof BatchResponseContent>[0]);
  }

  /** A part's body as the test reads it. */
  const json = (r: Response): Promise<any> => r.json();

  const request = (method: string, path: string, init: { body?: unknown; headers?: Record<string, string> } = {}) =>
    new Request(`${s.url}${path}`, {
      method,
      headers: { ...(init.body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...init.headers },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });

  it('create, patch with If-Match of the create, get and delete, chained by dependsOn', async () => {
    const content = new BatchRequestContent([
      { id: '1', request: request('PUT', '/v1/graph/g1', { body: { displayName: 'first' } }) },
      { id: '2', request: request('PATCH', '/v1/graph/g1', { body: { displayName: 'second' }, headers: { 'If-Match': '$1' } }), dependsOn: ['1'] },
      { id: '3', request: request('GET', "/v1/graph('g1')"), dependsOn: ['2'] },
      { id: '4', request: request('DELETE', '/v1/graph/g1', { headers: { 'If-Match': '$3' } }), dependsOn: ['3'] },
    ]);
    const sent = await content.getContent();
    expect(sent.requests.map((r: any) => [r.id, r.method, r.url, r.dependsOn])).toEqual([
      ['1', 'PUT', '/v1/graph/g1', undefined],
      ['2', 'PATCH', '/v1/graph/g1', ['1']],
      ['3', 'GET', "/v1/graph('g1')", ['2']],
      ['4', 'DELETE', '/v1/graph/g1', ['3']],
    ]);

    const batch = await send(content);
    const created = batch.getResponseById('1');
    expect(created.status).toBe(201);
    expect(created.headers.get('content-type')).toBe('application/json');
    expect(created.headers.get('location')).toBe('/v1/graph/g1');
    expect(await json(created)).toEqual({ id: 'g1', displayName: 'first' });

    const patched = batch.getResponseById('2');
    expect(patched.status).toBe(200);
    const patchedBody = await json(patched);
    expect(patchedBody.displayName).toBe('second');

    const read = batch.getResponseById('3');
    expect(read.status).toBe(200);
    expect(read.headers.get('etag')).toBe(patched.headers.get('etag'));
    expect(await json(read)).toEqual({ id: 'g1', displayName: 'second' });

    const deleted = batch.getResponseById('4');
    expect(deleted.status).toBe(204);
    expect(await deleted.text()).toBe('');
    expect((await s.call('GET', '/v1/graph/g1')).status).toBe(404);
  });

  it('a parallel batch: independent requests, each answered by id, errors in the OData form', async () => {
    await s.call('PUT', '/v1/graphp/a', { json: { n: 1 } });
    const content = new BatchRequestContent([
      { id: 'read', request: request('GET', '/v1/graphp/a') },
      { id: 'create', request: request('POST', '/v1/graphp', { body: { n: 2 } }) },
      { id: 'missing', request: request('GET', '/v1/graphp/nope') },
      { id: 'list', request: request('GET', '/v1/graphp?$top=10') },
    ]);
    const batch = await send(content);
    expect([...batch.getResponses().keys()]).toEqual(['read', 'create', 'missing', 'list']);
    expect(await json(batch.getResponseById('read'))).toEqual({ id: 'a', n: 1 });
    const created = batch.getResponseById('create');
    expect(created.status).toBe(201);
    const { id } = await json(created);
    expect(created.headers.get('location')).toBe(`/v1/graphp/${id}`);
    const missing = batch.getResponseById('missing');
    expect(missing.status).toBe(404);
    expect((await json(missing)).error).toEqual({ code: 'not_found', message: expect.any(String), details: [] });
    const list = await json(batch.getResponseById('list'));
    expect(list.items.map((x: any) => x.id)).toContain('a');
  });

  it('a dependency that fails leaves its dependent unrun: 424 through the client', async () => {
    const content = new BatchRequestContent([
      { id: '1', request: request('GET', '/v1/graphf/none') },
      { id: '2', request: request('PUT', '/v1/graphf/x', { body: {} }), dependsOn: ['1'] },
    ]);
    const batch = await send(content);
    expect(batch.getResponseById('1').status).toBe(404);
    const dependent = batch.getResponseById('2');
    expect(dependent.status).toBe(424);
    expect((await json(dependent)).error.code).toBe('failed_dependency');
    expect((await s.call('GET', '/v1/graphf/x')).status).toBe(404);
  });
});
