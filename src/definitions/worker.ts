// Worker definitions: a named, zod-typed unit of work with its defaults (queue, attempts,
// priority, timeout, backoff), and the explicit results `perform` may return.
import type { z } from 'zod';
import { ConfigError } from './errors.js';
import type { RunningJob } from './job.js';

const RESULT_BRAND = Symbol.for('docket.worker-result');

/**
 * An explicit outcome `perform` can return instead of a plain value. Build one with
 * {@link WorkerResults}.
 *
 * @example
 * ```ts
 * perform: async (job) => (await rateLimited()) ? WorkerResults.snooze(5_000) : 'done'
 * ```
 */
export type WorkerResult =
  | { readonly [RESULT_BRAND]: true; readonly kind: 'ok'; readonly value: unknown }
  | { readonly [RESULT_BRAND]: true; readonly kind: 'error'; readonly error: unknown; readonly delayMs?: number }
  | { readonly [RESULT_BRAND]: true; readonly kind: 'snooze'; readonly delayMs: number }
  | { readonly [RESULT_BRAND]: true; readonly kind: 'cancel'; readonly reason: string }
  | { readonly [RESULT_BRAND]: true; readonly kind: 'discard'; readonly reason: string };

/**
 * Explicit outcomes for `perform`.
 * - `ok(value)`: complete with `value` as the result (same as returning `value`)
 * - `error(err, delayMs?)`: fail this attempt (same as throwing), optionally overriding the backoff
 * - `snooze(delayMs)`: run again after `delayMs` without using up an attempt
 * - `cancel(reason)`: stop for good as `cancelled`
 * - `discard(reason)`: stop for good as `discarded`
 *
 * @example
 * ```ts
 * perform: async (job) => {
 *   if (job.args.userId === 'deleted') return WorkerResults.cancel('user is gone');
 *   if (!(await upstreamReady())) return WorkerResults.snooze(30_000);
 *   return { sent: true };
 * }
 * ```
 */
export const WorkerResults = {
  ok: (value: unknown): WorkerResult => ({ [RESULT_BRAND]: true, kind: 'ok', value }),
  error: (error: unknown, delayMs?: number): WorkerResult =>
    delayMs === undefined
      ? { [RESULT_BRAND]: true, kind: 'error', error }
      : { [RESULT_BRAND]: true, kind: 'error', error, delayMs: checkDelay(delayMs, 'error') },
  snooze: (delayMs: number): WorkerResult => ({
    [RESULT_BRAND]: true,
    kind: 'snooze',
    delayMs: checkDelay(delayMs, 'snooze'),
  }),
  cancel: (reason = 'cancelled by worker'): WorkerResult => ({ [RESULT_BRAND]: true, kind: 'cancel', reason }),
  discard: (reason = 'discarded by worker'): WorkerResult => ({ [RESULT_BRAND]: true, kind: 'discard', reason }),
} as const;

function checkDelay(delayMs: number, what: string): number {
  if (!Number.isFinite(delayMs) || delayMs < 0) {
    throw new ConfigError(`WorkerResults.${what}: delay must be a finite number of ms >= 0, got ${delayMs}`);
  }
  return Math.round(delayMs);
}

/** Whether a value returned by `perform` is an explicit {@link WorkerResult}. */
export function isWorkerResult(value: unknown): value is WorkerResult {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[RESULT_BRAND] === true;
}

/**
 * What `perform` receives beside the job.
 *
 * @example
 * ```ts
 * perform: async (job, { signal }) => fetch(job.args.url, { signal })
 * ```
 */
export interface PerformContext {
  /** Fires on timeout (reason: JobTimeoutError) and on shutdown (reason: ShutdownError). */
  readonly signal: AbortSignal;
}

/** A backoff: milliseconds to wait before attempt `attempt + 1`, given the failed attempt number (1-based). */
export type Backoff = (attempt: number, error: unknown) => number;

/**
 * The default backoff: exponential (2 s, 4 s, 8 s, ... capped at 1 h) with ±20 % jitter so
 * a burst of failures does not come back as a burst.
 *
 * @example
 * ```ts
 * defaultBackoff(3); // ≈ 8000 ms (between 6400 and 9600)
 * ```
 */
export const defaultBackoff: Backoff = (attempt) => {
  const base = Math.min(1000 * 2 ** Math.max(1, attempt), 3_600_000);
  return Math.round(base * (0.8 + Math.random() * 0.4));
};

