// Prometheus metrics, one prom-client Registry per app instance (never the global default, so
// several apps, e.g. in tests, do not collide). The queue and job metrics are docket's own
// collector (docket/prometheus): queue figures from queue.queueStats() at scrape time (cached for
// a second, one query in flight at most), job timings from the queue's events on this node. This
// module adds the app's HTTP timings (from an onResponse hook in app.ts) and its SSE streams.
//
// Names: queue_limit, queue_running and queue_state (0 stopped, 1 running, 2 paused) as in the
// spec, plus queue_depth, queue_jobs{state}, queue_oldest_available_seconds,
// queue_stats_errors_total, job_duration_seconds, job_queue_time_seconds, jobs_finished_total,
// workflows_finished_total (by name and end state, counted on the node that finished each) from
// docket/prometheus; http_requests_total, http_request_duration_seconds, sse_streams_open, and
// prom-client's process metrics from here.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Queue } from 'docket';
import { createPrometheusMetrics } from 'docket/prometheus';

// The spec's queue_state, also shown by the admin routes.
export { queueStateCode } from 'docket/prometheus';

export interface Metrics {
  readonly registry: Registry;
  /** Records one HTTP response (route is the pattern, e.g. /jobs/:id, never the raw URL). */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  sseOpened(): void;
  sseClosed(): void;
  /** Renders the exposition text (the queue gauges read the queue's figures as they render). */
  render(): Promise<string>;
  readonly contentType: string;
  /** Detaches from the queue's events and empties the registry. */
  close(): void;
}

export function createMetrics(queue: Queue, options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const docket = createPrometheusMetrics({ queue, registry });

  const httpTotal = new Counter({ name: 'http_requests_total', help: 'HTTP responses', labelNames: ['method', 'route', 'status'], registers: [registry] });
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP response time',
    labelNames: ['method', 'route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const sse = new Gauge({ name: 'sse_streams_open', help: 'Open job event streams', registers: [registry] });

  return {
    registry,
    contentType: registry.contentType,
    observeRequest(method, route, status, seconds) {
      httpTotal.inc({ method, route, status: String(status) });
      httpDuration.observe({ method, route }, seconds);
    },
    sseOpened: () => sse.inc(),
    sseClosed: () => sse.dec(),
    render: () => registry.metrics(),
    close() {
      docket.close();
      registry.clear();
    },
  };
}
