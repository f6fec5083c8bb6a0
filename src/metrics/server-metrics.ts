import { Counter, Histogram, Registry } from 'prom-client';
import type { ApiHandler } from '../api/types.js';
import { processMetrics } from './process-metrics.js';
import { methodLabel, statusClass } from './route-template.js';

/** `kind`: `transaction` (a transaction group, a parts batch, a keyed write) or `batch` (a batch commit of standalone operations). */
export type TransactionKind = 'transaction' | 'batch';

/** Operations per batch: the default limit (100) and the XML one (64) fall on bucket bounds' sides. */
const BATCH_SIZE_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
const BATCH_SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** An operation in-process takes tens of microseconds on SQLite: the buckets start there. */
const OPERATION_SECONDS_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];

/**
 * The server's Prometheus metrics (prom-client), one registry per server.
 * Every label takes values from a small fixed set (route templates, method,
 * status class, dialect name, backend), never an id; `tenant` is bounded by
 * the tokens an operator creates.
 *
 * `omnibus_requests_total` counts requests by tenant as the rate limit
 * does: it wraps the resource API handler, which every direct request and
 * every batch operation passes through once, so an operation inside a batch
 * counts as one request, like a direct one (SPEC 4.7), and the batch
 * envelope itself does not.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly tenantTotals = new Map<string, number>();

  private readonly requests = new Counter({
    name: 'omnibus_requests_total',
    help: 'Requests handled by the resource API, batch operations counted one by one, by tenant and status class.',
    labelNames: ['tenant', 'status'] as const,
    registers: [this.registry],
  });
  private readonly httpRequests = new Counter({
    name: 'omnibus_http_requests_total',
    help: 'HTTP requests answered, by batch dialect (none for other routes), method, route template and status class.',
    labelNames: ['dialect', 'method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  private readonly httpSeconds = new Histogram({
    name: 'omnibus_http_request_duration_seconds',
    help: 'Time from receiving an HTTP request to its answer, by method and route template.',
    labelNames: ['method', 'route'] as const,
    buckets: BATCH_SECONDS_BUCKETS,
    registers: [this.registry],
  });
  private readonly operations = new Counter({
    name: 'omnibus_batch_operations_total',
    help: 'Batch operations answered (ran or not), by dialect, method, route template and status class.',
    labelNames: ['dialect', 'method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  private readonly batchSize = new Histogram({
    name: 'omnibus_batch_size',
    help: 'Operations per batch that ran, by dialect.',
    labelNames: ['dialect'] as const,
    buckets: BATCH_SIZE_BUCKETS,
    registers: [this.registry],
  });
  private readonly batchSeconds = new Histogram({
    name: 'omnibus_batch_duration_seconds',
    help: 'Time to decode, validate, run and encode a batch that ran, by dialect.',
    labelNames: ['dialect'] as const,
    buckets: BATCH_SECONDS_BUCKETS,
    registers: [this.registry],
  });
  private readonly operationSeconds = new Histogram({
    name: 'omnibus_batch_operation_duration_seconds',
    help: 'Time one dispatched batch operation took in the resource API, by dialect and method.',
    labelNames: ['dialect', 'method'] as const,
    buckets: OPERATION_SECONDS_BUCKETS,
    registers: [this.registry],
  });
  private readonly transactions = new Counter({
    name: 'omnibus_store_transactions_total',
    help: 'Store transactions ended, by backend, kind (transaction, batch commit) and outcome (commit, rollback).',
    labelNames: ['backend', 'kind', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly savepointRollbacks = new Counter({
    name: 'omnibus_store_operation_rollbacks_total',
    help: 'Standalone batch operations undone alone inside a batch commit (rolled back to their savepoint), by backend.',
    labelNames: ['backend'] as const,
    registers: [this.registry],
  });

  /** The resource API, counting each request it answers (see the class comment). */
  wrap(handler: ApiHandler): ApiHandler {
    return async (req) => {
      const res = await handler(req);
      const tenant = req.principal.tenant;
      this.requests.inc({ tenant, status: statusClass(res.status) });
      this.tenantTotals.set(tenant, (this.tenantTotals.get(tenant) ?? 0) + 1);
      return res;
    };
  }

  /** Requests `wrap` counted for `tenant` so far. */
  total(tenant: string): number {
    return this.tenantTotals.get(tenant) ?? 0;
  }

  httpRequest(dialect: string, method: string, route: string, status: number, seconds: number): void {
    const m = methodLabel(method);
    this.httpRequests.inc({ dialect, method: m, route, status: statusClass(status) });
    this.httpSeconds.observe({ method: m, route }, seconds);
  }

  batch(dialect: string, operations: number, seconds: number): void {
    this.batchSize.observe({ dialect }, operations);
    this.batchSeconds.observe({ dialect }, seconds);
  }

  operation(dialect: string, method: string, route: string, status: number): void {
    this.operations.inc({ dialect, method: methodLabel(method), route, status: statusClass(status) });
  }

  operationDispatched(dialect: string, method: string, seconds: number): void {
    this.operationSeconds.observe({ dialect, method: methodLabel(method) }, seconds);
  }

  transactionEnded(backend: string, kind: TransactionKind, outcome: 'commit' | 'rollback'): void {
    this.transactions.inc({ backend, kind, outcome });
  }

  operationRolledBack(backend: string): void {
    this.savepointRollbacks.inc({ backend });
  }

  /** The Prometheus text exposition (version 0.0.4): this server's metrics, then the process's (`process_*`, `nodejs_*`). */
  async render(): Promise<string> {
    const [own, process] = await Promise.all([this.registry.metrics(), processMetrics().metrics()]);
    return `${own}\n${process}`;
  }

  readonly contentType = this.registry.contentType;
}