/**
 * Per-key concurrency: at most `limit` jobs with the same key (e.g. a tenant id) run at once
 * across the whole cluster, while jobs of other keys keep flowing. The key is computed from the
 * parsed args at insert time. Keys are scoped to the queue: workers of one queue that return
 * the same key share its limit.
 *
 * @example
 * ```ts
 * partition: { by: (args) => args.tenantId, limit: 2 }
 * ```
 */
export interface PartitionOptions<Args = unknown> {
  /** The key of a job; 1–255 characters. */
  readonly by: (args: Args) => string;
  /** How many jobs of one key may run at once across all nodes (1–10,000). */
  readonly limit: number;
}

/** Validates partition options (worker or queue level). */
export function checkPartition<Args>(partition: PartitionOptions<Args>, where: string): PartitionOptions<Args> {
  if (typeof partition !== 'object' || partition === null || typeof partition.by !== 'function') {
    throw new ConfigError(`${where}: partition must be { by: (args) => string, limit: number }`);
  }
  return { by: partition.by, limit: checkInt(partition.limit, 1, 10_000, `${where}: partition.limit`) };
}

/**
 * Runs a worker's `perform` in a `worker_threads` thread of its Queue's pool, so CPU-heavy work
 * does not block the event loop. A function cannot be sent to a thread, so the thread imports
 * `module` and takes the exported Worker of the same name: export the worker from a module that
 * does nothing else on import (no Queue started, no server).
 *
 * In the thread, `job` (with `job.progress`) and the returned value or WorkerResult behave as
 * in-process; errors keep their message, name and stack. The job's args and result cross as
 * JSON. `signal` never fires there: a timeout or shutdown terminates the thread instead.
 *
 * @example
 * ```ts
 * // workers/thumbnail.ts
 * export const thumbnail = new Worker({
 *   name: 'thumbnail',
 *   args: z.object({ path: z.string() }),
 *   timeout: 60_000,
 *   thread: { module: import.meta.url }, // CommonJS: { module: __filename }
 *   perform: (job) => renderThumbnail(job.args.path), // CPU-bound, synchronous is fine
 * });
 * ```
 */
export interface ThreadOption {
  /** The module that exports this Worker: a `file:` URL (`import.meta.url`) or an absolute path. */
  readonly module: string | URL;
}

// A path on POSIX, a Windows drive or a UNC share. (No node:path here: this module is bundled
// into the pool's thread entry too, which needs none of these checks.)
const ABSOLUTE_PATH_RE = /^(?:\/|[A-Za-z]:[\\/]|\\\\)/;

function checkThread(thread: ThreadOption, where: string): { readonly module: string } {
  const module: unknown = (thread as { module?: unknown } | null)?.module;
  const text = module instanceof URL ? module.href : module;
  if (typeof text === 'string' && (text.startsWith('file:') ? URL.canParse(text) : ABSOLUTE_PATH_RE.test(text))) {
    return { module: text };
  }
  throw new ConfigError(
    `${where}: thread.module must be the file URL or absolute path of the module that exports this worker (import.meta.url, or __filename in CommonJS), got ${String(module)}`,
  );
}

/** Any zod schema. */
export type ArgsSchema = z.ZodType;

/**
 * Options of a {@link Worker}.
 *
 * @typeParam S - the zod schema of the job's args
 */
export interface WorkerOptions<S extends ArgsSchema, R = unknown> {
  /** Unique within a Queue; stored on every job. 1–128 characters. */
  readonly name: string;
  /** Validates (and may transform) args at insert time. */
  readonly args: S;
  /**
   * What `perform` returns, for the steps of a workflow that read it: types
   * {@link stepResult} (and checks the value there). Not enforced on `perform` itself.
   */
  readonly result?: z.ZodType<R>;
  /** Queue the worker's jobs go to. Default `'default'`. */
  readonly queue?: string;
  /** Attempts before a failing job is discarded. Default 20. */
  readonly maxAttempts?: number;
  /** Lower runs first (-32768..32767). Default 0. */
  readonly priority?: number;
  /** Per-attempt time limit in ms; on expiry the signal aborts and the attempt fails. Default: none. */
  readonly timeout?: number;
  /** Delay before a retry. Default {@link defaultBackoff}. */
  readonly backoff?: Backoff;
  /** Tags added to every job of this worker. */
  readonly tags?: readonly string[];
  /** Per-key concurrency across the cluster, e.g. per tenant. Default: none. */
  readonly partition?: PartitionOptions<z.output<S>>;
  /** Run perform in a worker thread of the Queue's pool (see {@link ThreadOption}). Default: in-process. */
  readonly thread?: ThreadOption;
  /** The work. Return a JSON-serializable value, throw, or return a {@link WorkerResult}. */
  readonly perform: (job: RunningJob<z.output<S>>, context: PerformContext) => unknown;
}

