import { DynamicsWebApi } from 'dynamics-web-api';
import { o } from 'o.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchPost, loadFixture, type FixtureName } from './fixtures/odata-multipart/fixtures.js';
import { readBatchResponse, statusesOf, type HttpPart } from './fixtures/odata-multipart/multipart.js';
import { batch, bookApi, changeset } from './fixtures/odata-multipart/sap-books.js';
import { describeEachBackend, startTestServer, TOKENS, type CallResult, type TestServer } from './support/server.js';

/**
 * Real OData clients against Omnibus, on every backend: first their recorded
 * batches (test/fixtures/odata-multipart/*.json, made by record.ts there)
 * replayed byte for byte, then the same clients run live, parsing the
 * answers with their own code. All three install from npm and target
 * http://127.0.0.1 as they are; dynamics-web-api needs its URL prefix bent
 * to `/v1/` (`dataApi: { path: '..', version: '1' }`, see record.ts).
 */
describeEachBackend('OData multipart clients', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  async function items(collection: string): Promise<any[]> {
    return (await s.call('GET', `/v1/${collection}?$top=1000`)).json.items;
  }

  async function replay(name: FixtureName): Promise<CallResult> {
    const fixture = loadFixture(name);
    for (const head of fixture.requests.filter((r) => r.method === 'HEAD')) {
      expect((await s.call('HEAD', head.path, { headers: head.headers })).status).toBe(200);
    }
    const post = batchPost(fixture, s.url);
    return s.call('POST', post.path, { body: post.body, headers: post.headers });
  }

  const parts = (r: CallResult, status = 200) => {
    expect(r.status, r.text).toBe(status);
    return readBatchResponse(r.headers.get('content-type'), r.text).parts;
  };

  describe('recorded batches, replayed', () => {
    it('SAP Cloud SDK: HEADs for a CSRF token, then a change set of two creates, a read by key and a list', async () => {
      await s.call('PUT', '/v1/books/sap-1', { json: { title: 'Known' } });
      const before = (await items('books')).length;
      const answer = parts(await replay('sap-cloud-sdk-v4'));
      expect(statusesOf(answer)).toEqual([[201, 201], 200, 200]);
      const cs = answer[0]!;
      if (cs.kind !== 'changeset') throw new Error('not a change set');
      // SAP writes Content-Id (lower-case d) with UUIDs; they come back as Content-ID.
      expect(cs.responses.map((r) => r.mime['content-id'])).toEqual([expect.stringMatching(/^[0-9a-f-]{36}$/), expect.stringMatching(/^[0-9a-f-]{36}$/)]);
      expect(cs.responses.map((r) => r.json.title)).toEqual(['First', 'Second']);
      expect((answer[1] as HttpPart).json).toMatchObject({ id: 'sap-1', title: 'Known' });
      expect((await items('books')).length).toBe(before + 2);
    });

    it('SAP Cloud SDK: a change set whose delete fails answers one 404 part and keeps nothing of it', async () => {
      const answer = parts(await replay('sap-cloud-sdk-v4-failing'));
      expect(statusesOf(answer)).toEqual([404]);
      expect((answer[0] as HttpPart).json.error.code).toBe('not_found');
      expect((await items('books')).some((b) => b.title === 'Doomed')).toBe(false);
    });

    it('dynamics-web-api: a change set of a create and a PATCH of $1, then a read', async () => {
      const answer = parts(await replay('dynamics-web-api'));
      expect(statusesOf(answer)).toEqual([[201, 200], 200]);
      const contacts = await items('contacts');
      expect(contacts.filter((c) => c.firstname === 'Ada' && c.lastname === 'Lovelace')).toHaveLength(1);
    });

    it('o.js without change sets: a POST and a GET, each echoing its Content-ID', async () => {
      const answer = parts(await replay('ojs-batch'));
      expect(statusesOf(answer)).toEqual([201, 200]);
      expect(answer.map((p) => p.mime['content-id'])).toEqual(['1', '2']);
      expect((await items('people')).filter((p) => p.name === 'Ann').length).toBeGreaterThanOrEqual(1);
    });

    it('o.js in change-set mode writes its GET after the change set’s closing delimiter: refused with 400 invalid_multipart, nothing written', async () => {
      const before = await items('people');
      const r = await replay('ojs-changeset');
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe('invalid_multipart');
      expect(r.json.error.message).toMatch(/^OData multipart batch refused: .*after its closing delimiter/);
      expect(await items('people')).toEqual(before);
    });
  });

  describe('clients run live, reading the answers with their own parsers', () => {
    it('SAP Cloud SDK reads a change set’s write responses, a read by key and the failure of a change set', async () => {
      const books = bookApi.requestBuilder();
      await s.call('PUT', '/v1/books/live-1', { json: { title: 'Live', pages: 7 } });
      const responses = await batch(
        changeset(books.create(bookApi.entityBuilder().title('Alpha').pages(1).build()), books.create(bookApi.entityBuilder().title('Beta').build())),
        books.getByKey('live-1'),
      )
        .addCustomHeaders({ authorization: `Bearer ${TOKENS.acme}` })
        .execute({ url: s.url });
      expect(responses).toHaveLength(2);
      const [writes, read] = responses;
      if (!writes!.isWriteResponses() || !read!.isReadResponse()) throw new Error('unexpected response kinds');
      expect(writes.responses.map((w) => w.httpCode)).toEqual([201, 201]);
      expect(writes.responses.map((w) => w.as!(bookApi).title)).toEqual(['Alpha', 'Beta']);
      expect(read.httpCode).toBe(200);
      expect(read.as(bookApi).map((b) => [b.id, b.title, b.pages])).toEqual([['live-1', 'Live', 7]]);

      const failing = await batch(changeset(books.create(bookApi.entityBuilder().title('Never').build()), books.delete('nowhere')))
        .addCustomHeaders({ authorization: `Bearer ${TOKENS.acme}` })
        .execute({ url: s.url });
      expect(failing).toHaveLength(1);
      expect(failing[0]!.isError()).toBe(true);
      expect((failing[0] as { httpCode: number }).httpCode).toBe(404);
      expect((await items('books')).some((b) => b.title === 'Never')).toBe(false);
    });

    it('dynamics-web-api reads a change set with a $1 reference, and a failed change set as one error', async () => {
      const api = new DynamicsWebApi({ serverUrl: `${s.url}/`, dataApi: { path: '..', version: '1' }, onTokenRefresh: async () => TOKENS.acme });
      api.startBatch();
      void api.create({ collection: 'leads', data: { subject: 'Tea' }, contentId: '1' });
      void api.update({ contentId: '$1', data: { rating: 'hot' } });
      void api.retrieveMultiple({ collection: 'leads', top: 3 });
      const [created, updated, list] = (await api.executeBatch()) as [any, any, any];
      expect(created).toMatchObject({ subject: 'Tea' });
      expect(updated).toMatchObject({ id: created.id, subject: 'Tea', rating: 'hot' });
      expect(list.items.map((l: any) => l.id)).toEqual([created.id]);

      api.startBatch();
      void api.create({ collection: 'leads', data: { subject: 'Coffee' }, contentId: '1' });
      void api.update({ contentId: '$1', ifmatch: '"stale"', data: { rating: 'cold' } });
      const failed = (await api.executeBatch()) as any[];
      expect(failed).toHaveLength(1);
      expect(failed[0]).toMatchObject({ status: 412, error: { code: 'precondition_failed' } });
      expect((await items('leads')).map((l) => l.subject)).toEqual(['Tea']);
    });

    it('o.js reads the statuses of a batch, and its change-set mode is refused cleanly', async () => {
      const config = (useChangset: boolean) => ({
        batch: {
          boundaryPrefix: 'batch_',
          changsetBoundaryPrefix: 'changset_',
          endpoint: '$batch',
          headers: new Headers({ 'Content-Type': 'multipart/mixed', Authorization: `Bearer ${TOKENS.acme}` }),
          useChangset,
          useRelativeURLs: false,
        },
        headers: new Headers({ 'Content-Type': 'application/json' }),
      });
      const result = (await o(`${s.url}/v1/`, config(false)).post('pets', { name: 'Rex' }).get('pets').batch()) as any[];
      expect(result.map((r) => [r.contentId, r.status])).toEqual([
        [1, 201],
        [2, 200],
      ]);
      expect(result[1].body.items.map((p: any) => p.name)).toEqual(['Rex']);

      const refused = await o(`${s.url}/v1/`, config(true)).post('pets', { name: 'Fido' }).get('pets').batch().then(
        () => undefined,
        (res: Response) => res,
      );
      expect(refused?.status).toBe(400);
      expect(((await refused!.json()) as any).error.code).toBe('invalid_multipart');
      expect((await items('pets')).map((p) => p.name)).toEqual(['Rex']);
    });
  });
});
