// The Job record users see, its states, and the one place a database row becomes a Job.
import type { NewStep } from './workflow.js';

/** Every state a job can be in, in lifecycle order. */
export const JOB_STATES = [
  'held',
  'available',
  'scheduled',
  'executing',
  'retryable',
  'completed',
  'discarded',
  'cancelled',
] as const;

/**
 * A job's state.
 * - `held`: a workflow step waiting for its dependencies (see {@link Queue.workflow})
 * - `available`: due, waiting for a worker
 * - `scheduled`: waiting for its `scheduledAt` (delayed or snoozed)
 * - `executing`: claimed by a worker right now
 * - `retryable`: failed, waiting for its backoff to pass
 * - `completed`, `discarded`, `cancelled`: final
 *
 * @example
 * ```ts
 * const done: JobState[] = ['completed', 'discarded', 'cancelled'];
 * ```
 */
export type JobState = (typeof JOB_STATES)[number];

/** The final states: a job in one of them is in the history and runs no more. */
export const FINAL_STATES: readonly string[] = ['completed', 'discarded', 'cancelled'];

/**
 * One failed attempt, as stored in `job.errors` (oldest first).
 *
 * @example
 * ```ts
 * const last = job.errors.at(-1); // { attempt: 2, at: '2026-…', message: 'ECONNRESET', stack: '…' }
 * ```
 */
export interface JobError {
  readonly attempt: number;
  /** When the attempt failed, by the database clock (ISO 8601). */
  readonly at: string;
  readonly message: string;
  readonly name?: string;
  readonly stack?: string;
}

/**
 * The latest progress a running job reported with {@link RunningJob.progress}.
 *
 * @example
 * ```ts
 * const job = await queue.getJob(id);
 * job?.lastProgress; // { percent: 40, data: { pages: 4 }, at: '2026-…' }
 * ```
 */
export interface JobProgress {
  /** 0–100. */
  readonly percent: number;
  /** What the job attached (JSON), e.g. partial results; `null` when nothing was. */
  readonly data: unknown;
  /** When it was stored, by the database clock (ISO 8601). */
  readonly at: string;
}

/**
 * A job as stored in the database.
 *
 * @typeParam Args - the worker's parsed args type
 * @example
 * ```ts
 * const job = await queue.getJob(id);
 * if (job?.state === 'completed') console.log(job.result);
 * ```
 */
export interface Job<Args = unknown> {
  /** Database id (a bigint, as a string so no precision is ever lost). */
  readonly id: string;
  readonly worker: string;
  readonly queue: string;
  readonly state: JobState;
  readonly args: Args;
  readonly tags: readonly string[];
  /** Lower runs first. */
  readonly priority: number;
  /** Attempts started so far (1 while the first attempt runs). */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly errors: readonly JobError[];
  /** What `perform` returned, as JSON; `null` until the job completes. */
  readonly result: unknown;
  /** The node that ran the latest attempt. */
  readonly attemptedBy: string | null;
  /** The latest progress reported while running; `null` when none was. */
  readonly lastProgress: JobProgress | null;
  readonly insertedAt: Date;
  readonly scheduledAt: Date;
  readonly attemptedAt: Date | null;
  /** When the job reached a final state. */
  readonly completedAt: Date | null;
  /** The workflow this job is a step of, and the step's name; `null` for a plain job. */
  readonly workflow: JobWorkflow | null;
  /**
   * What is about the job rather than its work: the insert's `meta` option, trace context
   * written by tracing middleware (`traceparent`, `tracestate`), and for a job the Cron plugin
   * enqueued, `cron: { schedule, tick }` (the schedule's name and the tick as an ISO time), so a
   * nightly report can be idempotent per tick. `{}` when none.
   */
  readonly meta: Readonly<Record<string, unknown>>;
}

/**
 * Where a workflow step sits: its workflow's id and its own step name.
 *
 * @example
 * ```ts
 * const job = await queue.getJob(id);
 * if (job?.workflow) console.log(`step ${job.workflow.step} of workflow ${job.workflow.id}`);
 * ```
 */
export interface JobWorkflow {
  /** The workflow's id (a bigint, as a string). */
  readonly id: string;
  /** The step's name, unique within its workflow. */
  readonly step: string;
}

/** A jobs row as selected by JOB_COLUMNS (sql/columns.ts), before normalization. */
export interface JobRow {
  id: string;
  state: string;
  queue: string;
  worker: string;
  args: string;
  tags: string;
  priority: number;
  attempt: number;
  max_attempts: number;
  errors: string;
  result: string | null;
  attempted_by: string | null;
  progress: string | null;
  inserted_at: number;
  scheduled_at: number;
  attempted_at: number | null;
  completed_at: number | null;
  workflow_id: string | null;
  step: string | null;
  meta: string;
}