const NAME_RE = /^[A-Za-z0-9_.:\-/]{1,128}$/;

/** Checks a queue name; queue names travel in NOTIFY payloads and metrics labels. */
export function checkQueueName(name: unknown, where: string): string {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new ConfigError(`${where}: queue name must be 1–128 characters of A-Z a-z 0-9 _ . : - /, got ${JSON.stringify(name)}`);
  }
  return name;
}

/** Checks an integer option against inclusive bounds. */
export function checkInt(value: unknown, min: number, max: number, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${where} must be an integer between ${min} and ${max}, got ${String(value)}`);
  }
  return value;
}

/**
 * A named kind of job: its args schema, defaults and `perform` function.
 *
 * @typeParam S - the zod schema; `job.args` in `perform` is `z.output<S>`, insert takes `z.input<S>`
 * @example
 * ```ts
 * const resize = new Worker({
 *   name: 'resize-image',
 *   args: z.object({ url: z.string().url(), width: z.number().int().positive() }),
 *   queue: 'images',
 *   maxAttempts: 5,
 *   timeout: 30_000,
 *   perform: async (job, { signal }) => resizeImage(job.args.url, job.args.width, signal),
 * });
 * ```
 */
export class Worker<S extends ArgsSchema = ArgsSchema, R = unknown> {
  readonly name: string;
  readonly args: S;
  /** The declared result schema, if any (see {@link WorkerOptions.result}). */
  readonly result: z.ZodType<R> | undefined;
  readonly queue: string;
  readonly maxAttempts: number;
  readonly priority: number;
  readonly timeout: number | undefined;
  readonly backoff: Backoff;
  readonly tags: readonly string[];
  readonly partition: PartitionOptions<z.output<S>> | undefined;
  /** Set when perform runs in a thread: the module that exports this worker (file URL or absolute path). */
  readonly thread: { readonly module: string } | undefined;
  readonly perform: WorkerOptions<S>['perform'];

  constructor(options: WorkerOptions<S, R>) {
    if (typeof options?.name !== 'string' || !NAME_RE.test(options.name)) {
      throw new ConfigError(`Worker name must be 1–128 characters of A-Z a-z 0-9 _ . : - /, got ${JSON.stringify(options?.name)}`);
    }
    const where = `Worker "${options.name}"`;
    if (typeof options.args?.safeParse !== 'function') throw new ConfigError(`${where}: args must be a zod schema`);
    if (typeof options.perform !== 'function') throw new ConfigError(`${where}: perform must be a function`);
    this.name = options.name;
    this.args = options.args;
    if (options.result !== undefined && typeof options.result?.safeParse !== 'function') throw new ConfigError(`${where}: result must be a zod schema`);
    this.result = options.result;
    this.queue = checkQueueName(options.queue ?? 'default', where);
    this.maxAttempts = checkInt(options.maxAttempts ?? 20, 1, 32767, `${where}: maxAttempts`);
    this.priority = checkInt(options.priority ?? 0, -32768, 32767, `${where}: priority`);
    this.timeout = options.timeout === undefined ? undefined : checkInt(options.timeout, 1, 2_147_483_647, `${where}: timeout`);
    if (options.backoff !== undefined && typeof options.backoff !== 'function') {
      throw new ConfigError(`${where}: backoff must be a function (attempt) => ms`);
    }
    this.backoff = options.backoff ?? defaultBackoff;
    this.tags = [...(options.tags ?? [])];
    this.partition = options.partition === undefined ? undefined : checkPartition(options.partition, where);
    this.thread = options.thread === undefined ? undefined : checkThread(options.thread, where);
    this.perform = options.perform;
  }
}

/** The args a worker accepts at insert (before zod transforms). */
export type WorkerInput<W> = W extends Worker<infer S> ? z.input<S> : never;
