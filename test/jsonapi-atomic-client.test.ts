import {
  buildJSONAPISerializerFor,
  ClientError,
  JSONAPIAtomicOperationsDocumentSerializer,
  JSONAPIAtomicResultsDocumentSerializer,
  JSONAPIRequestProcessor,
  JSONAPISerializers,
  type JSONAPIResourceSerializer,
  type ResourceAtomicOperationsDocument,
} from '@orbit/jsonapi';
import { RecordKeyMap, RecordSchema, type InitializedRecord, type RecordOperation } from '@orbit/records';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachBackend, startTestServer, TOKENS, type TestServer } from './support/server.js';

/**
 * A real JSON:API client against Omnibus: Orbit.js (`@orbit/jsonapi` 0.17).
 *
 * Orbit's JSONAPISource does not send atomic operations itself: in 0.17 it
 * turns every operation of a transform into a request of its own to the
 * base JSON:API endpoints (`POST /people`, `PATCH /people/1`), which
 * Omnibus does not serve. What Orbit has for the extension is its
 * serializers (`JSONAPIAtomicOperationsDocumentSerializer`, which turns its
 * record operations into an `atomic:operations` document) and its
 * `JSONAPIRequestProcessor`, whose `fetch` takes any URL, so it targets
 * `http://127.0.0.1:<port>/operations` as it is. So here Orbit builds every
 * document and sends it, and we assert what Orbit hands back to its user:
 * the response document, its errors (Orbit's ClientError), and the records
 * its resource serializer reads from our results.
 *
 * Orbit's `JSONAPIAtomicResultsDocumentSerializer` cannot read a results
 * document shaped as the extension defines it: it takes each result to be a
 * resource, where the extension has `{"data": <resource>}` (and `{}` for an
 * update or a remove), and throws `Schema: Model 'undefined' not defined`
 * (asserted below). Each result's `data` goes through Orbit's own resource
 * serializer instead, as an app using Orbit with this server would do.
 */

const ATOMIC = 'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic"';

/** People have server-generated ids (Orbit's `remoteId` key); articles and tags use Orbit's own (client-generated) ids. */
const schema = new RecordSchema({
  models: {
    person: {
      keys: { remoteId: {} },
      attributes: { name: { type: 'string' }, birthDate: { type: 'date' } },
    },
    article: {
      attributes: { title: { type: 'string' }, published: { type: 'boolean' }, words: { type: 'number' } },
      relationships: { tags: { kind: 'hasMany', type: 'tag' }, editor: { kind: 'hasOne', type: 'article' } },
    },
    tag: { attributes: { label: { type: 'string' } } },
  },
});

function orbit(s: () => TestServer, token: string = TOKENS.acme, contentType = ATOMIC) {
  const keyMap = new RecordKeyMap();
  const serializerFor = buildJSONAPISerializerFor({ schema, keyMap });
  const operations = new JSONAPIAtomicOperationsDocumentSerializer({ schema, serializerFor, keyMap });
  const resources = serializerFor(JSONAPISerializers.Resource) as JSONAPIResourceSerializer;
  const processor = new JSONAPIRequestProcessor({
    sourceName: 'omnibus',
    schema,
    keyMap,
    defaultFetchSettings: { headers: { Accept: ATOMIC, 'Content-Type': contentType, Authorization: `Bearer ${token}` } },
  });
  /** Orbit serialises the operations and its request processor POSTs them to /operations. */
  const send = (ops: RecordOperation[]) => {
    const json = operations.serialize({ operations: ops });
    return { json, answer: processor.fetch(`${s().url}/operations`, { method: 'POST', json: json as unknown as Record<string, unknown> }) };
  };
  /** An add's result read back by Orbit's resource serializer, as the record `local` now is (its remote key learnt). */
  const record = (result: { data?: unknown }, local?: InitializedRecord): InitializedRecord => {
    const r = resources.deserialize(result.data as never, local ? { primaryRecord: local } : undefined);
    keyMap.pushRecord(r);
    return r;
  };
  return { keyMap, send, record, serializerFor, processor };
}

