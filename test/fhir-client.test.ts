import { Client } from 'fhir-kit-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend, startTestServer, TOKENS, type TestServer } from './support/server.js';

/**
 * fhir-kit-client, a real FHIR client, against a real server on 127.0.0.1:
 * `client.transaction({ body })` and `client.batch({ body })` with the FHIR
 * base `http://127.0.0.1:PORT/fhir` and an Omnibus bearer token. What we
 * assert is what the client hands its user.
 */
describeEachBackend('fhir-kit-client', () => {
  let s: TestServer;
  let client: Client;
  beforeAll(async () => {
    s = await startTestServer();
    client = new Client({ baseUrl: `${s.url}/fhir`, bearerToken: TOKENS.acme });
  });
  afterAll(() => s.close());

  const patientUrl = 'urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a';

  it('a transaction whose Observation references a new Patient by urn:uuid:, read back through the client', async () => {
    const response: any = await client.transaction({
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            fullUrl: 'urn:uuid:0c3b6a2e-6f1e-4a43-9a53-0d7a1f9f1a11',
            resource: { resourceType: 'Observation', status: 'final', code: { text: 'heart rate' }, subject: { reference: patientUrl }, valueQuantity: { value: 72, unit: '/min' } },
            request: { method: 'POST', url: 'Observation' },
          },
          { fullUrl: patientUrl, resource: { resourceType: 'Patient', name: [{ family: 'Chalmers', given: ['Peter'] }] }, request: { method: 'POST', url: 'Patient' } },
        ],
      } as any,
    });
    expect(response.resourceType).toBe('Bundle');
    expect(response.type).toBe('transaction-response');
    const [observation, patient] = response.entry;
    expect(observation.response.status).toBe('201 Created');
    expect(patient.response.status).toBe('201 Created');
    expect(patient.response.location).toMatch(/^Patient\/[A-Za-z0-9]+$/);
    expect(observation.resource.subject.reference).toBe(patient.response.location);

    // Read back through the client: a batch of reads at the FHIR base...
    const read: any = await client.batch({
      body: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [{ request: { method: 'GET', url: observation.response.location } }, { request: { method: 'GET', url: `Observation?$filter=subject/reference eq '${patient.response.location}'` } }],
      } as any,
    });
    expect(read.type).toBe('batch-response');
    expect(read.entry[0].response.status).toBe('200 OK');
    expect(read.entry[0].resource).toMatchObject({ resourceType: 'Observation', subject: { reference: patient.response.location }, valueQuantity: { value: 72 } });
    expect(read.entry[0].response.etag).toBe(observation.response.etag);
    expect(read.entry[1].resource.type).toBe('searchset');
    expect(read.entry[1].resource.entry.map((e: any) => e.resource.id)).toEqual([observation.resource.id]);

    // ... and client.read on the resource API the Bundle wrote into.
    const rest = new Client({ baseUrl: `${s.url}/v1`, bearerToken: TOKENS.acme });
    const [type, id] = patient.response.location.split('/');
    const stored: any = await rest.read({ resourceType: type, id });
    expect(stored).toEqual({ id, resourceType: 'Patient', name: [{ family: 'Chalmers', given: ['Peter'] }] });
  });

  it('a failed transaction: the client rejects with the entry’s status and one OperationOutcome, and nothing was written', async () => {
    const type = `Enc${Date.now().toString(36)}`;
    const error: any = await client
      .transaction({
        body: {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { resource: { resourceType: type }, request: { method: 'POST', url: type } },
            { request: { method: 'DELETE', url: `${type}/missing` } },
          ],
        } as any,
      })
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(Error);
    expect(error.response.status).toBe(404);
    expect(error.response.data.resourceType).toBe('OperationOutcome');
    expect(error.response.data.issue).toEqual([
      expect.objectContaining({ severity: 'error', code: 'not-found', expression: ['Bundle.entry[1]'], diagnostics: expect.stringContaining('FHIR Bundle') }),
    ]);
    const list: any = await client.batch({ body: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: type } }] } as any });
    expect(list.entry[0].resource.entry).toEqual([]);
  });

  it('a batch: each entry alone, a failed one with its status and outcome', async () => {
    const response: any = await client.batch({
      body: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { resource: { resourceType: 'Patient', active: true }, request: { method: 'POST', url: 'Patient' } },
          { request: { method: 'GET', url: 'Patient/does-not-exist' } },
        ],
      } as any,
    });
    expect(response.type).toBe('batch-response');
    expect(response.entry[0].response.status).toBe('201 Created');
    expect(response.entry[1].response.status).toBe('404 Not Found');
    expect(response.entry[1].response.outcome.issue[0].code).toBe('not-found');
  });

  it('without a valid token the client rejects with 401 and a login OperationOutcome', async () => {
    const anonymous = new Client({ baseUrl: `${s.url}/fhir`, bearerToken: 'not-a-token' });
    const error: any = await anonymous.batch({ body: { resourceType: 'Bundle', type: 'batch', entry: [] } as any }).catch((err: unknown) => err);
    expect(error.response.status).toBe(401);
    expect(error.response.data.issue[0].code).toBe('login');
  });
});
