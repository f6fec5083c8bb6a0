/**
 * What the server answers to each example of examples.ts on an empty
 * database (ids, ETags, dates and the host shown as any run would give
 * them). test/openapi.test.ts sends every example and checks the real answer
 * has these statuses and fits the documented response schema.
 */

export const opsResponse = {
  responses: [
    {
      status: 201,
      headers: {
        'content-type': 'application/json',
        etag: '"e1"',
        'last-modified': 'Tue, 01 Dec 2026 10:00:00 GMT',
        location: '/v1/books/dune'
      },
      body: {
        id: 'dune',
        title: 'Dune',
        pages: 412
      }
    },
    {
      status: 200,
      headers: {
        'content-type': 'application/json',
        etag: '"e2"',
        'last-modified': 'Tue, 01 Dec 2026 10:00:00 GMT'
      },
      body: {
        id: 'dune',
        title: 'Dune',
        pages: 604
      }
    },
    {
      status: 200,
      headers: {
        'content-type': 'application/json'
      },
      body: {
        items: [
          {
            id: 'dune',
            title: 'Dune',
            pages: 604,
            _etag: '"e2"',
            _updated: '2026-12-01T10:00:00.000Z'
          }
        ],
        next: null
      }
    }
  ]
};

export const requestsResponse = [
  {
    id: '1',
    code: 201,
    headers: "content-type: application/json\netag: \"e3\"\nlast-modified: Tue, 01 Dec 2026 10:00:00 GMT\nlocation: /v1/books/hyperion",
    body: '{"id":"hyperion","title":"Hyperion"}'
  },
  {
    id: '2',
    code: 201,
    headers: "content-type: application/json\netag: \"e4\"\nlast-modified: Tue, 01 Dec 2026 10:00:00 GMT\nlocation: /v1/authors/simmons",
    body: '{"id":"simmons","name":"Dan Simmons"}'
  },
  {
    id: '3',
    code: 200,
    headers: "content-type: application/json\netag: \"e3\"\nlast-modified: Tue, 01 Dec 2026 10:00:00 GMT",
    body: '{"id":"hyperion","title":"Hyperion"}'
  }
];

export const partsResponse = {
  parts: [
    {
      id: 'p1',
      path: '/v1/books/foundation',
      operation: 'replace',
      payload: {
        id: 'foundation',
        title: 'Foundation'
      }
    },
    {
      id: 'p2',
      path: '/v1/books/foundation',
      operation: 'update',
      payload: {
        id: 'foundation',
        title: 'Foundation',
        pages: 255
      }
    },
    {
      id: 'p3',
      path: '/v1/books/foundation',
      operation: 'get',
      payload: {
        id: 'foundation',
        title: 'Foundation',
        pages: 255
      }
    }
  ]
};

export const xmlResponse = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response status=\"success\" identifier=\"import-7\"><create index=\"0\" url=\"http://localhost:3000/api/object/k7Qm2x9Lp4Rz8w\" ref=\"k7Qm2x9Lp4Rz8w\"/><create index=\"1\" url=\"http://localhost:3000/api/object/b3Nv6Tj1Hc5Ys0\" ref=\"b3Nv6Tj1Hc5Ys0\"/></response>";

export const odataJsonResponse = {
  responses: [
    {
      id: '1',
      status: 201,
      headers: {
        'Content-Type': 'application/json',
        ETag: '"e5"',
        'Last-Modified': 'Tue, 01 Dec 2026 10:00:00 GMT',
        Location: '/v1/books/p9Wd4Ke2Mf7Ua1'
      },
      body: {
        id: 'p9Wd4Ke2Mf7Ua1',
        title: 'Ubik'
      }
    },
    {
      id: '2',
      status: 200,
      headers: {
        'Content-Type': 'application/json',
        ETag: '"e6"',
        'Last-Modified': 'Tue, 01 Dec 2026 10:00:00 GMT'
      },
      body: {
        id: 'p9Wd4Ke2Mf7Ua1',
        title: 'Ubik',
        pages: 202
      }
    },
    {
      id: '3',
      status: 201,
      headers: {
        'Content-Type': 'application/json',
        ETag: '"e7"',
        'Last-Modified': 'Tue, 01 Dec 2026 10:00:00 GMT',
        Location: '/v1/authors/pkd'
      },
      body: {
        id: 'pkd',
        name: 'Philip K. Dick'
      },
      atomicityGroup: 'g1'
    },
    {
      id: '4',
      status: 201,
      headers: {
        'Content-Type': 'application/json',
        ETag: '"e8"',
        'Last-Modified': 'Tue, 01 Dec 2026 10:00:00 GMT',
        Location: '/v1/authors/ukl'
      },
      body: {
        id: 'ukl',
        name: 'Ursula K. Le Guin'
      },
      atomicityGroup: 'g1'
    },
    {
      id: '5',
      status: 200,
      headers: {
        'Content-Type': 'application/json'
      },
      body: {
        items: [
          {
            id: 'simmons',
            name: 'Dan Simmons',
            _etag: '"e4"',
            _updated: '2026-12-01T10:00:00.000Z'
          },
          {
            id: 'pkd',
            name: 'Philip K. Dick',
            _etag: '"e7"',
            _updated: '2026-12-01T10:00:00.000Z'
          },
          {
            id: 'ukl',
            name: 'Ursula K. Le Guin',
            _etag: '"e8"',
            _updated: '2026-12-01T10:00:00.000Z'
          }
        ],
        next: null
      }
    }
  ]
};

