// The operator's half of a Queue: look jobs up, list them, cancel/retry/discard/delete them (one
// or by filter), and pause, resume or scale queues. Every action is one statement that also
// NOTIFYs the cluster, and is persisted, so nodes that miss the notification catch up on their
// next reconcile. Queue extends this class; the runtime reacts through the protected hooks.
import type { ResolvedConfig } from '../config/config.js';
import type { ControlEngine, QueueControlRow } from '../engine/control-engine.js';
import type { JobFilter, JobPage, ListJobsOptions } from './job-filter.js';
import { checkJobId, filterParams } from './job-filter.js';
import type { QueueStats } from './queue-stats.js';
import { buildStats } from './queue-stats.js';
import type { Driver } from '../driver/types.js';
import type { Engine } from '../engine/engine.js';
import { ConfigError, UniqueConflictError } from '../definitions/errors.js';
import { SafeEmitter } from '../definitions/events.js';
import type { Job, JobRow } from '../definitions/job.js';
import { rowToJob } from '../definitions/job.js';
import { checkInt, checkQueueName } from '../definitions/worker.js';

/** The database pieces an admin works on. */
export interface AdminParts {
  readonly config: ResolvedConfig;
  readonly driver: Driver;
  readonly engine: Engine;
  readonly control: ControlEngine;
}

const DEADLOCK = '40P01';
const UNIQUE_VIOLATION = '23505';

function sqlState(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? ((error as { code?: unknown }).code as string | undefined) : undefined;
}

/**
 * Job and queue administration, shared by every {@link Queue}. Use it through a Queue.
 *
 * @example
 * ```ts
 * await queue.cancel(jobId);
 * await queue.pauseQueue('emails');
 * const stats = await queue.queueStats();
 * ```
 */
export abstract class QueueAdmin extends SafeEmitter {
  readonly #parts: AdminParts;

  /** @internal */
  protected constructor(parts: AdminParts) {
    super(parts.config.logger);
    this.#parts = parts;
  }

  /** @internal A persisted queue control changed (this node applies it at once). */
  protected abstract controlChanged(row: QueueControlRow): void;
  /** @internal A job that may be running on this node was taken away: check the running ones now. */
  protected abstract jobsTakenAway(): void;
  /** @internal Throws when the queue can no longer reach the database. */
  protected abstract assertUsable(): void;

  /**
   * Reads a job by id; `null` when there is none.
   *
   * @example
   * ```ts
   * const job = await queue.getJob(id);
   * ```
   */
  async getJob(id: string | number | bigint): Promise<Job | null> {
    const text = checkJobId(id);
    this.assertUsable();
    return this.#parts.engine.getJob(text);
  }

  /**
   * Cancels a job: `available`, `scheduled` or `retryable` jobs become `cancelled`; an
   * `executing` one becomes `cancelled` at once and the node running it (any node) aborts its
   * signal with a {@link JobCancelledError}; it is not retried. Returns the job as it is now
   * (unchanged if it had already finished), or `null` when there is no such job.
   *
   * @example
   * ```ts
   * const job = await queue.cancel(id, 'customer closed the account');
   * ```
   */
  async cancel(id: string | number | bigint, reason = 'cancelled by an operator'): Promise<Job | null> {
    return this.#one(id, () => this.#parts.control.finishJob('cancelled', checkJobId(id), String(reason)), true);
  }

  /**
   * Discards a job: like {@link QueueAdmin.cancel}, but the job ends `discarded`.
   *
   * @example
   * ```ts
   * await queue.discard(id, 'poison message');
   * ```
   */
  async discard(id: string | number | bigint, reason = 'discarded by an operator'): Promise<Job | null> {
    return this.#one(id, () => this.#parts.control.finishJob('discarded', checkJobId(id), String(reason)), true);
  }

