// The typed event map and an emitter whose listeners can never break the queue: every listener
// runs, a throwing or rejecting one is reported to the logger and the others still run.
import type { WorkflowSummary } from './workflow-record.js';
import { EventEmitter } from 'eventemitter3';

import type { Job, JobError, JobProgress } from './job.js';
import type { Logger } from './logger.js';

/** Timing every job event after `job:start` carries. */
export interface JobTimings {
  /** ms from when the job was due (its scheduled time) to when a worker claimed it, by the database clock. */
  readonly queueTime: number;
  /** ms the attempt ran, measured on this node. */
  readonly runTime: number;
}

/**
 * Every event a Queue emits and its payload.
 *
 * @example
 * ```ts
 * queue.on('job:complete', ({ job, runTime }) => metrics.observe(job.worker, runTime));
 * queue.on('queue:error', ({ error, context }) => log.warn({ error, context }));
 * ```
 */
export interface QueueEvents {
  /** Jobs were inserted (one event per insert call). With `tx`, emitted before the host commits. */
  'job:insert': (e: { readonly jobs: readonly Job[] }) => void;
  /** A worker on this node claimed the job and is about to run it. */
  'job:start': (e: { readonly job: Job; readonly queueTime: number }) => void;
  /** The job completed; `job.result` holds what perform returned. */
  'job:complete': (e: { readonly job: Job } & JobTimings) => void;
  /** An attempt failed (threw, timed out, or returned an error). Followed by `job:retry` or `job:discard`. */
  'job:error': (e: { readonly job: Job; readonly error: JobError } & JobTimings) => void;
  /** A failed job will run again at `job.scheduledAt`. */
  'job:retry': (e: { readonly job: Job; readonly error: JobError; readonly delay: number } & JobTimings) => void;
  /** The job was snoozed: it runs again after `delay` ms, without using an attempt. */
  'job:snooze': (e: { readonly job: Job; readonly delay: number } & JobTimings) => void;
  /** The worker cancelled the job. */
  'job:cancel': (e: { readonly job: Job; readonly reason: string } & JobTimings) => void;
  /** The job was discarded: attempts exhausted, or discarded by the worker. */
  'job:discard': (e: { readonly job: Job; readonly reason: string } & JobTimings) => void;
  /** A job running on this node stored a progress report (see `job.progress()`); throttled. */
  'job:progress': (e: { readonly job: Job; readonly progress: JobProgress }) => void;
  /**
   * A unique insert found its job already there: `job` is the existing one (any state, even
   * `executing`), `args` what this insert asked for.
   */
  'job:unique_conflict': (e: { readonly job: Job; readonly args: unknown }) => void;
  /** Lifeline rescued a job from a node that stopped heartbeating (emitted on the leader). */
  'job:rescue': (e: { readonly job: Job }) => void;
  /** Pruner deleted finished jobs (`state` 'finished' for a maxCount rule; emitted on the leader). */
  'jobs:pruned': (e: { readonly queue: string | null; readonly state: string; readonly count: number }) => void;
  /** This node took the leader lease; leader plugins start. */
  'leader:elected': (e: { readonly nodeId: string }) => void;
  /** This node is no longer leader (stopped, lease not renewed in time, taken over); leader plugins stop. */
  'leader:lost': (e: { readonly nodeId: string; readonly reason: string }) => void;
  /** A plugin's tick failed; it runs again on its next tick. */
  'plugin:error': (e: { readonly plugin: string; readonly error: unknown }) => void;
  /** The queue started fetching on this node. */
  'queue:start': (e: { readonly queues: Readonly<Record<string, number>>; readonly nodeId: string }) => void;
  /** The queue stopped; `aborted` jobs were still running at the timeout and were left retryable. */
  'queue:stop': (e: { readonly aborted: number }) => void;
  /**
   * A workflow's last step finished and every step completed. Emitted once, by the node whose
   * finish (or the Workflow plugin's sweep) ended it.
   */
  'workflow:complete': (e: { readonly workflow: WorkflowSummary }) => void;
  /**
   * A workflow ended `failed` (a step ended discarded or cancelled) or `cancelled`
   * (cancelWorkflow). Emitted once, like `workflow:complete`.
   */
  'workflow:fail': (e: { readonly workflow: WorkflowSummary }) => void;
  /** Something failed in the background (fetch, ack, listen...); the queue keeps retrying. */
  'queue:error': (e: { readonly error: unknown; readonly context: string }) => void;
}

/** The name of a queue event. */
export type QueueEventName = keyof QueueEvents;

interface ListenerEntry {
  fn: (...args: unknown[]) => unknown;
  context: unknown;
  once: boolean;
}

/** An EventEmitter that isolates listeners from each other and from the queue. */
export class SafeEmitter extends EventEmitter<QueueEvents> {
  readonly #logger: Logger;

  constructor(logger: Logger) {
    super();
    this.#logger = logger;
  }

  // eventemitter3 stops at the first listener that throws; we run each one in isolation.
  // Entries are read the way eventemitter3's own emit reads them ({ fn, context, once }).
  override emit<E extends QueueEventName>(event: E, ...args: EventEmitter.ArgumentMap<QueueEvents>[Extract<E, keyof QueueEvents>]): boolean {
    const store = (this as unknown as { _events: Record<string, ListenerEntry | ListenerEntry[] | undefined> })._events[event];
    if (store === undefined) return false;
    const entries = Array.isArray(store) ? [...store] : [store];
    for (const entry of entries) {
      if (entry.once) this.removeListener(event, entry.fn as never, undefined, true);
      try {
        const out = entry.fn.apply(entry.context, args);
        if (out !== null && typeof out === 'object' && typeof (out as PromiseLike<unknown>).then === 'function') {
          (out as Promise<unknown>).then(undefined, (error: unknown) => this.#report(event, error));
        }
      } catch (error) {
        this.#report(event, error);
      }
    }
    return true;
  }

  #report(event: string, error: unknown): void {
    this.#logger.error(`docket: a listener of "${event}" threw; the queue goes on`, { error });
  }
}

/** Reports a failure docket retries by itself: a warning in the log and a `queue:error` event. */
export function reportQueueError(events: SafeEmitter, logger: Logger, error: unknown, context: string): void {
  logger.warn(`docket: ${context} failed; retrying`, { error });
  events.emit('queue:error', { error, context });
}