function toDate(value: number): Date {
  return new Date(Number(value));
}

function toDateOrNull(value: number | null): Date | null {
  return value === null ? null : toDate(value);
}

/** Shared frozen empty lists: most jobs have no tags and no errors, and need no array of their own. */
export const NO_TAGS: readonly string[] = Object.freeze([]);
export const NO_ERRORS: readonly JobError[] = Object.freeze([]);
/** Shared frozen empty meta: most jobs have none. */
export const NO_META: Readonly<Record<string, unknown>> = Object.freeze({});

/** A stored meta value as the Job's: an object (anything else, written by hand, reads as none). */
export function metaOf(value: unknown): Readonly<Record<string, unknown>> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return NO_META;
  for (const _ in value) return value as Record<string, unknown>;
  return NO_META;
}

/** Turns a jobs row into a Job. */
export function rowToJob<Args = unknown>(row: JobRow): Job<Args> {
  return {
    id: row.id,
    worker: row.worker,
    queue: row.queue,
    state: row.state as JobState,
    args: JSON.parse(row.args) as Args,
    tags: row.tags === '[]' ? NO_TAGS : (JSON.parse(row.tags) as string[]),
    priority: Number(row.priority),
    attempt: Number(row.attempt),
    maxAttempts: Number(row.max_attempts),
    errors: row.errors === '[]' ? NO_ERRORS : (JSON.parse(row.errors) as JobError[]),
    result: row.result === null ? null : (JSON.parse(row.result) as unknown),
    attemptedBy: row.attempted_by,
    lastProgress: row.progress === null ? null : (JSON.parse(row.progress) as JobProgress),
    insertedAt: toDate(row.inserted_at),
    scheduledAt: toDate(row.scheduled_at),
    attemptedAt: toDateOrNull(row.attempted_at),
    completedAt: toDateOrNull(row.completed_at),
    workflow: row.workflow_id === null || row.workflow_id === undefined ? null : { id: row.workflow_id, step: row.step! },
    meta: row.meta === undefined || row.meta === '{}' ? NO_META : metaOf(JSON.parse(row.meta)),
  };
}

/**
 * The workflow of a step being run: its id, its name, and the step's own name.
 *
 * @example
 * ```ts
 * perform: async (job) => {
 *   if (job.workflow) logger.info(`${job.workflow.name}#${job.workflow.id}: ${job.workflow.step}`);
 * }
 * ```
 */
export interface RunningWorkflow extends JobWorkflow {
  /** The name the workflow was built with (`queue.workflow(name)`). */
  readonly name: string;
}

/**
 * The job `perform` receives: the stored job, plus `progress()` to report how far it got.
 *
 * @typeParam Args - the worker's parsed args type
 * @example
 * ```ts
 * perform: async (job) => {
 *   for (const [i, page] of pages.entries()) {
 *     await render(page);
 *     await job.progress(((i + 1) / pages.length) * 100, { rendered: i + 1 });
 *   }
 * }
 * ```
 */
export interface RunningJob<Args = unknown> extends Job<Args> {
  /**
   * Stores `percent` (0–100) and optional JSON `data` on the job and emits `job:progress`.
   * Throttled: calls closer together than the queue's `progressInterval` are merged, the
   * latest value wins. Resolves once stored (the first report, and any after a quiet interval,
   * are written at once), so do not await it in a loop tighter than the interval; rejects with
   * a ConfigError for a percent outside 0–100 or data that is not JSON.
   */
  progress(percent: number, data?: unknown): Promise<void>;
  /** The workflow this step belongs to (id, name, step), or `null` for a plain job. */
  readonly workflow: RunningWorkflow | null;
  /**
   * The results of this step's dependencies that completed, keyed by step name (read from the
   * database when called). Type one with {@link stepResult}. Rejects with a WorkflowError for a
   * job that is not a workflow step.
   */
  results(): Promise<Readonly<Record<string, unknown>>>;
  /**
   * Adds steps to this step's workflow (dynamic fan-out) while it runs, fenced by its claim: a
   * step whose attempt was taken away adds nothing. Names that exist already are skipped, so a
   * retried attempt may add the same steps again. `dependents` (held steps) gain the new steps
   * as dependencies. Resolves with the new steps' jobs; rejects with a WorkflowError (nothing
   * added) for unknown names, cycles, bad args, or a dependent that is no longer held.
   */
  addSteps(steps: readonly NewStep[]): Promise<Job[]>;
}
