/**
 * Lost-update check: clients increment one counter with read, then a write
 * conditioned on the ETag read (If-Match), retrying on 412. Each write goes
 * through a batch: an ops batch, a transaction group of a requests batch
 * (with a second write in the group), or a parts batch, in turn. If any
 * increment were lost or applied twice, the final value would differ from
 * clients × increments.
 */

export interface CounterResult {
  final: number;
  expected: number;
  /** Writes refused with 412 because another client won the round (then retried). */
  conflicts: number;
  /** Answers that were neither success nor 412, with their status: must stay empty. */
  unexpected: string[];
  byForm: Record<CounterForm, number>;
}

export type CounterForm = 'ops' | 'requests group' | 'parts';
const FORMS: CounterForm[] = ['ops', 'requests group', 'parts'];

interface Call {
  (method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any; etag: string | null }>;
}

export function httpCaller(baseUrl: string, token: string): Call {
  return async (method, path, body, headers = {}) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined, etag: res.headers.get('etag') };
  };
}

/** One conditional increment through `form`: 'ok', 'conflict' (412) or a description of anything else. */
async function increment(call: Call, path: string, form: CounterForm, etag: string, n: number, client: number): Promise<string> {
  const next = { n: n + 1 };
  if (form === 'ops') {
    const r = await call('POST', '/batch', { requests: [{ method: 'PUT', path, headers: { 'If-Match': etag }, body: next }] });
    const s = r.json?.responses?.[0]?.status;
    return s === 200 ? 'ok' : s === 412 ? 'conflict' : `ops ${r.status}/${s}`;
  }
  if (form === 'requests group') {
    const r = await call('POST', '/v1/batch', [
      { id: 'inc', method: 'PUT', path, headers: `If-Match: ${etag}`, body: JSON.stringify(next), transaction: 't' },
      { id: 'log', method: 'PUT', path: `/v1/counterlog/c${client}`, body: JSON.stringify({ last: n + 1 }), transaction: 't' },
    ]);
    const codes = Array.isArray(r.json) ? r.json.map((x: { code: number }) => x.code) : [];
    if (codes[0] === 200 && codes[1] !== undefined && codes[1] < 300) return 'ok';
    return codes[0] === 412 && codes[1] === 424 ? 'conflict' : `requests ${r.status}/${codes.join(',')}`;
  }
  const r = await call('POST', '/batch/parts', { parts: [{ id: 'inc', path, operation: 'replace', payload: next, ifMatch: etag }] });
  return r.status === 200 ? 'ok' : r.status === 412 ? 'conflict' : `parts ${r.status}`;
}

/** `clients` concurrent clients each making `increments` successful increments of one fresh counter. */
export async function runCounter(call: Call, clients = 8, increments = 50, id = `c${Date.now()}`): Promise<CounterResult> {
  const path = `/v1/counters/${id}`;
  const created = await call('PUT', path, { n: 0 });
  if (created.status !== 201 && created.status !== 200) throw new Error(`creating the counter answered ${created.status}`);
  let conflicts = 0;
  const unexpected: string[] = [];
  const byForm: Record<CounterForm, number> = { ops: 0, 'requests group': 0, parts: 0 };
  const client = async (c: number) => {
    let turn = c;
    for (let done = 0; done < increments && unexpected.length === 0; ) {
      const read = await call('GET', path);
      if (read.status !== 200 || !read.etag) {
        unexpected.push(`GET ${read.status}`);
        return;
      }
      const form = FORMS[turn % FORMS.length]!;
      const outcome = await increment(call, path, form, read.etag, read.json.n, c);
      if (outcome === 'ok') {
        done++;
        turn++;
        byForm[form]++;
      } else if (outcome === 'conflict') conflicts++;
      else unexpected.push(outcome);
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  const final = await call('GET', path);
  return { final: final.json.n, expected: clients * increments, conflicts, unexpected, byForm };
}
