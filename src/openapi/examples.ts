/**
 * One example request per batch format, each one that runs on an empty
 * database and answers 200 with every operation succeeding, as often as it
 * is sent (writes are PUTs to fixed ids or creates; nothing depends on a
 * record being absent). test/openapi.test.ts sends each over HTTP and
 * compares the answer with the response examples in responses.ts.
 */

export const opsExample = {
  requests: [
    { method: 'PUT', path: '/v1/books/dune', body: { title: 'Dune', pages: 412 } },
    { method: 'PATCH', path: '/v1/books/dune', headers: { 'Content-Type': 'application/merge-patch+json' }, body: { pages: 604 } },
    { method: 'GET', path: '/v1/books?$top=5' },
  ],
  stop_on_error: false,
};

export const requestsExample = [
  { id: '1', method: 'PUT', path: '/v1/books/hyperion', headers: 'Content-Type: application/json', body: '{"title":"Hyperion"}', transaction: 't1' },
  { id: '2', method: 'PUT', path: '/v1/authors/simmons', headers: 'Content-Type: application/json', body: '{"name":"Dan Simmons"}', transaction: 't1' },
  { id: '3', method: 'GET', path: '/v1/books/hyperion' },
];

export const partsExample = {
  parts: [
    { id: 'p1', path: '/v1/books/foundation', operation: 'replace', payload: { title: 'Foundation' } },
    { id: 'p2', path: '/v1/books/foundation', operation: 'update', payload: { pages: 255 } },
    { id: 'p3', path: '/v1/books/foundation', operation: 'get' },
  ],
};

export const xmlExample = [
  '<?xml version="1.0" encoding="UTF-8"?>',
  '<request identifier="import-7">',
  '  <operations>',
  '    <create><object><attributes><a d="title" vt="16"><text>Nice book</text></a><a d="pages" vt="3">412</a></attributes></object></create>',
  '    <create><object><attributes><a d="title" q="alternative" vt="16"><text>Another book</text></a></attributes></object></create>',
  '  </operations>',
  '</request>',
  '',
].join('\n');

export const odataJsonExample = {
  requests: [
    { id: '1', method: 'POST', url: '/v1/books', headers: { 'content-type': 'application/json' }, body: { title: 'Ubik' } },
    { id: '2', method: 'PATCH', url: '$1', headers: { 'content-type': 'application/json', 'if-match': '$1' }, body: { pages: 202 }, dependsOn: ['1'] },
    { id: '3', method: 'PUT', url: 'authors/pkd', body: { name: 'Philip K. Dick' }, atomicityGroup: 'g1' },
    { id: '4', method: 'PUT', url: 'authors/ukl', body: { name: 'Ursula K. Le Guin' }, atomicityGroup: 'g1' },
    { id: '5', method: 'GET', url: 'authors?$top=5', dependsOn: ['g1'] },
  ],
};

/** The boundary the multipart example is written with (its Content-Type is `multipart/mixed; boundary=batch_1`). */
export const MULTIPART_EXAMPLE_BOUNDARY = 'batch_1';

export const odataMultipartExample = [
  '--batch_1',
  'Content-Type: application/http',
  'Content-Transfer-Encoding: binary',
  '',
  'GET authors?$top=2 HTTP/1.1',
  'Accept: application/json',
  '',
  '',
  '--batch_1',
  'Content-Type: multipart/mixed; boundary=changeset_1',
  '',
  '--changeset_1',
  'Content-Type: application/http',
  'Content-Transfer-Encoding: binary',
  'Content-ID: 1',
  '',
  'PUT authors/tolkien HTTP/1.1',
  'Content-Type: application/json',
  '',
  '{"name":"J. R. R. Tolkien"}',
  '--changeset_1',
  'Content-Type: application/http',
  'Content-Transfer-Encoding: binary',
  'Content-ID: 2',
  '',
  'PATCH $1 HTTP/1.1',
  'Content-Type: application/json',
  '',
  '{"born":1892}',
  '--changeset_1--',
  '--batch_1--',
  '',
].join('\r\n');

export const compositeExample = {
  allOrNone: true,
  compositeRequest: [
    { method: 'POST', url: '/services/data/v59.0/sobjects/accounts', referenceId: 'acct', body: { Name: 'Pyramid' } },
    { method: 'PATCH', url: '/v1/accounts/@{acct.id}', referenceId: 'upd', body: { Label: 'of @{acct.Name}' } },
    { method: 'GET', url: '/services/data/v59.0/sobjects/accounts/@{acct.id}', referenceId: 'read' },
  ],
};

const PATIENT = 'urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a';

export const fhirExample = {
  resourceType: 'Bundle',
  type: 'transaction',
  entry: [
    { fullUrl: PATIENT, resource: { resourceType: 'Patient', name: [{ family: 'Chalmers', given: ['Peter'] }] }, request: { method: 'POST', url: 'Patient' } },
    {
      resource: { resourceType: 'Observation', status: 'final', code: { text: 'Body weight' }, subject: { reference: PATIENT } },
      request: { method: 'PUT', url: 'Observation/o1' },
    },
    { request: { method: 'GET', url: 'Patient?$top=5' } },
  ],
};

export const atomicExample = {
  'atomic:operations': [
    { op: 'add', data: { type: 'people', lid: 'p1', attributes: { name: 'dgeb' } } },
    {
      op: 'add',
      data: { type: 'articles', attributes: { title: 'JSON:API paints my bikeshed!' }, relationships: { author: { data: { type: 'people', lid: 'p1' } } } },
    },
    { op: 'update', ref: { type: 'people', lid: 'p1' }, data: { type: 'people', lid: 'p1', attributes: { name: 'Dan Gebhardt' } } },
  ],
};