  /**
   * Runs a job again now: a `scheduled`, `retryable`, `completed`, `discarded` or `cancelled`
   * job becomes `available` (with one more attempt if it had used them all). An `executing`
   * job is left alone, and so is a finished unique job whose key a newer job now holds.
   * Returns the job as it is now, or `null` when there is no such job.
   *
   * @example
   * ```ts
   * await queue.retry(id);
   * ```
   */
  async retry(id: string | number | bigint): Promise<Job | null> {
    return this.#one(id, () => this.#parts.control.retryJob(checkJobId(id)), false);
  }

  /**
   * Deletes a job in any state; a running one is aborted on its node. Returns the deleted job,
   * or `null` when there was none.
   *
   * @example
   * ```ts
   * await queue.delete(id);
   * ```
   */
  async delete(id: string | number | bigint): Promise<Job | null> {
    checkJobId(id);
    this.assertUsable();
    const row = await this.#retrying(() => this.#parts.control.deleteJob(checkJobId(id)));
    if (row === undefined) return null;
    if (row.state === 'executing') this.jobsTakenAway();
    return rowToJob(row);
  }

  /**
   * Cancels every unfinished job matching `filter` (see {@link QueueAdmin.cancel}); returns how
   * many. An empty filter is refused.
   *
   * @example
   * ```ts
   * const n = await queue.cancelJobs({ queue: 'emails', tags: ['campaign-42'] });
   * ```
   */
  async cancelJobs(filter: JobFilter, reason = 'cancelled by an operator'): Promise<number> {
    const params = filterParams(filter, false);
    return this.#many(() => this.#parts.control.finishJobs('cancelled', params, String(reason)), true);
  }

  /**
   * Discards every unfinished job matching `filter`; returns how many.
   *
   * @example
   * ```ts
   * await queue.discardJobs({ worker: 'legacy-sync' });
   * ```
   */
  async discardJobs(filter: JobFilter, reason = 'discarded by an operator'): Promise<number> {
    const params = filterParams(filter, false);
    return this.#many(() => this.#parts.control.finishJobs('discarded', params, String(reason)), true);
  }

  /**
   * Makes every matching job that is not running `available` now; returns how many.
   * Jobs whose unique key a newer job holds are skipped.
   *
   * @example
   * ```ts
   * await queue.retryJobs({ queue: 'webhooks', state: 'discarded' });
   * ```
   */
  async retryJobs(filter: JobFilter): Promise<number> {
    const params = filterParams(filter, false);
    return this.#many(() => this.#parts.control.retryJobs(params), false);
  }

  /**
   * Deletes every matching job (running ones are aborted on their nodes); returns how many.
   *
   * @example
   * ```ts
   * await queue.deleteJobs({ state: 'cancelled', queue: 'exports' });
   * ```
   */
  async deleteJobs(filter: JobFilter): Promise<number> {
    const params = filterParams(filter, false);
    return this.#many(() => this.#parts.control.deleteJobs(params), true);
  }

  /**
   * Lists jobs matching the filter, newest first by default, one page at a time (keyset
   * pagination by id: stable while jobs are inserted).
   *
   * @example
   * ```ts
   * const { jobs, next } = await queue.listJobs({ queue: 'images', state: ['discarded'], limit: 50 });
   * ```
   */
  async listJobs(options: ListJobsOptions = {}): Promise<JobPage> {
    const params = filterParams(options, true);
    const limit = checkInt(options.limit ?? 100, 1, 1000, 'listJobs: limit');
    const after = options.after === undefined ? null : checkJobId(options.after, 'listJobs: after');
    const order = options.order ?? 'desc';
    if (order !== 'asc' && order !== 'desc') throw new ConfigError(`listJobs: order must be 'asc' or 'desc', got ${String(order)}`);
    this.assertUsable();
    const rows = await this.#parts.control.listJobs(params, after, limit, order);
    const jobs = rows.map((row) => rowToJob(row));
    return { jobs, next: jobs.length === limit ? jobs[jobs.length - 1]!.id : null };
  }

