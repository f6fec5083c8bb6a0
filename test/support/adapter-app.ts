/**
 * What the adapter tests share: a user's own records API over a real SQLite
 * database (Kysely on better-sqlite3), its tokens, and one batch per dialect
 * to run against an Express or a Fastify app built on it.
 *
 * The routes are the user's, not Omnibus's: they authenticate for themselves
 * (`batchPrincipal()` inside a batch, else their own bearer check) and write
 * through `tx.current() ?? db`, so a batch group's transaction is theirs.
 */
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, type Transaction } from 'kysely';
import { expect } from 'vitest';
import { batchPrincipal, transactionContext } from '../../src/adapters/express/index.js';
import type { Principal } from '../../src/auth/principal.js';

export const alice: Principal = { subject: 'alice', tenant: 't1', scopes: new Set(['read', 'write']) };
export const reader: Principal = { subject: 'reader', tenant: 't1', scopes: new Set(['read']) };
export const bob: Principal = { subject: 'bob', tenant: 't2', scopes: new Set(['read', 'write']) };
const TOKENS = new Map<string, Principal>([
  ['alice-token', alice],
  ['reader-token', reader],
  ['bob-token', bob],
]);

/** The adapters' `authenticate` option: the user's own token check. */
export const authenticate = (token: string | undefined): Principal | undefined => (token ? TOKENS.get(token) : undefined);

interface Tables {
  records: { tenant: string; collection: string; id: string; etag: string; body: string; created: string; updated: string };
}

export type Db = Kysely<Tables>;

