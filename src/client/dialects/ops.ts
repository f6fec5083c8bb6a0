import { WireFormatError, lowerCaseHeaders, parseJson, type WireDialect, type WireResult } from '../wire.js';

/**
 * The ops batch (`POST /batch`): `{"requests":[{method, path, headers, body}]}`
 * answered by `{"responses":[{status, headers, body}]}`, index i answering
 * request i. No groups, no dependencies: each operation stands alone.
 */
export const opsWire: WireDialect = {
  name: 'ops',
  endpoint: '/batch',
  groups: false,
  graph: false,

  encode(ops) {
    const requests = ops.map((op) => {
      const r: Record<string, unknown> = { method: op.method, path: op.path };
      if (Object.keys(op.headers).length > 0) r['headers'] = op.headers;
      if (op.body !== undefined) r['body'] = op.body;
      return r;
    });
    return { headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ requests }) };
  },

  decode(text, ops) {
    const doc = parseJson(text, 'ops batch') as { responses?: unknown } | null;
    if (!doc || !Array.isArray(doc.responses)) throw new WireFormatError('ops batch: the answer has no "responses" array');
    const responses = doc.responses as ({ status?: unknown; headers?: Record<string, string>; body?: unknown } | undefined)[];
    return ops.map((_op, i): WireResult | undefined => {
      const r = responses[i];
      if (!r || typeof r.status !== 'number') return undefined;
      // JSON bodies arrive parsed, text bodies as strings, none as null.
      return { status: r.status, headers: lowerCaseHeaders(r.headers), body: r.body === undefined ? null : r.body };
    });
  },
};
