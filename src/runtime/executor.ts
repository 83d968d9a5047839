// Runs one attempt: calls perform with an AbortSignal, enforces the timeout (abort the signal
// AND stop waiting), and settles exactly once with an Outcome. Also aborts running jobs on stop,
// and abandons those whose row was taken away (cancelled, deleted) while they ran.
import { JobCancelledError, JobTimeoutError, ShutdownError, WorkflowError } from '../definitions/errors.js';
import type { Job, JobState, RunningJob } from '../definitions/job.js';
import type { Worker } from '../definitions/worker.js';
import type { NewStep } from '../definitions/workflow.js';
import type { AttemptOutcome, JobMiddleware } from '../definitions/middleware.js';
import type { Outcome } from './outcome.js';
import { outcomeOf } from './outcome.js';
import { waitWithDeadline } from './deadline.js';
import { describeThrown } from '../definitions/thrown.js';

interface Running {
  readonly id: string;
  readonly abort: (reason: unknown) => void;
  readonly settle: (outcome: Outcome) => void;
  readonly claim: string;
  readonly startedAt: number;
}

/** Reports a running job's progress (see RunningJob.progress). */
export type ProgressSink = (job: Job, claim: string, percent: number, data: unknown) => Promise<void>;

/**
 * What a workflow step's `job` offers beyond progress (the Queue's workflow service), and the
 * report that a step's ack landed.
 */
export interface StepHooks {
  results(job: Job): Promise<Readonly<Record<string, unknown>>>;
  addSteps(job: Job, claim: string, steps: readonly NewStep[]): Promise<Job[]>;
  stepsFinished(steps: readonly { readonly job: Job; readonly state: JobState }[]): void;
  /** Resolves once what stepsFinished asked is settled. */
  settled(): Promise<void>;
}

/** Runs perform of a worker with a `thread` option in a thread; settles as perform did there. */
export type ThreadRunner = (worker: Worker, job: Job, signal: AbortSignal) => Promise<unknown>;

/** `results()` and `addSteps()` of a job that is not a workflow step. */
function notAStep(): Promise<never> {
  return Promise.reject(new WorkflowError('This job is not a workflow step (no workflow inserted it), or this runtime has no workflow service'));
}

/** Tracks the attempts running on this node. */
export class Executor {
  // Keyed by claim, not job id: a job cancelled and retried can be claimed again on this node
  // while its first attempt is still winding down, and each attempt must stay its own.
  readonly #running = new Map<string, Running>();
  #idle: (() => void)[] = [];

  /**
   * @param runInThread - runs perform of workers that have a `thread` option (the Queue's
   *   ThreadPool); without it, they run in-process like any other worker
   */
  constructor(
    private readonly progress: ProgressSink = () => Promise.resolve(),
    private readonly runInThread?: ThreadRunner,
    private readonly steps?: StepHooks,
    middleware: readonly JobMiddleware[] = [],
  ) {
    this.#middleware = middleware.filter((m) => m.perform !== undefined);
  }

  readonly #middleware: readonly JobMiddleware[];