describeEachBackend('jsonapi-atomic with Orbit.js', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it("Orbit's documents run: server-generated and client-generated ids, relationships, dates; Orbit reads the records back", async () => {
    const client = orbit(() => s);
    const dan: InitializedRecord = { type: 'person', id: schema.generateId('person'), attributes: { name: 'Dan', birthDate: new Date(1990, 0, 2) } };
    const t1: InitializedRecord = { type: 'tag', id: schema.generateId('tag'), attributes: { label: 'json' } };
    const a1: InitializedRecord = {
      type: 'article',
      id: schema.generateId('article'),
      attributes: { title: 'Atomic', published: true, words: 1200 },
      relationships: { tags: { data: [{ type: 'tag', id: t1.id }] } },
    };
    const { json, answer } = client.send([
      { op: 'addRecord', record: dan },
      { op: 'addRecord', record: t1 },
      { op: 'addRecord', record: a1 },
    ]);
    // What Orbit sent: a person without id (its remote id is the server's to give), the others with Orbit's ids.
    expect((json as ResourceAtomicOperationsDocument)['atomic:operations'].map((o) => [o.op, o.ref, (o.data as { id?: string }).id])).toEqual([
      ['add', { type: 'person' }, undefined],
      ['add', { type: 'tag', id: t1.id }, t1.id],
      ['add', { type: 'article', id: a1.id }, a1.id],
    ]);
    const { response, document } = await answer;
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(ATOMIC);
    const results = (document as unknown as { 'atomic:results': Array<{ data?: unknown }> })['atomic:results'];
    expect(results).toHaveLength(3);

    const person = client.record(results[0]!, dan);
    expect(person.id).toBe(dan.id); // Orbit's local id, with the server's id as its key
    expect(person.keys?.['remoteId']).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(person.attributes).toEqual({ name: 'Dan', birthDate: new Date(1990, 0, 2) });
    expect(client.keyMap.keyToId('person', 'remoteId', person.keys!['remoteId']!)).toBe(dan.id);
    const article = client.record(results[2]!);
    expect(article).toEqual({ ...a1, links: { self: `/v1/article/${a1.id}` } });
    expect(client.record(results[1]!)).toMatchObject({ type: 'tag', id: t1.id, attributes: { label: 'json' } });

    // The records are what Orbit sent, as the resource API stores them.
    const stored = await s.call('GET', `/v1/article/${a1.id}`);
    expect(stored.json).toEqual({ id: a1.id, title: 'Atomic', published: true, words: 1200, relationships: { tags: { data: [{ type: 'tag', id: t1.id }] } } });

    // Orbit's results serializer expects bare resources, not the extension's {data} results.
    const orbitResults = new JSONAPIAtomicResultsDocumentSerializer({ schema, serializerFor: client.serializerFor, keyMap: client.keyMap });
    expect(() => orbitResults.deserialize(document as never)).toThrow(/Model 'undefined' not defined/);
  });

  it('Orbit updates by its local id, mapped to the remote one, and replaces attributes and relationships; then removes', async () => {
    const client = orbit(() => s);
    const ann: InitializedRecord = { type: 'person', id: schema.generateId('person'), attributes: { name: 'Ann' } };
    const first = await client.send([{ op: 'addRecord', record: ann }]).answer;
    const person = client.record((first.document as unknown as { 'atomic:results': Array<{ data: unknown }> })['atomic:results'][0]!, ann);
    const remote = person.keys!['remoteId']!;
    const a2: InitializedRecord = { type: 'article', id: schema.generateId('article'), attributes: { title: 'Draft' } };
    const { json, answer } = client.send([
      { op: 'updateRecord', record: { type: 'person', id: ann.id, attributes: { name: 'Ann B', birthDate: new Date(2000, 5, 30) } } },
      { op: 'addRecord', record: a2 },
      { op: 'replaceAttribute', record: { type: 'article', id: a2.id }, attribute: 'title', value: 'Final' },
      { op: 'updateRecord', record: { type: 'article', id: a2.id, attributes: { published: false }, relationships: { editor: { data: { type: 'article', id: a2.id } } } } },
    ]);
    expect((json as ResourceAtomicOperationsDocument)['atomic:operations'][0]!.ref).toEqual({ type: 'person', id: remote });
    const { response, document } = await answer;
    expect(response.status).toBe(200);
    const results = (document as unknown as { 'atomic:results': unknown[] })['atomic:results'];
    expect([results[0], results[2], results[3]]).toEqual([{}, {}, {}]);
    expect((await s.call('GET', `/v1/person/${remote}`)).json).toEqual({ id: remote, name: 'Ann B', birthDate: '2000-6-30' });
    expect((await s.call('GET', `/v1/article/${a2.id}`)).json).toEqual({
      id: a2.id,
      title: 'Final',
      published: false,
      relationships: { editor: { data: { type: 'article', id: a2.id } } },
    });

    const removed = await client.send([
      { op: 'removeRecord', record: { type: 'article', id: a2.id } },
      { op: 'removeRecord', record: { type: 'person', id: ann.id } },
    ]).answer;
    expect([removed.response.status, removed.document]).toEqual([200, { 'atomic:results': [{}, {}] }]);
    expect((await s.call('GET', `/v1/person/${remote}`)).status).toBe(404);
  });

  it("Orbit's replaceAttribute on a model with a remote key is malformed (a keys member, a fresh id): refused at that member, nothing kept", async () => {
    const client = orbit(() => s);
    const bob: InitializedRecord = { type: 'person', id: schema.generateId('person'), attributes: { name: 'Bob' } };
    const first = await client.send([{ op: 'addRecord', record: bob }]).answer;
    const remote = client.record((first.document as unknown as { 'atomic:results': Array<{ data: unknown }> })['atomic:results'][0]!, bob).keys!['remoteId']!;
    const error = (await client
      .send([
        { op: 'updateRecord', record: { type: 'person', id: bob.id, attributes: { name: 'Bobby' } } },
        { op: 'replaceAttribute', record: { type: 'person', id: bob.id }, attribute: 'name', value: 'Rob' },
      ])
      .answer.catch((e: unknown) => e)) as ClientError & { response: Response; data: { errors: Array<{ code: string; source: unknown }> } };
    expect(error.response.status).toBe(400);
    expect(error.data.errors[0]).toMatchObject({ code: 'bad_request', source: { pointer: '/atomic:operations/1/data/keys' } });
    expect((await s.call('GET', `/v1/person/${remote}`)).json.name).toBe('Bob');
  });

  it('a failure reaches Orbit as its ClientError carrying our errors document; nothing is kept', async () => {
    const client = orbit(() => s);
    const tag: InitializedRecord = { type: 'tag', id: schema.generateId('tag'), attributes: { label: 'dup' } };
    expect((await client.send([{ op: 'addRecord', record: tag }]).answer).response.status).toBe(200);
    const other: InitializedRecord = { type: 'tag', id: schema.generateId('tag'), attributes: { label: 'new' } };
    const error = await client.send([
      { op: 'addRecord', record: other },
      { op: 'addRecord', record: tag },
    ]).answer.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ClientError);
    const e = error as ClientError & { response: Response; data: { errors: Array<Record<string, unknown>> } };
    expect(e.message).toBe('Client error: Conflict');
    expect(e.response.status).toBe(409);
    expect(e.data.errors).toEqual([
      {
        status: '409',
        code: 'conflict',
        title: 'Conflict',
        detail: expect.stringContaining('JSON:API atomic operations'),
        source: { pointer: '/atomic:operations/1' },
      },
    ]);
    expect((await s.call('GET', `/v1/tag/${other.id}`)).status).toBe(404);
  });

  it("Orbit's default JSON:API media type has no atomic ext: 415, which Orbit reports with our errors document", async () => {
    const client = orbit(() => s, TOKENS.acme, 'application/vnd.api+json');
    const error = (await client.send([{ op: 'addRecord', record: { type: 'tag', id: schema.generateId('tag'), attributes: {} } }]).answer.catch((e: unknown) => e)) as ClientError & {
      response: Response;
      data: { errors: Array<{ code: string }> };
    };
    expect(error).toBeInstanceOf(ClientError);
    expect(error.response.status).toBe(415);
    expect(error.data.errors[0]!.code).toBe('unsupported_media_type');
  });

  it('a 404 failure: Orbit resolves with the status and no document (its processor passes 404s through)', async () => {
    const client = orbit(() => s);
    const { response, document } = await client.send([{ op: 'removeRecord', record: { type: 'tag', id: schema.generateId('tag') } }]).answer;
    expect(response.status).toBe(404);
    expect(document).toBeUndefined();
    expect(((await response.json()) as { errors: unknown[] }).errors[0]).toMatchObject({ code: 'not_found', source: { pointer: '/atomic:operations/0' } });
  });

  describe('an unknown token', () => {
    it('is 401 to Orbit, with our errors document', async () => {
      const client = orbit(() => s, 'nope');
      const error = (await client.send([{ op: 'removeRecord', record: { type: 'tag', id: 'x' } }]).answer.catch((e: unknown) => e)) as ClientError & {
        response: Response;
        data: { errors: Array<{ code: string }> };
      };
      expect(error.response.status).toBe(401);
      expect(error.data.errors[0]!.code).toBe('unauthorized');
    });
  });
});
