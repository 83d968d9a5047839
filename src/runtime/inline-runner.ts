// Runs jobs on demand for the testing modes: claim (by queue, or the ids an insert just wrote),
// run each in turn, write its outcome at once, emit the usual events. Everything goes through
// the same statements as production, on the pool or inside the caller's transaction, so a test
// sees exactly what production would write.
import type { Engine } from '../engine/engine.js';
import type { FetchedJob, Scope } from '../engine/types.js';
import type { SafeEmitter } from '../definitions/events.js';
import type { Job, JobState } from '../definitions/job.js';
import type { Worker } from '../definitions/worker.js';
import type { AckFollowUps } from './ack-events.js';
import { emitAckEvents, jobAfterAck } from './ack-events.js';
import type { Executor } from './executor.js';
import { buildAck } from './outcome.js';

/**
 * Options of `drain()` (from `docket/testing`).
 *
 * @example
 * ```ts
 * await drain(queue, { queues: ['emails'], withScheduled: true });
 * ```
 */
export interface DrainOptions {
  /** Queues to drain. Default: every queue this Queue's workers use. */
  readonly queues?: readonly string[];
  /**
   * Also run scheduled and retryable jobs, pulled forward to now, until none is left (a job
   * that keeps failing runs until it is discarded). Default false.
   */
  readonly withScheduled?: boolean;
  /** Stop after this many attempts (a guard against jobs that keep inserting jobs). Default 10,000. */
  readonly maxJobs?: number;
}

/** One attempt a drain ran: the job as it was stored afterwards. */
export interface DrainedJob {
  readonly job: Job;
  /** The state the attempt left the job in. */
  readonly state: JobState;
}

/**
 * What `drain()` ran, and how each attempt ended.
 *
 * @example
 * ```ts
 * const { completed, retryable, discarded, jobs } = await drain(queue);
 * ```
 */
export interface DrainResult {
  readonly completed: number;
  /** Attempts that failed and left the job waiting for a retry. */
  readonly retryable: number;
  /** Snoozed attempts. */
  readonly scheduled: number;
  readonly discarded: number;
  readonly cancelled: number;
  /** Every attempt, in the order it ran. */
  readonly jobs: readonly DrainedJob[];
}

const BATCH = 100;

/** Claims and runs jobs one at a time, on the pool or in a given scope (an insert's transaction). */
export class InlineRunner {
  constructor(
    private readonly engine: Engine,
    private readonly executor: Executor,
    private readonly workers: ReadonlyMap<string, Worker>,
    private readonly nodeId: string,
    private readonly emitter: SafeEmitter,
    private readonly follow: AckFollowUps,
    /** An attempt ended (its unwritten progress can go). */
    private readonly ended: (jobId: string, claim: string) => void,
  ) {}

  /** Runs those of `ids` that are available (inline mode, right after an insert). */
  async runIds(scope: Scope | undefined, ids: readonly string[]): Promise<DrainedJob[]> {
    return this.#run(scope, await this.engine.claimIds({ ids, nodeId: this.nodeId, scope }));
  }

  /** Runs every available job of `queues` until none is left (see DrainOptions). */
  async drain(queues: readonly string[], options: DrainOptions): Promise<DrainResult> {
    const max = options.maxJobs ?? 10_000;
    const ran: DrainedJob[] = [];
    for (;;) {
      if (options.withScheduled === true) await this.engine.dueNow({ queues });
      let fetched = 0;
      for (const queue of queues) {
        const jobs = await this.engine.fetchJobs({ queue, limit: Math.min(BATCH, max - ran.length), nodeId: this.nodeId });
        fetched += jobs.length;
        ran.push(...(await this.#run(undefined, jobs)));
        if (ran.length >= max) break;
      }
      if (fetched === 0 || ran.length >= max) break;
    }
    const count = (state: JobState): number => ran.filter((r) => r.state === state).length;
    return {
      completed: count('completed'),
      retryable: count('retryable'),
      scheduled: count('scheduled'),
      discarded: count('discarded'),
      cancelled: count('cancelled'),
      jobs: ran,
    };
  }

  async #run(scope: Scope | undefined, fetched: readonly FetchedJob[]): Promise<DrainedJob[]> {
    const ran: DrainedJob[] = [];
    for (const { job, claim, queueMs } of fetched) {
      const worker = this.workers.get(job.worker);
      if (this.emitter.listenerCount('job:start') > 0) this.emitter.emit('job:start', { job, queueTime: queueMs });
      const started = performance.now();
      const outcome = await this.executor.run(job, worker, claim);
      this.ended(job.id, claim);
      if (outcome.kind === 'moved') continue;
      const ack = buildAck(job, claim, worker, outcome, { queueTime: queueMs, runTime: performance.now() - started });
      const [row] = await this.engine.ackJobs({ batchJson: `[${ack.json}]`, detailed: true, scope });
      if (row === undefined) continue;
      emitAckEvents(this.emitter, ack, row, this.follow);
      if (job.workflow !== null) await this.follow.stepFinished?.(job, ack.state);
      ran.push({ job: jobAfterAck(ack, row).job, state: ack.state });
    }
    return ran;
  }
}