  /** Attempts running for at least `minAgeMs`, with the claim each runs under. */
  attempts(minAgeMs = 0): { id: string; claim: string }[] {
    const now = performance.now();
    const out: { id: string; claim: string }[] = [];
    for (const running of this.#running.values()) if (now - running.startedAt >= minAgeMs) out.push({ id: running.id, claim: running.claim });
    return out;
  }

  /**
   * The row of this attempt moved on without it (cancelled, discarded, deleted elsewhere): abort
   * its signal and settle it as `moved`, so nothing is written for it and its slot frees now.
   */
  abandon(id: string, claim: string, state: string | null): boolean {
    const running = this.#running.get(claim);
    if (running === undefined || running.id !== id) return false;
    const error = new JobCancelledError(id, (state ?? 'deleted') as JobState | 'deleted');
    running.abort(error);
    running.settle({ kind: 'moved', error });
    return true;
  }

  get size(): number {
    return this.#running.size;
  }

  /** Runs `job` with `worker` (undefined: no such worker on this node) and resolves with its outcome. */
  run(job: Job, worker: Worker | undefined, claim = ''): Promise<Outcome> {
    const key = claim === '' ? `job:${job.id}` : claim;
    return new Promise<Outcome>((resolve) => {
      // The AbortController is made on first use: most jobs never read their signal and are
      // never aborted, and at tens of thousands of jobs a second the allocation shows.
      let controller: AbortController | undefined;
      const abort = (reason: unknown): void => (controller ??= new AbortController()).abort(reason);
      const context = {
        get signal(): AbortSignal {
          return (controller ??= new AbortController()).signal;
        },
      };
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      // Perform middleware waiting in next(): told when the attempt settles without perform (timeout, stop, taken away).
      let onSettled: ((outcome: Outcome) => void) | undefined;
      const settle = (outcome: Outcome): void => {
        if (settled) return;
        settled = true;
        onSettled?.(outcome);
        if (timer !== undefined) clearTimeout(timer);
        this.#running.delete(key);
        resolve(outcome);
        if (this.#running.size === 0) {
          const waiters = this.#idle;
          this.#idle = [];
          for (const wake of waiters) wake();
        }
      };
      this.#running.set(key, { id: job.id, abort, settle, claim, startedAt: performance.now() });
      if (worker === undefined) {
        settle({ kind: 'error', error: new Error(`No worker named "${job.worker}" is registered on this node`) });
        return;
      }
      if (worker.timeout !== undefined) {
        const ms = worker.timeout;
        timer = setTimeout(() => {
          const error = new JobTimeoutError(ms);
          abort(error);
          settle({ kind: 'error', error });
        }, ms);
      }
      if (this.#middleware.length > 0) {
        this.#runWithMiddleware(worker, this.#runningJob(job, claim), context, settle, (fn) => (onSettled = fn));
        return;
      }
      // perform may throw synchronously, return a value, or return a promise.
      Promise.resolve()
        .then(() => this.#perform(worker, this.#runningJob(job, claim), context))
        .then(
          (value) => settle(readOutcome(value)),
          (error: unknown) => settle({ kind: 'error', error }),
        );
    });
  }

  // The attempt inside the perform middleware: each sees how it ended (never a rejection); the
  // outcome stored is perform's, and a middleware that throws fails the attempt.
  #runWithMiddleware(
    worker: Worker,
    job: RunningJob,
    context: { readonly signal: AbortSignal },
    settle: (outcome: Outcome) => void,
    whenSettled: (fn: (outcome: Outcome) => void) => void,
  ): void {
    const chain = this.#middleware;
    let inner: Outcome | undefined;
    // next() resolves when perform does, or when the attempt ends without it (a timeout, a stop).
    const ended = new Promise<Outcome>((resolve) => whenSettled(resolve));
    const run = (i: number): Promise<AttemptOutcome> => {
      if (i === chain.length) {
        const performed = Promise.resolve()
          .then(() => this.#perform(worker, job, context))
          .then(readOutcome, (error: unknown): Outcome => ({ kind: 'error', error }));
        return Promise.race([performed, ended])
          .then((outcome) => {
            inner = outcome;
            return attemptOutcome(outcome);
          });
      }
      return Promise.resolve().then(() => chain[i]!.perform!(job, () => run(i + 1)));
    };
    run(0).then(
      () => settle(inner ?? { kind: 'error', error: new Error('A perform middleware returned without calling next(): the worker never ran') }),
      (error: unknown) => settle({ kind: 'error', error }),
    );
  }

  #perform(worker: Worker, job: RunningJob, context: { readonly signal: AbortSignal }): unknown {
    if (worker.thread !== undefined && this.runInThread !== undefined) return this.runInThread(worker, job, context.signal);
    return worker.perform(job as never, context);
  }

  // The fetched job object is ours alone: giving it `progress` in place costs one closure, where
  // a copy of every field cost measurable throughput (and garbage) at tens of thousands a second.
  #runningJob(job: Job, claim: string): RunningJob {
    const sink = this.progress;
    const running = this.#running;
    const target = job as Job & { progress?: RunningJob['progress']; results?: RunningJob['results']; addSteps?: RunningJob['addSteps'] };
    // A report after the attempt ended (a callback that outlived perform) has nothing to update.
    target.progress = (percent: number, data?: unknown) =>
      running.has(claim) ? sink(job, claim, percent, data) : Promise.resolve();
    const steps = this.steps;
    if (job.workflow === null || steps === undefined) {
      // Plain jobs (nearly all) share two functions rather than allocating closures per job.
      target.results = notAStep;
      target.addSteps = notAStep;
    } else {
      target.results = () => steps.results(job);
      target.addSteps = (added) => steps.addSteps(job, claim, added);
    }
    return target as RunningJob;
  }

  /** Resolves when no attempt is running, or after `ms`; returns whether all finished. */
  async waitIdle(ms: number): Promise<boolean> {
    if (this.#running.size === 0) return true;
    return waitWithDeadline((done) => this.#idle.push(done), ms);
  }

  /** Aborts every running attempt with a ShutdownError; they settle as `shutdown` at once. */
  abortAll(): number {
    const all = [...this.#running.values()];
    for (const { abort, settle } of all) {
      const error = new ShutdownError();
      abort(error);
      settle({ kind: 'shutdown', error });
    }
    return all.length;
  }
}

/** An outcome as perform middleware sees it. */
function attemptOutcome(outcome: Outcome): AttemptOutcome {
  switch (outcome.kind) {
    case 'ok':
      return { kind: 'complete' };
    case 'snooze':
      return { kind: 'snooze', delay: outcome.delayMs };
    case 'cancel':
    case 'discard':
      return { kind: outcome.kind, reason: outcome.reason };
    default:
      return { kind: 'error', error: 'error' in outcome ? outcome.error : new Error(outcome.kind) };
  }
}

// The outcome of a value perform returned; one that cannot even be inspected (a Proxy whose
// traps throw) fails the attempt instead of leaving it unsettled.
function readOutcome(value: unknown): Outcome {
  try {
    return outcomeOf(value);
  } catch (error) {
    return { kind: 'error', error: new Error(`perform returned a value that cannot be read: ${describeThrown(error)}`) };
  }
}
