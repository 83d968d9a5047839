// Runs one attempt: calls perform with an AbortSignal, enforces the timeout (abort the signal
// AND stop waiting), and settles exactly once with an Outcome. Also aborts running jobs on stop.
import { JobTimeoutError, ShutdownError } from '../errors.js';
import type { Job } from '../job.js';
import type { Worker } from '../worker.js';
import type { Outcome } from './outcome.js';
import { outcomeOf } from './outcome.js';
import { waitWithDeadline } from './deadline.js';

interface Running {
  readonly abort: (reason: unknown) => void;
  readonly settle: (outcome: Outcome) => void;
}

/** Tracks the attempts running on this node. */
export class Executor {
  readonly #running = new Map<string, Running>();
  #idle: (() => void)[] = [];

  get size(): number {
    return this.#running.size;
  }

  /** Runs `job` with `worker` (undefined: no such worker on this node) and resolves with its outcome. */
  run(job: Job, worker: Worker | undefined): Promise<Outcome> {
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
      const settle = (outcome: Outcome): void => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        this.#running.delete(job.id);
        resolve(outcome);
        if (this.#running.size === 0) {
          const waiters = this.#idle;
          this.#idle = [];
          for (const wake of waiters) wake();
        }
      };
      this.#running.set(job.id, { abort, settle });
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
      // perform may throw synchronously, return a value, or return a promise.
      Promise.resolve()
        .then(() => worker.perform(job as never, context))
        .then(
          (value) => settle(outcomeOf(value)),
          (error: unknown) => settle({ kind: 'error', error }),
        );
    });
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
