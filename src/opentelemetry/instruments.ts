// docket's metric instruments, created on one meter. Names follow OpenTelemetry's messaging
// metrics conventions where one exists (send and process durations, messages sent) and are
// `docket.*` otherwise; units are UCUM (`s`, `{job}`), durations are histograms in seconds.
import type { Counter, Histogram, Meter, ObservableGauge } from '@opentelemetry/api';

/**
 * The names of the metrics the {@link OpenTelemetry} plugin records.
 *
 * - `sentMessages` — `messaging.client.sent.messages` (counter, `{message}`): jobs inserted on
 *   this node; attributes `messaging.system`, `messaging.destination.name` (queue),
 *   `messaging.operation.name` (`send`), `docket.worker`, `error.type` when the insert failed.
 * - `sendDuration` — `messaging.client.operation.duration` (histogram, `s`): how long insert
 *   calls took; the same attributes.
 * - `processDuration` — `messaging.process.duration` (histogram, `s`): attempt duration on this
 *   node; `messaging.system`, `messaging.destination.name`, `messaging.operation.name`
 *   (`process`), `docket.worker`, `docket.outcome`, `error.type` when it failed.
 * - `jobsFinished` — `docket.jobs.finished` (counter, `{attempt}`): attempts that ended on this
 *   node, by `docket.outcome` (`complete`, `error`, `snooze`, `cancel`, `discard`), with
 *   `messaging.system`, `messaging.destination.name`, `docket.worker`.
 * - `queueTime` — `docket.job.queue_time` (histogram, `s`): from when a job was due to when a
 *   worker on this node claimed it (by the database clock); `messaging.system`,
 *   `messaging.destination.name`, `docket.worker`.
 * - `queueJobs` — `docket.queue.jobs` (gauge, `{job}`): queue depth, jobs by queue and state
 *   (`messaging.destination.name`, `docket.job.state`, every state), from `queue.queueStats()`.
 * - `oldestAvailableAge` — `docket.queue.oldest_available_age` (gauge, `s`): how long the
 *   oldest available job of each queue has waited since it was due (0 when none waits).
 *
 * @example
 * ```ts
 * const { resourceMetrics } = await reader.collect();
 * const names = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics.map((m) => m.descriptor.name));
 * names.includes(METRIC_NAMES.processDuration); // true once an attempt ran
 * ```
 */
export const METRIC_NAMES = Object.freeze({
  sentMessages: 'messaging.client.sent.messages',
  sendDuration: 'messaging.client.operation.duration',
  processDuration: 'messaging.process.duration',
  jobsFinished: 'docket.jobs.finished',
  queueTime: 'docket.job.queue_time',
  queueJobs: 'docket.queue.jobs',
  oldestAvailableAge: 'docket.queue.oldest_available_age',
} as const);

// The messaging conventions' boundaries (5 ms to 10 s), then longer ones: jobs and their waits
// often take minutes.
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/** The instruments, created once per plugin. */
export interface Instruments {
  readonly sentMessages: Counter;
  readonly sendDuration: Histogram;
  readonly processDuration: Histogram;
  readonly jobsFinished: Counter;
  readonly queueTime: Histogram;
  readonly queueJobs: ObservableGauge;
  readonly oldestAvailableAge: ObservableGauge;
}

/** Creates docket's instruments on `meter`. */
export function createInstruments(meter: Meter): Instruments {
  const advice = { explicitBucketBoundaries: DURATION_BUCKETS };
  return {
    sentMessages: meter.createCounter(METRIC_NAMES.sentMessages, { description: 'Jobs inserted on this node.', unit: '{message}' }),
    sendDuration: meter.createHistogram(METRIC_NAMES.sendDuration, { description: 'Duration of insert calls on this node.', unit: 's', advice }),
    processDuration: meter.createHistogram(METRIC_NAMES.processDuration, { description: 'Duration of job attempts on this node.', unit: 's', advice }),
    jobsFinished: meter.createCounter(METRIC_NAMES.jobsFinished, { description: 'Job attempts that ended on this node, by outcome.', unit: '{attempt}' }),
    queueTime: meter.createHistogram(METRIC_NAMES.queueTime, { description: 'Time from when a job was due to when a worker claimed it.', unit: 's', advice }),
    queueJobs: meter.createObservableGauge(METRIC_NAMES.queueJobs, { description: 'Jobs by queue and state (queue depth).', unit: '{job}' }),
    oldestAvailableAge: meter.createObservableGauge(METRIC_NAMES.oldestAvailableAge, {
      description: 'How long the oldest available job of the queue has waited since it was due.',
      unit: 's',
    }),
  };
}