  /**
   * Per queue: paused or not, the per-node limit set by {@link QueueAdmin.scaleQueue}, this
   * node's limit, job counts by state, and how long the oldest available job has waited.
   * Counts every job row (an aggregate over the table: meant for dashboards, not hot loops).
   *
   * @example
   * ```ts
   * for (const q of await queue.queueStats()) console.log(q.name, q.counts.available, q.oldestAvailableMs);
   * ```
   */
  async queueStats(): Promise<QueueStats[]> {
    this.assertUsable();
    const [rows, controls] = await Promise.all([this.#parts.control.stats(), this.#parts.control.controls()]);
    return buildStats(rows, controls, this.localLimits());
  }

  /**
   * Pauses a queue on every node: no node fetches its jobs until {@link QueueAdmin.resumeQueue};
   * jobs already running finish. Persisted, so nodes started later obey it too. Resolves once
   * stored (and applied on this node); other nodes apply it when the notification reaches them,
   * at the latest at their next reconcile (`reconcileInterval`). Once a node has applied it, that
   * node claims and starts no job of the queue: jobs claimed by a fetch already in flight go back
   * unstarted (see docs/control.md, "What a pause promises").
   *
   * @example
   * ```ts
   * await queue.pauseQueue('emails');
   * ```
   */
  async pauseQueue(name: string): Promise<void> {
    await this.#control(name, true, null);
  }

  /**
   * Resumes a paused queue on every node.
   *
   * @example
   * ```ts
   * await queue.resumeQueue('emails');
   * ```
   */
  async resumeQueue(name: string): Promise<void> {
    await this.#control(name, false, null);
  }

  /**
   * Sets how many jobs of a queue may run at once on each node, on every node (0 stops new
   * starts, like a pause); `null` goes back to each node's own setting. Persisted.
   *
   * @example
   * ```ts
   * await queue.scaleQueue('images', 2);   // at most 2 per node from now on
   * await queue.scaleQueue('images', null); // back to each node's configured concurrency
   * ```
   */
  async scaleQueue(name: string, limit: number | null): Promise<void> {
    const value = limit === null ? null : checkInt(limit, 0, 10_000, `scaleQueue("${name}"): limit`);
    await this.#control(name, null, { value });
  }

  /** @internal This node's effective concurrency per queue it runs. */
  protected abstract localLimits(): ReadonlyMap<string, number>;

  async #control(name: string, paused: boolean | null, concurrency: { readonly value: number | null } | null): Promise<void> {
    checkQueueName(name, 'Queue control');
    this.assertUsable();
    const row = await this.#parts.control.setControl(name, paused, concurrency);
    this.controlChanged(row);
  }

  async #one(id: string | number | bigint, run: () => Promise<JobRow & { was?: string } | undefined>, aborts: boolean): Promise<Job | null> {
    const text = checkJobId(id);
    this.assertUsable();
    const row = await this.#retrying(run);
    if (row === undefined) return this.#parts.engine.getJob(text);
    if (aborts && row.was === 'executing') this.jobsTakenAway();
    const { was: _was, ...jobRow } = row;
    return rowToJob(jobRow as JobRow);
  }

  async #many(run: () => Promise<number>, aborts: boolean): Promise<number> {
    this.assertUsable();
    const n = await this.#retrying(run);
    if (aborts && n > 0) this.jobsTakenAway();
    return n;
  }

  // A bulk action locks rows in id order, but an ack batch may hold some of them in another
  // order: the database then picks a deadlock victim. Ours is safe to run again.
  async #retrying<T>(run: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (error) {
        const code = sqlState(error);
        if (code === DEADLOCK && attempt < 3) continue;
        if (code === UNIQUE_VIOLATION) {
          throw new UniqueConflictError('A job cannot run again: a newer job holds its unique key', { cause: error });
        }
        throw error;
      }
    }
  }
}
