// What a node announces about a job through the cluster (when `jobEvents` is on) and what
// `queue.watch()` yields: the job's identity, state and attempt, what happened, its progress, and
// the node it happened on. Small on purpose: an update travels in a NOTIFY, never with args or a
// result (read the job for those).
import type { JobProgress, JobState } from './job.js';

/**
 * What happened to the job: `snapshot` is the job as read from the database (a watch's first
 * update, and after a recheck found a change no announcement told of); the others are
 * announced by the node where they happened (`retried` and `deleted` by an operator's
 * `retry()` / `delete()`, `cancel`/`discard` by a worker or an operator).
 */
export type JobUpdateKind =
  | 'snapshot'
  | 'start'
  | 'progress'
  | 'complete'
  | 'retry'
  | 'snooze'
  | 'cancel'
  | 'discard'
  | 'rescue'
  | 'retried'
  | 'deleted';

/**
 * One change of one job, from {@link Queue.watch} or {@link Queue.watchJobs}.
 *
 * @example
 * ```ts
 * for await (const update of queue.watch(job.id)) {
 *   if (update.kind === 'progress') console.log(`${update.worker} #${update.id}: ${update.progress?.percent}%`);
 * }
 * ```
 */
export interface JobUpdate {
  readonly id: string;
  readonly queue: string;
  readonly worker: string;
  /** The state after the change; `deleted` when the job is gone. */
  readonly state: JobState | 'deleted';
  readonly attempt: number;
  readonly kind: JobUpdateKind;
  /** The latest progress the job reported, when the update carries it (`progress` updates and snapshots). */
  readonly progress: JobProgress | null;
  /** The error or reason of a `retry`, `discard`, `cancel` or `rescue`, when there is one. */
  readonly error: string | null;
  /** The node the change happened on (`null` for a snapshot). */
  readonly nodeId: string | null;
}

/**
 * Options of {@link Queue.watch} and {@link Queue.watchJobs}.
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * request.on('close', () => controller.abort());
 * for await (const update of queue.watch(id, { signal: controller.signal })) send(update);
 * ```
 */
export interface WatchOptions {
  /** Ends the iteration (it then returns without error). */
  readonly signal?: AbortSignal;
  /**
   * ms without an announcement after which `watch` reads the job again, so that it ends even
   * when an announcement was lost (a node without `jobEvents`, a NOTIFY that a pooler dropped).
   * Default 5,000; 100 to 3,600,000.
   */
  readonly recheckInterval?: number;
}

/** Whether the update leaves the job in a final state (or gone): a watch ends after it. */
export function isFinalUpdate(update: Pick<JobUpdate, 'state'>): boolean {
  return update.state === 'completed' || update.state === 'discarded' || update.state === 'cancelled' || update.state === 'deleted';
}