export const odataMultipartResponse = "--batchresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"items\":[{\"id\":\"simmons\",\"name\":\"Dan Simmons\",\"_etag\":\"\\\"e4\\\"\",\"_updated\":\"2026-12-01T10:00:00.000Z\"},{\"id\":\"pkd\",\"name\":\"Philip K. Dick\",\"_etag\":\"\\\"e7\\\"\",\"_updated\":\"2026-12-01T10:00:00.000Z\"}],\"next\":\"/v1/authors?$top=2&$skip=2\"}\r\n--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_1\r\n\r\n--changesetresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\nHTTP/1.1 201 Created\r\nContent-Type: application/json\r\nETag: \"e9\"\r\nLast-Modified: Tue, 01 Dec 2026 10:00:00 GMT\r\nLocation: /v1/authors/tolkien\r\n\r\n{\"id\":\"tolkien\",\"name\":\"J. R. R. Tolkien\"}\r\n--changesetresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: \"e10\"\r\nLast-Modified: Tue, 01 Dec 2026 10:00:00 GMT\r\n\r\n{\"id\":\"tolkien\",\"name\":\"J. R. R. Tolkien\",\"born\":1892}\r\n--changesetresponse_1--\r\n--batchresponse_1--\r\n";

export const compositeResponse = {
  compositeResponse: [
    {
      body: {
        id: 'h5Jt1Pc9Zm4Ew7',
        Name: 'Pyramid'
      },
      httpHeaders: {
        ETag: '"e11"',
        'Last-Modified': 'Tue, 01 Dec 2026 10:00:00 GMT',
        Location: '/v1/accounts/h5Jt1Pc9Zm4Ew7'
      },
      httpStatusCode: 201,
      referenceId: 'acct'
    },
    {
      body: {
        id: 'h5Jt1Pc9Zm4Ew7',
        Name: 'Pyramid',
        Label: 'of Pyramid'
      },
      httpHeaders: {
        ETag: '"e12"',
        'Last-Modified': 'Tue, 01 Dec 2026 10:00:00 GMT'
      },
      httpStatusCode: 200,
      referenceId: 'upd'
    },
    {
      body: {
        id: 'h5Jt1Pc9Zm4Ew7',
        Name: 'Pyramid',
        Label: 'of Pyramid'
      },
      httpHeaders: {
        ETag: '"e12"',
        'Last-Modified': 'Tue, 01 Dec 2026 10:00:00 GMT'
      },
      httpStatusCode: 200,
      referenceId: 'read'
    }
  ]
};

export const fhirResponse = {
  resourceType: 'Bundle',
  type: 'transaction-response',
  entry: [
    {
      fullUrl: 'http://localhost:3000/fhir/Patient/m1Zg7Wn2Vs9Ja5',
      resource: {
        id: 'm1Zg7Wn2Vs9Ja5',
        resourceType: 'Patient',
        name: [
          {
            family: 'Chalmers',
            given: [
              'Peter'
            ]
          }
        ]
      },
      response: {
        status: '201 Created',
        location: 'Patient/m1Zg7Wn2Vs9Ja5',
        etag: '"e13"',
        lastModified: '2026-12-01T10:00:00.000Z'
      }
    },
    {
      fullUrl: 'http://localhost:3000/fhir/Observation/o1',
      resource: {
        id: 'o1',
        resourceType: 'Observation',
        status: 'final',
        code: {
          text: 'Body weight'
        },
        subject: {
          reference: 'Patient/m1Zg7Wn2Vs9Ja5'
        }
      },
      response: {
        status: '201 Created',
        location: 'Observation/o1',
        etag: '"e14"',
        lastModified: '2026-12-01T10:00:00.000Z'
      }
    },
    {
      resource: {
        resourceType: 'Bundle',
        type: 'searchset',
        entry: [
          {
            fullUrl: 'http://localhost:3000/fhir/Patient/m1Zg7Wn2Vs9Ja5',
            resource: {
              id: 'm1Zg7Wn2Vs9Ja5',
              resourceType: 'Patient',
              name: [
                {
                  family: 'Chalmers',
                  given: [
                    'Peter'
                  ]
                }
              ]
            },
            search: {
              mode: 'match'
            }
          }
        ]
      },
      response: {
        status: '200 OK'
      }
    }
  ]
};

export const atomicResponse = {
  'atomic:results': [
    {
      data: {
        type: 'people',
        id: 'w6Dh0Xk3Lb8Pe2',
        lid: 'p1',
        attributes: {
          name: 'dgeb'
        },
        links: {
          self: '/v1/people/w6Dh0Xk3Lb8Pe2'
        }
      }
    },
    {
      data: {
        type: 'articles',
        id: 'a4Sc9Nf2Hr7Gm3',
        attributes: {
          title: 'JSON:API paints my bikeshed!'
        },
        relationships: {
          author: {
            data: {
              type: 'people',
              id: 'w6Dh0Xk3Lb8Pe2'
            }
          }
        },
        links: {
          self: '/v1/articles/a4Sc9Nf2Hr7Gm3'
        }
      }
    },
    {}
  ]
};

