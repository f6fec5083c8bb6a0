export { ServerMetrics, type TransactionKind } from './server-metrics.js';
export { instrumentStore } from './store-metrics.js';
export { honoPatternTemplate, methodLabel, OTHER_ROUTE, resourceRouteTemplate, RouteMatcher, statusClass } from './route-template.js';
export { listenMetrics, type MetricsListener } from './metrics-server.js';
