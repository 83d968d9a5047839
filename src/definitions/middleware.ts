// The middleware contract: code a Queue runs around every insert call and every attempt, on
// the node doing it. Tracing (docket/opentelemetry) is built on it: the insert hook adds trace
// context to the jobs' meta before they are written, the perform hook makes the consumer span
// current while the worker runs. Hooks compose in order: the first middleware is outermost.
import type { Job, RunningJob } from './job.js';

/**
 * One insert call as insert middleware sees it (`insert`, `insertMany`, a cron tick, a
 * workflow's start): validated, not yet written. A workflow's start is one call for all its
 * steps (`workflow` names it, `count` is its steps, `worker` and `queue` are its first step's),
 * and every step is written with the call's meta; steps a running step adds later carry that
 * step's meta.
 *
 * @example
 * ```ts
 * insert: async (call, next) => {
 *   call.meta.requestId = currentRequestId();
 *   return next();
 * }
 * ```
 */
export interface InsertCall {
  /** The worker every job of the call belongs to. */
  readonly worker: string;
  readonly queue: string;
  /** How many jobs the call inserts. */
  readonly count: number;
  /** The workflow's name, when the call starts a workflow (its jobs are the workflow's steps). */
  readonly workflow?: string;
  /** Whether the call runs inside the host's transaction (`tx`). */
  readonly inTransaction: boolean;
  /**
   * The meta every job of the call is written with (the insert's `meta` option, a copy).
   * Middleware may add or change keys before calling `next`; values must be JSON.
   */
  readonly meta: Record<string, unknown>;
}

/**
 * How an attempt ended, as perform middleware sees it: `next()` resolves with it and never
 * rejects (a thrown error is `{ kind: 'error' }`).
 *
 * @example
 * ```ts
 * const outcome = await next();
 * if (outcome.kind === 'error') span.recordException(outcome.error as Error);
 * ```
 */
export type AttemptOutcome =
  | { readonly kind: 'complete' }
  | { readonly kind: 'error'; readonly error: unknown }
  | { readonly kind: 'snooze'; readonly delay: number }
  | { readonly kind: 'cancel'; readonly reason: string }
  | { readonly kind: 'discard'; readonly reason: string };

/**
 * Code run around inserts and attempts on this node. Give it as `middleware` in the Queue's
 * options, or from a Plugin (its `middleware` property). A hook that throws fails that
 * insert (nothing is written) or that attempt.
 *
 * @example
 * ```ts
 * const timing: JobMiddleware = {
 *   name: 'timing',
 *   perform: async (job, next) => {
 *     const started = performance.now();
 *     const outcome = await next();
 *     log.info(`${job.worker} #${job.id}: ${outcome.kind} in ${performance.now() - started} ms`);
 *     return outcome;
 *   },
 * };
 * const queue = new Queue({ connection, workers, middleware: [timing] });
 * ```
 */
export interface JobMiddleware {
  /** Named in errors and logs. */
  readonly name?: string;
  /**
   * Around one insert call: add to `call.meta`, then `next()` writes the jobs and resolves
   * with them (with `tx`, before the host commits).
   */
  insert?(call: InsertCall, next: () => Promise<readonly Job[]>): Promise<readonly Job[]>;
  /**
   * Around one attempt of a job on this node: `next()` runs the worker (in its thread, for a
   * thread worker) and resolves with how the attempt ended. Return that outcome; what perform
   * middleware returns is not changed into another outcome.
   */
  perform?(job: RunningJob, next: () => Promise<AttemptOutcome>): Promise<AttemptOutcome>;
}
