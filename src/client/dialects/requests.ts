import { WireFormatError, isTextBody, parseBody, parseJson, type WireDialect, type WireResult } from '../wire.js';

/**
 * The requests batch (`POST /v1/batch`): a JSON array of `{id, method, path,
 * headers, body, transaction}` whose headers are one `Name: value` string and
 * whose bodies are strings; answered by `[{id, code, headers, body}]`.
 * Transaction groups, no dependencies.
 *
 * Every operation carries a `headers` string (empty when it has none): an
 * operation without one would inherit the batch request's headers.
 */
export const requestsWire: WireDialect = {
  name: 'requests',
  endpoint: '/v1/batch',
  groups: true,
  graph: false,

  encode(ops) {
    const list = ops.map((op) => {
      const headers = { ...op.headers };
      let body: string | undefined;
      if (op.body !== undefined) {
        if (isTextBody(op.body, headers)) body = op.body;
        else {
          body = JSON.stringify(op.body);
          headers['content-type'] ??= 'application/json';
        }
      }
      const r: Record<string, unknown> = {
        id: op.id,
        method: op.method,
        path: op.path,
        headers: Object.entries(headers)
          .map(([k, v]) => `${k}: ${v}`)
          .join('\n'),
      };
      if (body !== undefined) r['body'] = body;
      if (op.group !== undefined) r['transaction'] = op.group;
      return r;
    });
    return { headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(list) };
  },

  decode(text, ops) {
    const doc = parseJson(text, 'requests batch');
    if (!Array.isArray(doc)) throw new WireFormatError('requests batch: the answer is not an array');
    const byId = new Map<string, { code?: unknown; headers?: unknown; body?: unknown }>();
    for (const r of doc as { id?: unknown; code?: unknown; headers?: unknown; body?: unknown }[]) if (r && typeof r.id === 'string') byId.set(r.id, r);
    return ops.map((op): WireResult | undefined => {
      const r = byId.get(op.id);
      if (!r || typeof r.code !== 'number') return undefined;
      const headers = parseHeaderString(typeof r.headers === 'string' ? r.headers : '');
      const body = typeof r.body === 'string' ? parseBody(r.body, headers['content-type']) : null;
      return { status: r.code, headers, body };
    });
  },
};

/** `Name: value` lines to an object with lower-case names. */
function parseHeaderString(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return out;
}
