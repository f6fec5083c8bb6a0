/**
 * The attack catalogue's view of every batch dialect: one plain description
 * of an operation (`{method, path, headers, body}`) written in each wire
 * format, and a refusal read back in each format's error form. Tests send
 * the same attack through all nine and expect the same verdict.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { expect } from 'vitest';
import { multipartBatch } from '../fixtures/odata-multipart/multipart.js';
import type { CallResult, TestServer } from '../support/server.js';

export interface PlainOp {
  method: string;
  /** A resource API path (`/v1/books/1`), or whatever the attack puts there. */
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface BatchRequest {
  path: string;
  contentType: string;
  body: string;
  headers?: Record<string, string>;
}

export interface AttackDialect {
  name: string;
  /** Whether an operation carries headers of its own. */
  headers: boolean;
  /** Whether an operation's path is written freely (else the dialect builds it from a type, id or ref). */
  freePaths: boolean;
  /** The batch carrying `ops`, in this dialect's wire format. */
  build(ops: PlainOp[]): BatchRequest;
}

export const ATOMIC = 'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic"';
export const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';
const PARTS_OPERATIONS: Record<string, string> = { GET: 'get', POST: 'create', PATCH: 'update', PUT: 'replace', DELETE: 'delete' };
const FHIR_PATH = /^\/v1\/([A-Za-z][A-Za-z0-9]*)(?:\/([^/?]*))?(\?.*)?$/;
const JSONAPI_PATH = /^\/v1\/([A-Za-z0-9_-]+)(?:\/([^/?]+))?$/;

const json = (path: string, doc: unknown, contentType = 'application/json'): BatchRequest => ({ path, contentType, body: JSON.stringify(doc) });

export const DIALECTS: AttackDialect[] = [
  {
    name: 'ops',
    headers: true,
    freePaths: true,
    build: (ops) => json('/batch', { requests: ops.map((o) => ({ method: o.method, path: o.path, headers: o.headers, body: o.body })) }),
  },
  {
    name: 'requests',
    headers: true,
    freePaths: true,
    build: (ops) =>
      json(
        '/v1/batch',
        ops.map((o, i) => ({
          id: `r${i}`,
          method: o.method,
          path: o.path,
          headers: Object.entries(o.headers ?? {})
            .map(([k, v]) => `${k}: ${v}`)
            .join('\n'),
          ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
        })),
      ),
  },
  {
    name: 'parts',
    headers: false,
    freePaths: true,
    build: (ops) =>
      json('/batch/parts', { parts: ops.map((o, i) => ({ id: `p${i}`, path: o.path, operation: PARTS_OPERATIONS[o.method] ?? o.method, payload: o.body })) }),
  },
  {
    name: 'odata-json',
    headers: true,
    freePaths: true,
    build: (ops) => json('/v1/$batch', { requests: ops.map((o, i) => ({ id: String(i + 1), method: o.method, url: o.path, headers: o.headers, body: o.body })) }),
  },
  {
    name: 'odata-multipart',
    headers: true,
    freePaths: true,
    build: (ops) => {
      const { body, contentType } = multipartBatch(ops.map((o) => ({ method: o.method, url: o.path, headers: o.headers, body: o.body })));
      return { path: '/v1/$batch', contentType, body };
    },
  },
  {
    name: 'composite',
    headers: true,
    freePaths: true,
    build: (ops) =>
      json('/services/data/v59.0/composite', {
        compositeRequest: ops.map((o, i) => ({ method: o.method, url: o.path, referenceId: `r${i}`, httpHeaders: o.headers, body: o.body })),
      }),
  },
  {
    name: 'fhir',
    headers: false,
    freePaths: true,
    build: (ops) =>
      json(
        '/fhir',
        {
          resourceType: 'Bundle',
          type: 'batch',
          entry: ops.map((o) => {
            const m = FHIR_PATH.exec(o.path);
            // A resource API path is written the FHIR way (Type/id); anything else goes in as the attack wrote it.
            const url = m ? `${m[1]}${m[2] !== undefined ? `/${m[2]}` : ''}${m[3] ?? ''}` : o.path;
            const type = m ? m[1] : /^[A-Za-z][A-Za-z0-9]*/.exec(o.path.replace(/^\/fhir\/?/i, ''))?.[0];
            const resource =
              o.body !== undefined && type ? { ...(o.body as object), resourceType: type, ...(o.method === 'PUT' && m?.[2] ? { id: decodeURIComponent(m[2]) } : {}) } : o.body;
            return { ...(resource !== undefined && o.method !== 'GET' && o.method !== 'DELETE' ? { resource } : {}), request: { method: o.method, url } };
          }),
        },
        'application/fhir+json',
      ),
  },
  {
    name: 'jsonapi-atomic',
    headers: false,
    freePaths: true,
    build: (ops) =>
      json(
        '/operations',
        {
          'atomic:operations': ops.map((o) => {
            const m = JSONAPI_PATH.exec(o.path);
            const attributes = (o.body ?? {}) as object;
            if (o.method === 'PUT' && m?.[2]) return { op: 'add', data: { type: m[1], id: decodeURIComponent(m[2]), attributes } };
            if (o.method === 'POST' && m && !m[2]) return { op: 'add', data: { type: m[1], attributes } };
            if (o.method === 'PATCH' && m?.[2]) return { op: 'update', data: { type: m[1], id: decodeURIComponent(m[2]), attributes } };
            // Anything else (and every attack path) is a remove of the href as written.
            return { op: 'remove', href: o.path };
          }),
        },
        ATOMIC,
      ),
  },
  {
    name: 'xml',
    headers: false,
    freePaths: false,
    build: (ops) => ({
      path: '/api/object/batch',
      contentType: 'application/xml',
      body: xmlDocument(
        ops
          .map((o) => {
            // The XML batch only knows objects: its ref is the path's last segment, as the attack wrote it.
            const ref = o.path.slice(o.path.lastIndexOf('/') + 1);
            const object = `<object><attributes><a d="title" vt="16"><text>${escapeXml(JSON.stringify(o.body ?? null))}</text></a></attributes></object>`;
            if (o.method === 'POST') return `<create>${object}</create>`;
            if (o.method === 'PUT' || o.method === 'PATCH') return `<update ref="${escapeXml(ref)}">${object}</update>`;
            if (o.method === 'DELETE') return `<delete ref="${escapeXml(ref)}"/>`;
            return `<read ref="${escapeXml(ref)}"/>`;
          })
          .join(''),
      ),
    }),
  },
];

