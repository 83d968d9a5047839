// The job metrics: what happened to the attempts that ran on this node, from the queue's events,
// and the workflows this node finished. Labels are bounded by the app's code (queue, worker,
// outcome, workflow name and end state), never by its data (no job id, no args).
import { Counter, Histogram } from 'prom-client';
import type { Job, QueueEventName, QueueEvents, WorkflowSummary } from '../index.js';
import type { ResolvedOptions } from './options.js';

/**
 * How an attempt ended, the `outcome` label: `completed`, `error` (it failed: threw, timed out,
 * returned an error; retried or, at its last attempt, discarded), `cancelled` and `discarded`
 * (by the worker), `snoozed`.
 *
 * @example
 * ```ts
 * const failing: JobOutcome[] = ['error', 'discarded']; // rate(jobs_finished_total{outcome=~"error|discarded"}[5m])
 * ```
 */
export type JobOutcome = 'completed' | 'error' | 'cancelled' | 'discarded' | 'snoozed';

/** Detaches the job metrics from the queue's events. */
export interface JobMetrics {
  detach(): void;
}

interface Finished {
  readonly job: Job;
  readonly runTime: number;
  readonly queueTime: number;
}

/** Registers the job and workflow metrics and subscribes them to the queue's events. */
export function registerJobMetrics(options: ResolvedOptions): JobMetrics {
  const { queue, registry, prefix, buckets } = options;
  const duration = new Histogram({
    name: `${prefix}job_duration_seconds`,
    help: 'Run time of the job attempts that ran on this node, by outcome',
    labelNames: ['queue', 'worker', 'outcome'],
    buckets,
    registers: [registry],
  });
  const queueTime = new Histogram({
    name: `${prefix}job_queue_time_seconds`,
    help: 'Time from when a job was due to when this node claimed it, per attempt',
    labelNames: ['queue', 'worker'],
    buckets,
    registers: [registry],
  });
  const finished = new Counter({
    name: `${prefix}jobs_finished_total`,
    help: 'Job attempts that ended on this node, by outcome',
    labelNames: ['queue', 'worker', 'outcome'],
    registers: [registry],
  });
  const workflows = new Counter({
    name: `${prefix}workflows_finished_total`,
    help: 'Workflows this node finished, by name and end state',
    labelNames: ['name', 'state'],
    registers: [registry],
  });

  const record = (outcome: JobOutcome, e: Finished): void => {
    const labels = { queue: e.job.queue, worker: e.job.worker };
    duration.observe({ ...labels, outcome }, e.runTime / 1000);
    queueTime.observe(labels, Math.max(0, e.queueTime) / 1000);
    finished.inc({ ...labels, outcome });
  };
  const subscriptions: (() => void)[] = [];
  const listen = <E extends QueueEventName>(event: E, listener: QueueEvents[E]): void => {
    queue.on(event, listener as never);
    subscriptions.push(() => queue.off(event, listener as never));
  };
  const countWorkflow = (e: { readonly workflow: WorkflowSummary }): void => {
    workflows.inc({ name: e.workflow.name, state: e.workflow.state });
  };
  // A failed last attempt emits job:error and then job:discard with the same Job object: the
  // attempt is counted once, as an error. Only a discard the worker asked for counts as one.
  const failed = new WeakSet<Job>();
  listen('job:complete', (e) => record('completed', e));
  listen('job:error', (e) => {
    failed.add(e.job);
    record('error', e);
  });
  listen('job:cancel', (e) => record('cancelled', e));
  listen('job:snooze', (e) => record('snoozed', e));
  listen('job:discard', (e) => {
    if (!failed.has(e.job)) record('discarded', e);
  });
  listen('workflow:complete', countWorkflow);
  listen('workflow:fail', countWorkflow);

  return {
    detach() {
      for (const unsubscribe of subscriptions.splice(0)) unsubscribe();
    },
  };
}
