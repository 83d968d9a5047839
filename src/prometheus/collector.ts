// createPrometheusMetrics: registers docket's metrics in the app's prom-client registry and
// takes them out again on close(). The queue gauges are read at scrape time; the job metrics
// are fed by the queue's events on this node.
import type { PrometheusMetricsOptions } from './options.js';
import { resolveOptions } from './options.js';
import { registerJobMetrics } from './job-metrics.js';
import { registerQueueGauges } from './queue-gauges.js';

/**
 * The names of the metrics {@link createPrometheusMetrics} registers, without the prefix, in
 * the order it registers them.
 *
 * @example
 * ```ts
 * const ours = new Set(METRIC_NAMES.map((name) => `docket_${name}`));
 * ```
 */
export const METRIC_NAMES = [
  'queue_stats_errors_total',
  'queue_limit',
  'queue_running',
  'queue_state',
  'queue_depth',
  'queue_jobs',
  'queue_oldest_available_seconds',
  'job_duration_seconds',
  'job_queue_time_seconds',
  'jobs_finished_total',
  'workflows_finished_total',
] as const;

/**
 * The handle {@link createPrometheusMetrics} returns.
 *
 * @example
 * ```ts
 * const metrics = createPrometheusMetrics({ queue, registry });
 * console.log(metrics.names); // ['queue_stats_errors_total', 'queue_limit', ...]
 * metrics.close();
 * ```
 */
export interface PrometheusMetrics {
  /** The names of the metrics registered (with the prefix). */
  readonly names: readonly string[];
  /**
   * Detaches from the queue's events and removes the metrics from the registry (the registry's
   * other metrics stay). Idempotent. The Queue is not stopped.
   */
  close(): void;
}

/**
 * Registers docket's metrics in a prom-client registry:
 *
 * - from `queue.queueStats()` at scrape time (cached for `statsCacheMs`, one read in flight at
 *   most), every queue: `queue_limit`, `queue_running`, `queue_state` (0 stopped, 1 running,
 *   2 paused), `queue_depth`, `queue_jobs{state}`, `queue_oldest_available_seconds`, and
 *   `queue_stats_errors_total` for failed reads;
 * - from the queue's events, the attempts that ran on this node: `job_duration_seconds` and
 *   `job_queue_time_seconds` histograms, `jobs_finished_total{queue,worker,outcome}`, and
 *   `workflows_finished_total{name,state}` for the workflows this node finished.
 *
 * Nothing goes to prom-client's global registry unless it is the `registry` passed. Scrape as
 * usual (`await registry.metrics()`); call `close()` before dropping the queue or the registry.
 *
 * @throws TypeError when `queue` or `registry` is not one, `prefix` cannot start a metric name,
 *   or the registry already has a metric of one of these names (give this collector a prefix)
 * @throws RangeError when `statsCacheMs` or `buckets` is out of range
 * @example
 * ```ts
 * import { Registry, collectDefaultMetrics } from 'prom-client';
 * import { createPrometheusMetrics } from 'docket/prometheus';
 *
 * const registry = new Registry();
 * collectDefaultMetrics({ register: registry });
 * const metrics = createPrometheusMetrics({ queue, registry, prefix: 'docket_' });
 * app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
 * // at shutdown
 * metrics.close();
 * await queue.stop();
 * ```
 */
export function createPrometheusMetrics(options: PrometheusMetricsOptions): PrometheusMetrics {
  const resolved = resolveOptions(options);
  const { registry, prefix } = resolved;
  const names = METRIC_NAMES.map((name) => `${prefix}${name}`);
  // Checked before anything is registered, so a clash leaves the registry as it was.
  const taken = names.filter((name) => registry.getSingleMetric(name) !== undefined);
  if (taken.length > 0) {
    throw new TypeError(`docket/prometheus: the registry already has ${taken.map((n) => `"${n}"`).join(', ')}: give this collector another \`prefix\` (or close the other one)`);
  }
  let jobs: ReturnType<typeof registerJobMetrics>;
  try {
    registerQueueGauges(resolved);
    jobs = registerJobMetrics(resolved);
  } catch (error) {
    // None of these names was taken: whatever is registered under them is ours.
    for (const name of names) registry.removeSingleMetric(name);
    throw error;
  }
  let closed = false;
  return {
    names,
    close() {
      if (closed) return;
      closed = true;
      jobs.detach();
      for (const name of names) registry.removeSingleMetric(name);
    },
  };
}
