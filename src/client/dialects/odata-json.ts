import { WireFormatError, lowerCaseHeaders, parseJson, type WireDialect, type WireResult } from '../wire.js';

/**
 * The OData JSON batch (`POST /v1/$batch`, as Microsoft Graph clients send
 * it): `{"requests":[{id, method, url, headers, body, atomicityGroup,
 * dependsOn}]}` answered by `{"responses":[{id, status, headers, body}]}`.
 * Groups, `dependsOn`, and `$<id>` references in urls and in If-Match /
 * If-None-Match. Requests with no dependency between them may run in any
 * order (or at once, on PostgreSQL).
 */
export const odataJsonWire: WireDialect = {
  name: 'odata-json',
  endpoint: '/v1/$batch',
  groups: true,
  graph: true,

  encode(ops) {
    const requests = ops.map((op) => {
      const r: Record<string, unknown> = { id: op.id, method: op.method, url: op.path };
      if (Object.keys(op.headers).length > 0) r['headers'] = op.headers;
      if (op.body !== undefined) r['body'] = op.body;
      if (op.group !== undefined) r['atomicityGroup'] = op.group;
      if (op.dependsOn && op.dependsOn.length > 0) r['dependsOn'] = op.dependsOn;
      return r;
    });
    return { headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ requests }) };
  },

  decode(text, ops) {
    const doc = parseJson(text, 'OData JSON batch') as { responses?: unknown } | null;
    if (!doc || !Array.isArray(doc.responses)) throw new WireFormatError('OData JSON batch: the answer has no "responses" array');
    const byId = new Map<string, { status?: unknown; headers?: Record<string, string>; body?: unknown }>();
    for (const r of doc.responses as { id?: unknown; status?: unknown; headers?: Record<string, string>; body?: unknown }[]) {
      if (r && typeof r.id === 'string') byId.set(r.id.toLowerCase(), r);
    }
    return ops.map((op): WireResult | undefined => {
      const r = byId.get(op.id.toLowerCase());
      if (!r || typeof r.status !== 'number') return undefined;
      return { status: r.status, headers: lowerCaseHeaders(r.headers), body: r.body === undefined ? null : r.body };
    });
  },
};