export const JSON_DIALECTS = DIALECTS.filter((d) => d.name !== 'xml' && d.name !== 'odata-multipart');
export const HEADER_DIALECTS = DIALECTS.filter((d) => d.headers);
export const FREE_PATH_DIALECTS = DIALECTS.filter((d) => d.freePaths);

export function dialect(name: string): AttackDialect {
  return DIALECTS.find((d) => d.name === name)!;
}

export function escapeXml(v: string): string {
  return v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function xmlDocument(operations: string, identifier = 'attack'): string {
  return `${XML_DECLARATION}\n<request identifier="${identifier}"><operations>${operations}</operations></request>`;
}

export function send(s: TestServer, req: BatchRequest, init: { token?: string | null; headers?: Record<string, string> } = {}): Promise<CallResult> {
  return s.call('POST', req.path, { body: req.body, token: init.token, headers: { 'content-type': req.contentType, ...req.headers, ...init.headers } });
}

/** Sends `ops` through dialect `d`. */
export function sendOps(s: TestServer, d: AttackDialect, ops: PlainOp[], init?: { token?: string | null; headers?: Record<string, string> }): Promise<CallResult> {
  return send(s, d.build(ops), init);
}

/**
 * The machine code a dialect's answer carries, wherever its form puts it:
 * problem+json `code`, OData `error.code`, Salesforce `errorCode`, FHIR's
 * coding, JSON:API `errors[].code`, XML `code="..."`. Lower case.
 */
export function codesOf(r: CallResult): string[] {
  const out: string[] = [];
  const walk = (v: unknown, key?: string): void => {
    if (typeof v === 'string' && (key === 'code' || key === 'errorCode')) out.push(v.toLowerCase());
    else if (Array.isArray(v)) v.forEach((x) => walk(x));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  if (r.json !== undefined) walk(r.json);
  // Bodies of operations (requests, multipart) are text: their codes too.
  for (const m of r.text.matchAll(/\b(?:code|errorCode)(?:\\?"\s*:\s*\\?"|=")([A-Za-z_]+)/g)) out.push(m[1]!.toLowerCase());
  return out;
}

/** A whole batch refused: `status`, the dialect's error form carrying `code`. */
export function expectRefused(r: CallResult, status: number, code: string): void {
  expect(r.status, r.text.slice(0, 500)).toBe(status);
  expect(codesOf(r), r.text.slice(0, 500)).toContain(code);
}

/** Statuses of every operation's result, in each dialect's answer form (a refused atomic batch: its own status). */
export function operationStatuses(d: AttackDialect, r: CallResult): number[] {
  switch (d.name) {
    case 'ops':
      return r.json.responses.map((x: { status: number }) => x.status);
    case 'requests':
      return r.json.map((x: { code: number }) => x.code);
    case 'odata-json':
      return r.json.responses.map((x: { status: number }) => x.status);
    case 'composite':
      return r.json.compositeResponse.map((x: { httpStatusCode: number }) => x.httpStatusCode);
    case 'fhir':
      return r.json.entry.map((e: { response: { status: string } }) => parseInt(e.response.status, 10));
    case 'odata-multipart':
      return [...r.text.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1]));
    case 'xml':
      return [...r.text.matchAll(/<(create|read|update|delete|error) index="\d+"[^>]*?(?:code="([a-z_]+)")?/g)].map((m) => (m[1] === 'error' ? 400 : 200));
    default:
      // parts and jsonapi-atomic are all-or-none: the batch's status is the failing operation's.
      return [r.status];
  }
}

/** A TCP listener on another 127.0.0.1 port that counts every connection made to it. */
export interface Bystander {
  port: number;
  connections(): number;
  close(): Promise<void>;
}

export async function startBystander(): Promise<Bystander> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    connections: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Every record of a tenant (all collections), for "nothing written" checks. */
export function recordCount(s: TestServer, tenant = 'acme'): Promise<number> {
  return s.services.store.countRecords(tenant);
}
