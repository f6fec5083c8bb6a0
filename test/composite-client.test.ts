import { Connection } from 'jsforce';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend, startTestServer, TOKENS, type TestServer } from './support/server.js';

interface CompositeResponse {
  compositeResponse: Array<{ body: any; httpHeaders: Record<string, string>; httpStatusCode: number; referenceId: string }>;
}

/**
 * jsforce, Salesforce's JavaScript client, pointed at Omnibus on 127.0.0.1
 * with an Omnibus token as its access token: what it hands its user.
 */
describeEachBackend('composite with jsforce', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  const fresh = () => `jsf${Math.random().toString(36).slice(2, 8)}`;
  const connection = (accessToken: string, extra: Record<string, unknown> = {}) => new Connection({ instanceUrl: s.url, accessToken, version: '59.0', ...extra });

  it('requestPost of an allOrNone composite with references: jsforce returns our compositeResponse, and the records are there', async () => {
    const c = fresh();
    const conn = connection(TOKENS.acme);
    const res = await conn.requestPost<CompositeResponse>('/services/data/v59.0/composite', {
      allOrNone: true,
      compositeRequest: [
        { method: 'POST', url: `/services/data/v59.0/sobjects/${c}`, referenceId: 'acct', body: { Name: 'Pyramid' } },
        { method: 'POST', url: `/services/data/v59.0/sobjects/${c}`, referenceId: 'contact', body: { LastName: 'Smith', AccountId: '@{acct.id}' } },
        { method: 'PATCH', url: `/services/data/v59.0/sobjects/${c}/@{acct.id}`, referenceId: 'upd', body: { Description: 'owner of @{contact.LastName}' } },
        { method: 'GET', url: `/services/data/v59.0/sobjects/${c}/@{acct.id}`, referenceId: 'read' },
      ],
    });
    expect(res.compositeResponse.map((r) => [r.referenceId, r.httpStatusCode])).toEqual([
      ['acct', 201],
      ['contact', 201],
      ['upd', 200],
      ['read', 200],
    ]);
    const [acct, contact, , read] = res.compositeResponse;
    expect(contact!.body.AccountId).toBe(acct!.body.id);
    expect(read!.body).toMatchObject({ id: acct!.body.id, Name: 'Pyramid', Description: 'owner of Smith' });
    expect(acct!.httpHeaders.Location).toBe(`/v1/${c}/${acct!.body.id}`);
    expect((await s.call('GET', `/v1/${c}?$top=10`)).json.items).toHaveLength(2);
  });

  it('a path relative to the version root (/composite) reaches the same endpoint, with the version jsforce was given', async () => {
    const c = fresh();
    const res = await connection(TOKENS.acme, { version: '42.0' }).requestPost<CompositeResponse>('/composite', {
      compositeRequest: [{ method: 'PUT', url: `/v1/${c}/one`, referenceId: 'put', body: { n: 1 } }],
    });
    expect(res.compositeResponse[0]).toMatchObject({ referenceId: 'put', httpStatusCode: 201, body: { id: 'one', n: 1 } });
  });

  it('a failed allOrNone request still resolves (the request itself answered 200): the failing subrequest keeps its status, the others are PROCESSING_HALTED', async () => {
    const c = fresh();
    const res = await connection(TOKENS.acme).requestPost<CompositeResponse>('/services/data/v59.0/composite', {
      allOrNone: true,
      compositeRequest: [
        { method: 'POST', url: `/services/data/v59.0/sobjects/${c}`, referenceId: 'acct', body: { Name: 'P' } },
        { method: 'GET', url: `/services/data/v59.0/sobjects/${c}/missing`, referenceId: 'missing' },
      ],
    });
    expect(res.compositeResponse.map((r) => [r.referenceId, r.httpStatusCode, r.body[0].errorCode])).toEqual([
      ['acct', 400, 'PROCESSING_HALTED'],
      ['missing', 404, 'NOT_FOUND'],
    ]);
    expect((await s.call('GET', `/v1/${c}`)).json.items).toHaveLength(0);
  });

  it('a refused request rejects with our error: jsforce names it by its errorCode', async () => {
    const err = await connection(TOKENS.acme)
      .requestPost('/services/data/v59.0/composite', { compositeRequest: [{ method: 'GET', url: '/v1/x/@{nobody.id}', referenceId: 'a' }] })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ name: 'INVALID_DEPENDENCY', errorCode: 'INVALID_DEPENDENCY', message: expect.stringContaining('Composite request') });
  });

  it('401: jsforce reports the session error, INVALID_SESSION_ID, and nothing runs', async () => {
    const c = fresh();
    const err = await connection('expired-token')
      .requestPost('/services/data/v59.0/composite', { compositeRequest: [{ method: 'PUT', url: `/v1/${c}/1`, referenceId: 'a', body: {} }] })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ name: 'INVALID_SESSION_ID', errorCode: 'INVALID_SESSION_ID' });
    expect((await s.call('GET', `/v1/${c}`)).json.items).toHaveLength(0);
  });

  it('401 with a refresh function: jsforce renews its session on that code and sends the request again', async () => {
    const c = fresh();
    let refreshed = 0;
    const conn = connection('expired-token', {
      refreshFn: (_conn: unknown, callback: (err: Error | null, accessToken?: string) => void) => {
        refreshed++;
        callback(null, TOKENS.acme);
      },
    });
    const res = await conn.requestPost<CompositeResponse>('/services/data/v59.0/composite', {
      compositeRequest: [{ method: 'PUT', url: `/v1/${c}/1`, referenceId: 'a', body: { after: 'refresh' } }],
    });
    expect(refreshed).toBe(1);
    expect(conn.accessToken).toBe(TOKENS.acme);
    expect(res.compositeResponse[0]).toMatchObject({ referenceId: 'a', httpStatusCode: 201 });
    expect((await s.call('GET', `/v1/${c}/1`)).json.after).toBe('refresh');
  });
});
