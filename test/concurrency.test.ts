import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend, startTestServer, TOKENS, type TestServer } from './support/server.js';

describeEachBackend('concurrency', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ maxObjects: 25 });
  });
  afterAll(() => s.close());

  it('8 clients × 50 read-modify-write increments through batches with If-Match: the counter equals the successes', async () => {
    await s.call('PUT', '/v1/counters/c', { json: { n: 0 }, token: TOKENS.globex });
    let successes = 0;
    let conflicts = 0;
    const client = async () => {
      for (let done = 0; done < 50; ) {
        const read = await s.call('POST', '/batch', { token: TOKENS.globex, json: { requests: [{ method: 'GET', path: '/v1/counters/c' }] } });
        const current = read.json.responses[0];
        const write = await s.call('POST', '/batch', {
          token: TOKENS.globex,
          json: {
            requests: [
              { method: 'PUT', path: '/v1/counters/c', headers: { 'If-Match': current.headers.etag }, body: { n: current.body.n + 1 } },
            ],
          },
        });
        const status = write.json.responses[0].status;
        if (status === 200) {
          successes++;
          done++;
        } else {
          expect(status).toBe(412);
          conflicts++;
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, client));
    const final = await s.call('GET', '/v1/counters/c', { token: TOKENS.globex });
    expect(successes).toBe(400);
    expect(final.json.n).toBe(successes);
    // The race was real: some writers lost a round (412) and retried.
    expect(conflicts).toBeGreaterThan(0);
  }, 120_000);

  it('concurrent creates racing maxObjects never pass the limit', async () => {
    const attempts = Array.from({ length: 60 }, (_, i) =>
      i % 2
        ? s.call('POST', '/v1/limited', { json: { i } })
        : s.call('POST', '/v1/batch', { json: [{ id: 'x', method: 'PUT', path: `/v1/limited/p${i}`, body: '{}', transaction: 'T' }] }),
    );
    const results = await Promise.all(attempts);
    const created = results.filter((r) => r.status === 201 || (Array.isArray(r.json) && r.json[0].code === 201)).length;
    const refused = results.filter(
      (r) => r.json?.code === 'object_limit_exceeded' || (Array.isArray(r.json) && JSON.parse(r.json[0].body).code === 'object_limit_exceeded'),
    ).length;
    expect(created).toBe(25);
    expect(refused).toBe(35);
    expect((await s.call('GET', '/v1/limited?$top=1000')).json.items).toHaveLength(25);
  }, 60_000);
});