/** A fresh in-memory database with the user's table, and the transaction hook Omnibus groups run in. */
export async function openDatabase() {
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: new Database(':memory:') }) });
  await db.schema
    .createTable('records')
    .addColumn('tenant', 'text', (c) => c.notNull())
    .addColumn('collection', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('etag', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('created', 'text', (c) => c.notNull())
    .addColumn('updated', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('records_pk', ['tenant', 'collection', 'id'])
    .execute();
  const tx = transactionContext<Transaction<Tables>>((work) => db.transaction().execute(work));
  return { db, tx, close: () => db.destroy() };
}

export interface UserResponse {
  status: number;
  headers: Record<string, string>;
  body?: unknown;
}

/** What every route of the user's app counts, to show its own middleware runs once per operation. */
export interface Seen {
  authRuns: number;
  principals: string[];
}

/**
 * The user's own authentication, as a route middleware would do it: inside a
 * batch the principal comes from `batchPrincipal()`; otherwise from the
 * request's bearer token. Writes need the `write` scope.
 */
export function userAuth(seen: Seen, method: string, authorization: string | undefined): UserResponse | Principal {
  seen.authRuns++;
  const principal = batchPrincipal() ?? authenticate(/^Bearer (\S+)$/.exec(authorization ?? '')?.[1]);
  if (!principal) return problem(401, 'unauthorized', 'no token');
  seen.principals.push(principal.subject);
  if (method !== 'GET' && method !== 'HEAD' && !principal.scopes.has('write')) return problem(403, 'forbidden', 'read-only token');
  return principal;
}

export function problem(status: number, code: string, detail: string): UserResponse {
  return { status, headers: { 'content-type': 'application/problem+json' }, body: { status, code, detail } };
}

const newEtag = () => `"${randomBytes(6).toString('base64url')}"`;

/** The user's records API: one function per route, framework-free, writing through the group's transaction when there is one. */
export function recordsApi(database: Awaited<ReturnType<typeof openDatabase>>) {
  const { db, tx } = database;
  const q = () => tx.current() ?? db;
  const find = (p: Principal, collection: string, id: string) =>
    q().selectFrom('records').selectAll().where('tenant', '=', p.tenant).where('collection', '=', collection).where('id', '=', id).executeTakeFirst();
  const view = (row: Tables['records']) => ({ ...(JSON.parse(row.body) as object), id: row.id });
  const ok = (status: number, row: Tables['records'], extra: Record<string, string> = {}): UserResponse => ({
    status,
    headers: { 'content-type': 'application/json', etag: row.etag, ...extra },
    body: view(row),
  });
  const matches = (ifMatch: string | undefined, row: Tables['records'] | undefined) =>
    ifMatch === undefined || (row !== undefined && (ifMatch === '*' || ifMatch.split(',').some((t) => t.trim() === row.etag)));

  return {
    async list(p: Principal, collection: string): Promise<UserResponse> {
      const rows = await q().selectFrom('records').selectAll().where('tenant', '=', p.tenant).where('collection', '=', collection).orderBy('created').execute();
      return { status: 200, headers: { 'content-type': 'application/json' }, body: { items: rows.map(view) } };
    },
    async get(p: Principal, collection: string, id: string): Promise<UserResponse> {
      const row = await find(p, collection, id);
      return row ? ok(200, row) : problem(404, 'not_found', `no ${collection}/${id}`);
    },
    async create(p: Principal, collection: string, body: unknown): Promise<UserResponse> {
      const now = new Date().toISOString();
      const row = { tenant: p.tenant, collection, id: randomBytes(5).toString('hex'), etag: newEtag(), body: JSON.stringify(body ?? {}), created: now, updated: now };
      await q().insertInto('records').values(row).execute();
      return ok(201, row, { location: `/v1/${collection}/${row.id}` });
    },
    async put(p: Principal, collection: string, id: string, body: unknown, ifMatch?: string): Promise<UserResponse> {
      const row = await find(p, collection, id);
      if (!matches(ifMatch, row)) return problem(412, 'precondition_failed', 'etag mismatch');
      const now = new Date().toISOString();
      const next = { tenant: p.tenant, collection, id, etag: newEtag(), body: JSON.stringify(body ?? {}), created: row?.created ?? now, updated: now };
      if (row) await q().updateTable('records').set({ body: next.body, etag: next.etag, updated: now }).where('tenant', '=', p.tenant).where('collection', '=', collection).where('id', '=', id).execute();
      else await q().insertInto('records').values(next).execute();
      return ok(row ? 200 : 201, next, row ? {} : { location: `/v1/${collection}/${id}` });
    },
    async patch(p: Principal, collection: string, id: string, body: unknown, ifMatch?: string): Promise<UserResponse> {
      const row = await find(p, collection, id);
      if (!row) return problem(ifMatch ? 412 : 404, ifMatch ? 'precondition_failed' : 'not_found', `no ${collection}/${id}`);
      if (!matches(ifMatch, row)) return problem(412, 'precondition_failed', 'etag mismatch');
      const merged = JSON.stringify({ ...(JSON.parse(row.body) as object), ...(body as object) });
      const next = { ...row, body: merged, etag: newEtag(), updated: new Date().toISOString() };
      await q().updateTable('records').set({ body: next.body, etag: next.etag, updated: next.updated }).where('tenant', '=', p.tenant).where('collection', '=', collection).where('id', '=', id).execute();
      return ok(200, next);
    },
    async remove(p: Principal, collection: string, id: string, ifMatch?: string): Promise<UserResponse> {
      const row = await find(p, collection, id);
      if (!row) return problem(ifMatch ? 412 : 404, ifMatch ? 'precondition_failed' : 'not_found', `no ${collection}/${id}`);
      if (!matches(ifMatch, row)) return problem(412, 'precondition_failed', 'etag mismatch');
      await q().deleteFrom('records').where('tenant', '=', p.tenant).where('collection', '=', collection).where('id', '=', id).execute();
      return { status: 204, headers: {} };
    },
    /** `GET /api/object/{ref}`, which the XML dialect's reads go to: the object with its times. */
    async object(p: Principal, ref: string): Promise<UserResponse> {
      const row = await find(p, 'objects', ref);
      if (!row) return problem(404, 'not_found', `no object ${ref}`);
      return { status: 200, headers: { 'content-type': 'application/json', etag: row.etag }, body: { ...view(row), ref, created: row.created, updated: row.updated } };
    },
    /** Straight from the database, outside any route: what is really stored. */
    async stored(tenant: string, collection: string): Promise<Array<Record<string, unknown>>> {
      const rows = await db.selectFrom('records').selectAll().where('tenant', '=', tenant).where('collection', '=', collection).orderBy('created').execute();
      return rows.map(view);
    },
  };
}

export type RecordsApi = ReturnType<typeof recordsApi>;

export interface BatchCall {
  path: string;
  contentType: string;
  body: string;
  token?: string;
}

export interface BatchAnswer {
  status: number;
  contentType: string;
  text: string;
}

/**
 * One batch per dialect, each creating, reading and updating through the
 * user's routes, with a check of the answer. A dialect registered in
 * src/dialects/index.ts without an entry here fails the adapter tests.
 */
export const DIALECT_SCENARIOS: Record<string, { batch: BatchCall; check(answer: BatchAnswer, api: RecordsApi): Promise<void> | void }> = {
  ops: {
    batch: {
      path: '/batch',
      contentType: 'application/json',
      body: JSON.stringify({
        requests: [
          { method: 'PUT', path: '/v1/books/b1', body: { title: 'Dune' } },
          { method: 'GET', path: '/v1/books/b1' },
          { method: 'PATCH', path: '/v1/books/b1', body: { pages: 412 } },
          { method: 'GET', path: '/v1/books/missing' },
          { method: 'GET', path: '/whoami' },
        ],
      }),
    },
    check(answer) {
      const json = JSON.parse(answer.text) as { responses: Array<{ status: number; body: any }> };
      expect(answer.status).toEqual(200);
      expect(json.responses.map((r) => r.status)).toEqual([201, 200, 200, 404, 200]);
      expect(json.responses[2]!.body).toEqual({ title: 'Dune', pages: 412, id: 'b1' });
      expect(json.responses[4]!.body).toEqual({ subject: 'alice', tenant: 't1' });
    },
  },
  requests: {
    batch: {
      path: '/v1/batch',
      contentType: 'application/json',
      body: JSON.stringify([
        { id: 'a', method: 'PUT', path: '/v1/books/r1', headers: 'Content-Type: application/json', body: '{"title":"Hyperion"}' },
        { id: 'b', method: 'GET', path: '/v1/books/r1' },
        { id: 'c', method: 'GET', path: '/whoami?token=reader-token' },
        { id: 'd', method: 'DELETE', path: '/v1/books/r1?token=reader-token' },
      ]),
    },
    check(answer) {
      const json = JSON.parse(answer.text) as Array<{ id: string; code: number; body: string }>;
      expect(answer.status).toEqual(200);
      expect(json.map((r) => [r.id, r.code])).toEqual([['a', 201], ['b', 200], ['c', 200], ['d', 403]]);
      expect(JSON.parse(json[1]!.body)).toEqual({ title: 'Hyperion', id: 'r1' });
      // The per-operation token authenticates that operation only, as that token's principal.
      expect(JSON.parse(json[2]!.body)).toEqual({ subject: 'reader', tenant: 't1' });
    },
  },
  parts: {
    batch: {
      path: '/batch/parts',
      contentType: 'application/json',
      body: JSON.stringify({
        parts: [
          { id: 'p1', path: '/v1/books/pp1', operation: 'replace', payload: { title: 'Solaris' } },
          { id: 'p2', path: '/v1/books/pp1', operation: 'update', payload: { pages: 204 } },
          { id: 'p3', path: '/v1/books/pp1', operation: 'get' },
        ],
      }),
    },
    async check(answer, api) {
      const json = JSON.parse(answer.text) as { parts: Array<{ id: string; payload: any }> };
      expect(answer.status).toEqual(200);
      expect(json.parts.map((p) => p.id)).toEqual(['p1', 'p2', 'p3']);
      expect(json.parts[2]!.payload).toEqual({ title: 'Solaris', pages: 204, id: 'pp1' });
      expect(await api.stored('t1', 'books')).toEqual([{ title: 'Solaris', pages: 204, id: 'pp1' }]);
    },
  },
  xml: {
    batch: {
      path: '/api/object/batch',
      contentType: 'application/xml',
      body:
        '<?xml version="1.0" encoding="UTF-8"?><request identifier="imp-1"><operations>' +
        '<create><object><attributes><a d="title" vt="16"><text>Nice book</text></a></attributes></object></create>' +
        '<read ref="nope"/>' +
        '</operations></request>',
    },
    async check(answer, api) {
      expect(answer.status).toEqual(200);
      expect(answer.text).toMatch(/<response status="success" identifier="imp-1">/);
      expect(answer.text).toMatch(/<create index="0" url="http:\/\/[^"]+\/api\/object\/[0-9a-f]+" ref="[0-9a-f]+"\/>/);
      expect(answer.text).toMatch(/<error index="1" code="not_found">/);
      const stored = await api.stored('t1', 'objects');
      expect(stored.map((o) => o['attributes'])).toEqual([[{ d: 'title', vt: 16, value: 'Nice book' }]]);
    },
  },
  'odata-multipart': {
    batch: {
      path: '/v1/$batch',
      contentType: 'multipart/mixed; boundary=batch_1',
      body: [
        '--batch_1', 'Content-Type: multipart/mixed; boundary=cs1', '',
        '--cs1', 'Content-Type: application/http', 'Content-Transfer-Encoding: binary', 'Content-ID: 1', '',
        'POST /v1/books HTTP/1.1', 'Content-Type: application/json', '', '{"title":"Solaris"}',
        '--cs1', 'Content-Type: application/http', 'Content-Transfer-Encoding: binary', 'Content-ID: 2', '',
        'PATCH $1 HTTP/1.1', 'Content-Type: application/json', 'If-Match: $1', '', '{"pages":2}',
        '--cs1--',
        '--batch_1', 'Content-Type: application/http', '', 'GET /whoami HTTP/1.1', '', '',
        '--batch_1', 'Content-Type: application/http', '', 'GET books/nope HTTP/1.1', '', '',
        '--batch_1--', '',
      ].join('\r\n'),
    },
    async check(answer, api) {
      expect(answer.status).toBe(200);
      expect(answer.contentType).toMatch(/^multipart\/mixed; boundary=batchresponse_/);
      const statuses = [...answer.text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
      expect(statuses).toEqual([201, 200, 200, 404]);
      expect(answer.text).toContain('{"subject":"alice","tenant":"t1"}');
      expect((await api.stored('t1', 'books')).map((b) => [b['title'], b['pages']])).toEqual([['Solaris', 2]]);
    },
  },
  'jsonapi-atomic': {
    batch: {
      path: '/operations',
      contentType: 'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic"',
      body: JSON.stringify({
        'atomic:operations': [
          { op: 'add', data: { type: 'people', lid: 'p1', attributes: { name: 'dgeb' } } },
          { op: 'update', ref: { type: 'people', lid: 'p1' }, data: { type: 'people', lid: 'p1', attributes: { name: 'y' } } },
        ],
      }),
    },
    async check(answer, api) {
      expect(answer.status).toBe(200);
      const results = (JSON.parse(answer.text) as { 'atomic:results': Array<{ data?: { type: string; id: string; attributes: unknown } }> })['atomic:results'];
      expect(results).toHaveLength(2);
      expect(results[0]!.data).toMatchObject({ type: 'people', attributes: { name: 'dgeb' } });
      const stored = await api.stored('t1', 'people');
      expect(stored).toEqual([{ name: 'y', id: results[0]!.data!.id }]);
    },
  },
  fhir: {
    batch: {
      path: '/fhir',
      contentType: 'application/fhir+json',
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: 'urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a', resource: { resourceType: 'Patient', name: 'Ann' }, request: { method: 'POST', url: 'Patient' } },
          {
            resource: { resourceType: 'Observation', subject: { reference: 'urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a' } },
            request: { method: 'PUT', url: 'Observation/o1' },
          },
        ],
      }),
    },
    async check(answer, api) {
      expect(answer.status).toBe(200);
      const bundle = JSON.parse(answer.text) as { type: string; entry: Array<{ response: { status: string; location?: string } }> };
      expect(bundle.type).toBe('transaction-response');
      expect(bundle.entry.map((e) => e.response.status)).toEqual(['201 Created', '201 Created']);
      const [patient] = await api.stored('t1', 'Patient');
      expect(bundle.entry[0]!.response.location).toBe(`Patient/${String(patient!['id'])}`);
      // The reference to the entry's fullUrl became the created record's Type/id.
      expect(await api.stored('t1', 'Observation')).toEqual([{ resourceType: 'Observation', subject: { reference: `Patient/${String(patient!['id'])}` }, id: 'o1' }]);
    },
  },
  'odata-json': {
    batch: {
      path: '/v1/$batch',
      contentType: 'application/json',
      body: JSON.stringify({
        requests: [
          { id: '1', method: 'POST', url: 'books', headers: { 'content-type': 'application/json' }, body: { title: 'Ubik' } },
          { id: '2', method: 'PATCH', url: '$1', headers: { 'if-match': '$1', 'content-type': 'application/json' }, body: { pages: 1 }, dependsOn: ['1'] },
          { id: '3', method: 'GET', url: '/whoami', dependsOn: ['2'] },
        ],
      }),
    },
    check(answer) {
      const json = JSON.parse(answer.text) as { responses: Array<{ id: string; status: number; body: any }> };
      expect(answer.status).toEqual(200);
      const byId = Object.fromEntries(json.responses.map((r) => [r.id, r]));
      expect([byId['1']!.status, byId['2']!.status, byId['3']!.status]).toEqual([201, 200, 200]);
      expect(byId['2']!.body).toMatchObject({ title: 'Ubik', pages: 1 });
      expect(byId['3']!.body).toEqual({ subject: 'alice', tenant: 't1' });
    },
  },
  composite: {
    batch: {
      path: '/services/data/v59.0/composite',
      contentType: 'application/json',
      body: JSON.stringify({
        allOrNone: true,
        compositeRequest: [
          { method: 'POST', url: '/services/data/v59.0/sobjects/books', referenceId: 'book', body: { title: 'Ubik' } },
          { method: 'PATCH', url: '/v1/books/@{book.id}', referenceId: 'upd', body: { pages: 1, about: 'of @{book.title}' } },
          { method: 'GET', url: '/whoami', referenceId: 'me' },
        ],
      }),
    },
    async check(answer, api) {
      expect(answer.status).toEqual(200);
      const json = JSON.parse(answer.text) as { compositeResponse: Array<{ referenceId: string; httpStatusCode: number; body: any }> };
      expect(json.compositeResponse.map((r) => [r.referenceId, r.httpStatusCode])).toEqual([
        ['book', 201],
        ['upd', 200],
        ['me', 200],
      ]);
      expect(json.compositeResponse[1]!.body).toMatchObject({ title: 'Ubik', pages: 1, about: 'of Ubik' });
      expect(json.compositeResponse[2]!.body).toEqual({ subject: 'alice', tenant: 't1' });
      expect(await api.stored('t1', 'books')).toMatchObject([{ title: 'Ubik', pages: 1, about: 'of Ubik' }]);
    },
  },
};
