// Typed errors docket throws. Every error a caller can act on has its own class and a `code`,
// so apps can branch on `err instanceof ArgsValidationError` or on `err.code` across bundles.
import type { JobState } from './job.js';

/**
 * Base class of every error docket throws on purpose.
 *
 * @example
 * ```ts
 * try { await queue.insert(resize, args); }
 * catch (err) { if (err instanceof DocketError) console.error(err.code, err.message); }
 * ```
 */
export class DocketError extends Error {
  /** Stable machine-readable code, e.g. `DOCKET_ARGS_INVALID`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** One problem found in a job's args: the path of the field and what is wrong with it. */
export interface ArgsIssue {
  /** Path to the offending field, e.g. `['width']` or `['items', 2, 'sku']`. */
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/**
 * A job's args failed its worker's zod schema at insert time, or cannot be stored: not JSON
 * (a BigInt, a cycle), a NUL character or a lone surrogate in a string, or more bytes of JSON
 * than the Queue's `maxArgsBytes`. Nothing was written; no round trip was made.
 *
 * @example
 * ```ts
 * await queue.insert(resize, { url: 'nope', width: -1 }).catch((e) => {
 *   if (e instanceof ArgsValidationError) e.issues; // [{ path: ['url'], ... }, { path: ['width'], ... }]
 * });
 * ```
 */
export class ArgsValidationError extends DocketError {
  readonly worker: string;
  readonly issues: readonly ArgsIssue[];
  /** The position of the refused item in an `insertMany` call; undefined for a single insert. */
  readonly index: number | undefined;
  constructor(worker: string, issues: readonly ArgsIssue[], index?: number) {
    const where = index === undefined ? '' : ` (item ${index})`;
    const detail = issues
      .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`)
      .join('; ');
    super('DOCKET_ARGS_INVALID', `Invalid args for worker "${worker}"${where}: ${detail}`);
    this.worker = worker;
    this.issues = issues;
    this.index = index;
  }
}

/**
 * A job was inserted for a worker this queue does not know.
 *
 * @example
 * ```ts
 * await queue.insert('no-such-worker', {}); // throws UnknownWorkerError
 * ```
 */
export class UnknownWorkerError extends DocketError {
  readonly worker: string;
  constructor(worker: string, known: readonly string[]) {
    super(
      'DOCKET_UNKNOWN_WORKER',
      `Unknown worker "${worker}": this queue knows ${known.length > 0 ? known.map((k) => `"${k}"`).join(', ') : 'no workers'}`,
    );
    this.worker = worker;
  }
}

/**
 * Invalid configuration or options: a bad schema name, a duplicate worker, a negative limit...
 *
 * @example
 * ```ts
 * new Queue({ connection, schema: 'bad;name' }); // throws ConfigError
 * ```
 */
export class ConfigError extends DocketError {
  constructor(message: string) {
    super('DOCKET_CONFIG', message);
  }
}

/**
 * The operation needs a state the queue is not in (e.g. `start()` on a stopped queue,
 * or `insert` after `stop()` closed a pool docket owns).
 *
 * @example
 * ```ts
 * await queue.stop();
 * await queue.start(); // throws QueueStateError: a stopped queue cannot restart
 * ```
 */
export class QueueStateError extends DocketError {
  constructor(message: string) {
    super('DOCKET_QUEUE_STATE', message);
  }
}

/**
 * The database schema is older or newer than this version of docket expects.
 *
 * @example
 * ```ts
 * await queue.start(); // throws MigrationError until `await queue.migrate()` ran
 * ```
 */
export class MigrationError extends DocketError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DOCKET_MIGRATION', message, options);
  }
}

/**
 * The reason a job's AbortSignal fires when its `timeout` passes.
 *
 * @example
 * ```ts
 * perform: async (job, { signal }) => {
 *   signal.addEventListener('abort', () => { if (signal.reason instanceof JobTimeoutError) cleanup(); });
 * }
 * ```
 */
export class JobTimeoutError extends DocketError {
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super('DOCKET_JOB_TIMEOUT', `Job timed out after ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The reason a job's AbortSignal fires when the queue stops before the job finished.
 * The job is left `retryable` without using up an attempt.
 *
 * @example
 * ```ts
 * if (signal.reason instanceof ShutdownError) { await saveCheckpoint(); }
 * ```
 */
export class ShutdownError extends DocketError {
  constructor() {
    super('DOCKET_SHUTDOWN', 'The queue stopped before the job finished');
  }
}

/**
 * The reason a running job's AbortSignal fires when the job was cancelled, discarded or deleted
 * (from any node) while it ran. Its row already holds the final state; whatever perform does
 * next is not recorded.
 *
 * @example
 * ```ts
 * if (signal.reason instanceof JobCancelledError) log.info(`stopped: job is now ${signal.reason.state}`);
 * ```
 */
export class JobCancelledError extends DocketError {
  readonly jobId: string;
  /** The job's state now: `cancelled`, `discarded`, ..., or `deleted` when the row is gone. */
  readonly state: JobState | 'deleted';
  constructor(jobId: string, state: JobState | 'deleted') {
    super('DOCKET_JOB_CANCELLED', `Job ${jobId} was ${state === 'deleted' ? 'deleted' : `moved to ${state}`} while it ran`);
    this.jobId = jobId;
    this.state = state;
  }
}

/**
 * A job could not go back to a pending state because a newer job holds its unique key.
 *
 * @example
 * ```ts
 * await queue.retryJobs({ queue: 'reports', state: 'completed' }).catch((e) => e instanceof UniqueConflictError);
 * ```
 */
export class UniqueConflictError extends DocketError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DOCKET_UNIQUE_CONFLICT', message, options);
  }
}

/**
 * A workflow could not be built or changed: an unknown dependency, a duplicate step name, a
 * cycle, a step added to a dependent that already started... Nothing was written. `step` names
 * the step at fault when there is one.
 *
 * @example
 * ```ts
 * await queue.workflow('w').add('a', work, {}, { deps: ['nope'] }).insert()
 *   .catch((e) => e instanceof WorkflowError && e.step); // 'a'
 * ```
 */
export class WorkflowError extends DocketError {
  readonly step: string | undefined;
  constructor(message: string, step?: string, options?: { cause?: unknown }) {
    super('DOCKET_WORKFLOW_INVALID', message, options);
    this.step = step;
  }
}
