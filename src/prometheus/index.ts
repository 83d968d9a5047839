// docket/prometheus: docket's metrics for prom-client users, an entry of its own so that the main
// one never loads prom-client (an optional peer dependency). It is built on docket's public API
// only (types of src/index.ts; at run time, the Queue it is given), so it holds no copy of docket.
/**
 * docket's metrics for prom-client users: `createPrometheusMetrics({ queue, registry })`.
 *
 * @module docket/prometheus
 */
export { createPrometheusMetrics, METRIC_NAMES } from './collector.js';
export type { PrometheusMetrics } from './collector.js';
export { DEFAULT_JOB_BUCKETS } from './options.js';
export type { PrometheusMetricsOptions, PrometheusRegistry } from './options.js';
export type { JobOutcome } from './job-metrics.js';
export { queueStateCode } from './queue-state.js';
