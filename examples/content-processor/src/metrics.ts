// Prometheus metrics, one prom-client Registry per app instance (never the global default, so
// several apps, e.g. in tests, do not collide). Queue figures come from queue.queueStats() at
// scrape time (cached for a second, one query in flight at most); job timings come from the
// queue's events on this node; HTTP timings from an onResponse hook in app.ts.
//
// Names: queue_limit, queue_running and queue_state (0 stopped, 1 running, 2 paused) as in the
// spec, plus queue_depth, queue_jobs{state}, queue_oldest_available_seconds,
// job_duration_seconds, job_queue_time_seconds, jobs_finished_total, workflows_finished_total
// (by name and end state, counted on the node that finished each), http_requests_total,
// http_request_duration_seconds, sse_streams_open, and prom-client's process metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Job, Queue, QueueStats, WorkflowSummary } from 'docket';
import { JOB_STATES } from 'docket';

export interface Metrics {
  readonly registry: Registry;
  /** Records one HTTP response (route is the pattern, e.g. /jobs/:id, never the raw URL). */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  sseOpened(): void;
  sseClosed(): void;
  /** Refreshes the queue gauges and renders the exposition text. */
  render(): Promise<string>;
  readonly contentType: string;
  /** Detaches from the queue's events and empties the registry. */
  close(): void;
}

/** 0 stopped, 1 running, 2 paused: the spec's queue_state. */
export function queueStateCode(stats: QueueStats, queueRunning: boolean): 0 | 1 | 2 {
  if (stats.paused) return 2;
  const limit = stats.concurrency ?? stats.localConcurrency ?? 0;
  return queueRunning && stats.localConcurrency !== null && limit > 0 ? 1 : 0;
}

export function createMetrics(queue: Queue, options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });

  const limit = new Gauge({ name: 'queue_limit', help: 'Concurrency limit per node (scaled limit when set, else this node\'s)', labelNames: ['queue'], registers: [registry] });
  const running = new Gauge({ name: 'queue_running', help: 'Jobs executing now (all nodes)', labelNames: ['queue'], registers: [registry] });
  const state = new Gauge({ name: 'queue_state', help: 'Queue state: 0 stopped, 1 running, 2 paused', labelNames: ['queue'], registers: [registry] });
  const depth = new Gauge({ name: 'queue_depth', help: 'Jobs waiting to run now (available)', labelNames: ['queue'], registers: [registry] });
  const jobs = new Gauge({ name: 'queue_jobs', help: 'Jobs by state', labelNames: ['queue', 'state'], registers: [registry] });
  const oldest = new Gauge({ name: 'queue_oldest_available_seconds', help: 'How long the oldest available job has waited', labelNames: ['queue'], registers: [registry] });
  const scrapeErrors = new Counter({ name: 'queue_stats_errors_total', help: 'Failed reads of queue statistics', registers: [registry] });

  const buckets = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
  const duration = new Histogram({ name: 'job_duration_seconds', help: 'Run time of job attempts on this node', labelNames: ['queue', 'worker', 'outcome'], buckets, registers: [registry] });
  const queueTime = new Histogram({ name: 'job_queue_time_seconds', help: 'Time from due to claimed', labelNames: ['queue', 'worker'], buckets, registers: [registry] });
  const finished = new Counter({ name: 'jobs_finished_total', help: 'Job attempts finished on this node, by outcome', labelNames: ['queue', 'worker', 'outcome'], registers: [registry] });
  const workflows = new Counter({ name: 'workflows_finished_total', help: 'Workflows this node finished, by end state', labelNames: ['name', 'state'], registers: [registry] });
  const onWorkflowEnd = (e: { workflow: WorkflowSummary }) => workflows.inc({ name: e.workflow.name, state: e.workflow.state });

  const httpTotal = new Counter({ name: 'http_requests_total', help: 'HTTP responses', labelNames: ['method', 'route', 'status'], registers: [registry] });
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP response time',
    labelNames: ['method', 'route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const sse = new Gauge({ name: 'sse_streams_open', help: 'Open job event streams', registers: [registry] });

  const record = (outcome: string) => (e: { job: Job; runTime: number; queueTime: number }) => {
    const labels = { queue: e.job.queue, worker: e.job.worker };
    duration.observe({ ...labels, outcome }, e.runTime / 1000);
    queueTime.observe(labels, Math.max(0, e.queueTime) / 1000);
    finished.inc({ ...labels, outcome });
  };
  const listeners = {
    'job:complete': record('completed'),
    'job:error': record('error'),
    'job:cancel': record('cancelled'),
    'job:snooze': record('snoozed'),
  } as const;
  // A failed last attempt emits job:error then job:discard ("attempts exhausted ..."): that
  // attempt is already counted as an error. Only a worker's own discard counts here.
  const onDiscard = (e: { job: Job; runTime: number; queueTime: number; reason: string }) => {
    if (e.reason.startsWith('attempts exhausted')) return;
    record('discarded')(e);
  };
  queue.on('job:complete', listeners['job:complete']);
  queue.on('job:error', listeners['job:error']);
  queue.on('job:cancel', listeners['job:cancel']);
  queue.on('job:snooze', listeners['job:snooze']);
  queue.on('job:discard', onDiscard);
  queue.on('workflow:complete', onWorkflowEnd);
  queue.on('workflow:fail', onWorkflowEnd);

  let cached: { at: number; stats: QueueStats[] } | undefined;
  let inFlight: Promise<QueueStats[]> | undefined;
  async function stats(): Promise<QueueStats[]> {
    if (cached && Date.now() - cached.at < 1000) return cached.stats;
    inFlight ??= queue.queueStats().finally(() => {
      inFlight = undefined;
    });
    const fresh = await inFlight;
    cached = { at: Date.now(), stats: fresh };
    return fresh;
  }

  async function refresh(): Promise<void> {
    let all: QueueStats[];
    try {
      all = await stats();
    } catch {
      scrapeErrors.inc();
      return; // the gauges keep their last values; queue_stats_errors_total tells
    }
    for (const q of all) {
      const labels = { queue: q.name };
      limit.set(labels, q.concurrency ?? q.localConcurrency ?? 0);
      running.set(labels, q.counts.executing);
      state.set(labels, queueStateCode(q, queue.running));
      depth.set(labels, q.counts.available);
      oldest.set(labels, (q.oldestAvailableMs ?? 0) / 1000);
      for (const s of JOB_STATES) jobs.set({ queue: q.name, state: s }, q.counts[s]);
    }
  }

  return {
    registry,
    contentType: registry.contentType,
    observeRequest(method, route, status, seconds) {
      httpTotal.inc({ method, route, status: String(status) });
      httpDuration.observe({ method, route }, seconds);
    },
    sseOpened: () => sse.inc(),
    sseClosed: () => sse.dec(),
    async render() {
      await refresh();
      return registry.metrics();
    },
    close() {
      queue.off('job:complete', listeners['job:complete']);
      queue.off('job:error', listeners['job:error']);
      queue.off('job:cancel', listeners['job:cancel']);
      queue.off('job:snooze', listeners['job:snooze']);
      queue.off('job:discard', onDiscard);
      queue.off('workflow:complete', onWorkflowEnd);
      queue.off('workflow:fail', onWorkflowEnd);
      registry.clear();
    },
  };
}
