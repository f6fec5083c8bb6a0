import type { ApiHandler } from './api/types.js';

/**
 * Counts requests per tenant and status class. It wraps the resource API
 * handler, which every direct request and every batch operation passes
 * through once, so an operation inside a batch counts as one request, like
 * a direct one (SPEC 4.7); the batch envelope itself does not count.
 */
export class RequestMeter {
  private readonly counts = new Map<string, number>();

  wrap(handler: ApiHandler): ApiHandler {
    return async (req) => {
      const res = await handler(req);
      const key = `${req.principal.tenant}\u0000${Math.floor(res.status / 100)}xx`;
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
      return res;
    };
  }

  total(tenant: string): number {
    let n = 0;
    for (const [key, v] of this.counts) if (key.startsWith(`${tenant}\u0000`)) n += v;
    return n;
  }

  /** Prometheus text exposition format. */
  render(): string {
    const lines = ['# HELP omnibus_requests_total Requests handled, batch operations counted one by one.', '# TYPE omnibus_requests_total counter'];
    for (const [key, v] of [...this.counts].sort()) {
      const [tenant, status] = key.split('\u0000');
      lines.push(`omnibus_requests_total{tenant=${JSON.stringify(tenant)},status=${JSON.stringify(status)}} ${v}`);
    }
    return lines.join('\n') + '\n';
  }
}
