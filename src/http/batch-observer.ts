import type { Dispatcher } from '../engine/types.js';
import type { Logger } from '../log.js';
import { logFields } from '../log-context.js';
import type { ServerMetrics } from '../metrics/server-metrics.js';
import type { BatchObserver } from './batch-handler.js';

/**
 * The server's batch observer: metrics for every batch and operation, and
 * one debug line per operation. An operation dispatched logs `batch
 * operation` when its answer is back, inside its own log context (so the
 * line carries the batch's `reqId`, `dialect`, `index` and `opId`); one that
 * never reached the resource API (rolled back before its turn, refused by
 * the rate limit, past the deadline, a failed dependency, a bad operation
 * token) logs `batch operation not run` once the batch ends. Paths are
 * logged without their query (the requests format's `?token=` lives
 * there); headers and bodies never are.
 */
export function serverBatchObserver(metrics: ServerMetrics, logger: Logger, resourceRoute: (path: string) => string): BatchObserver {
  return {
    start(dialect) {
      const started = performance.now();
      const debug = logger.isLevelEnabled('debug');
      /** Route templates of the operations dispatched, by index. */
      const dispatched = new Map<number, string>();
      return {
        dispatcher(dispatch: Dispatcher): Dispatcher {
          return async (req) => {
            const index = logFields().index;
            const route = resourceRoute(req.path);
            if (index !== undefined) dispatched.set(index, route);
            const t0 = performance.now();
            const res = await dispatch(req);
            const ms = performance.now() - t0;
            metrics.operationDispatched(dialect, req.method, ms / 1000);
            if (debug) logger.debug({ ...logFields(), op: { method: req.method, path: req.path, route, status: res.status, ms: +ms.toFixed(3) } }, 'batch operation');
            return res;
          };
        },
        ran(batch, outcome) {
          metrics.batch(dialect, batch.operations.length, (performance.now() - started) / 1000);
          for (const r of outcome.results) {
            const op = batch.operations[r.index]!;
            const path = withoutQuery(op.path);
            const route = dispatched.get(r.index) ?? resourceRoute(path);
            metrics.operation(dialect, op.method, route, r.status);
            if (debug && !dispatched.has(r.index)) {
              logger.debug(
                { ...logFields(), index: r.index, ...(op.id !== undefined ? { opId: op.id } : {}), op: { method: op.method, path, route, status: r.status } },
                'batch operation not run',
              );
            }
          }
        },
      };
    },
  };
}

function withoutQuery(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}
