// The operator's operations on jobs and queues: look jobs up, list them, cancel/retry/discard/
// delete them (one or by filter), and pause, resume or scale queues. Every action is one
// statement that also NOTIFYs the cluster, and is persisted, so nodes that miss the notification
// catch up on their next reconcile. The Queue delegates to it; the runtime hears of what it did
// through the hooks (documented on QueueApi, src/queue-api.ts).
import { ConfigError, UniqueConflictError } from '../definitions/errors.js';
import type { Job, JobRow } from '../definitions/job.js';
import { rowToJob } from '../definitions/job.js';
import { checkReason } from '../definitions/storable-text.js';
import { checkInt, checkQueueName } from '../definitions/worker.js';
import type { Engine } from '../engine/engine.js';
import type { ChangedJobRow, QueueControlRow } from '../engine/types.js';
import type { JobFilter, JobPage, ListJobsOptions } from './job-filter.js';
import { checkJobId, filterParams } from './job-filter.js';
import type { QueueStats } from './queue-stats.js';
import { buildStats } from './queue-stats.js';
import type { NodeInfo, RescueOptions } from './node-info.js';
import { rowToNode } from './node-info.js';
import type { ThroughputMinute, ThroughputOptions } from './throughput.js';
import { rowToMinute, throughputParams } from './throughput.js';

/** What the admin operations tell, and ask of, the node around them. */
export interface AdminHooks {
  /** Throws when the queue can no longer reach the database. */
  assertUsable(): void;
  /** A persisted queue control changed: this node applies it at once. */
  controlChanged(row: QueueControlRow): void;
  /** A job that may be running on this node was taken away: check the running ones now. */
  jobsTakenAway(): void;
  /** This node's effective concurrency per queue it runs. */
  localLimits(): ReadonlyMap<string, number>;
}

const DEADLOCK = '40P01';
const UNIQUE_VIOLATION = '23505';

function sqlState(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? ((error as { code?: unknown }).code as string | undefined) : undefined;
}

type Id = string | number | bigint;

/** Job and queue administration of one Queue. */
export class Admin {
  constructor(
    private readonly engine: Engine,
    private readonly hooks: AdminHooks,
  ) {}

  async getJob(id: Id): Promise<Job | null> {
    const text = checkJobId(id);
    this.hooks.assertUsable();
    return this.engine.getJob({ id: text });
  }

  async cancel(id: Id, reason: string): Promise<Job | null> {
    const text = checkReason(reason, 'cancel');
    return this.#one(id, () => this.engine.finishJob({ target: 'cancelled', id: checkJobId(id), reason: text }), true);
  }

  async discard(id: Id, reason: string): Promise<Job | null> {
    const text = checkReason(reason, 'discard');
    return this.#one(id, () => this.engine.finishJob({ target: 'discarded', id: checkJobId(id), reason: text }), true);
  }

  async retry(id: Id): Promise<Job | null> {
    return this.#one(id, () => this.engine.retryJob({ id: checkJobId(id) }), false);
  }

  async delete(id: Id): Promise<Job | null> {
    const text = checkJobId(id);
    this.hooks.assertUsable();
    const row = await this.#retrying(() => this.engine.deleteJob({ id: text }));
    if (row === undefined) return null;
    if (row.state === 'executing') this.hooks.jobsTakenAway();
    return rowToJob(row);
  }

  async cancelJobs(filter: JobFilter, reason: string): Promise<number> {
    const params = filterParams(filter, false);
    const text = checkReason(reason, 'cancelJobs');
    return this.#many(() => this.engine.finishJobs({ target: 'cancelled', filter: params, reason: text }), true);
  }

  async discardJobs(filter: JobFilter, reason: string): Promise<number> {
    const params = filterParams(filter, false);
    const text = checkReason(reason, 'discardJobs');
    return this.#many(() => this.engine.finishJobs({ target: 'discarded', filter: params, reason: text }), true);
  }

  async retryJobs(filter: JobFilter): Promise<number> {
    const params = filterParams(filter, false);
    return this.#many(() => this.engine.retryJobs({ filter: params }), false);
  }

  async deleteJobs(filter: JobFilter): Promise<number> {
    const params = filterParams(filter, false);
    return this.#many(() => this.engine.deleteJobs({ filter: params }), true);
  }

  async listJobs(options: ListJobsOptions): Promise<JobPage> {
    const filter = filterParams(options, true);
    const limit = checkInt(options.limit ?? 100, 1, 1000, 'listJobs: limit');
    const after = options.after === undefined ? null : checkJobId(options.after, 'listJobs: after');
    const order = options.order ?? 'desc';
    if (order !== 'asc' && order !== 'desc') throw new ConfigError(`listJobs: order must be 'asc' or 'desc', got ${String(order)}`);
    this.hooks.assertUsable();
    const rows = await this.engine.listJobs({ filter, after, limit, order });
    const jobs = rows.map((row) => rowToJob(row));
    return { jobs, next: jobs.length === limit ? jobs[jobs.length - 1]!.id : null };
  }

  async queueStats(): Promise<QueueStats[]> {
    this.hooks.assertUsable();
    const [rows, controls] = await Promise.all([this.engine.queueStats(), this.engine.queueControls()]);
    return buildStats(rows, controls, this.hooks.localLimits());
  }

  async rescueJobs(options: RescueOptions = {}): Promise<Job[]> {
    const staleAfterMs = checkInt(options.staleAfter ?? 5_000, 100, 86_400_000, 'rescueJobs: staleAfter');
    const rescueAfterMs = checkInt(options.rescueAfter ?? 30 * 60_000, 1_000, 30 * 86_400_000, 'rescueJobs: rescueAfter');
    const limit = checkInt(options.limit ?? 1_000, 1, 10_000, 'rescueJobs: limit');
    this.hooks.assertUsable();
    return this.engine.rescueJobs({ staleAfterMs, rescueAfterMs, limit });
  }

  async nodes(): Promise<NodeInfo[]> {
    this.hooks.assertUsable();
    return (await this.engine.listNodes()).map(rowToNode);
  }

  async throughput(options: ThroughputOptions): Promise<ThroughputMinute[]> {
    const params = throughputParams(options);
    this.hooks.assertUsable();
    return (await this.engine.throughput(params)).map(rowToMinute);
  }

  async pauseQueue(name: string): Promise<void> {
    await this.#control(name, true, null);
  }

  async resumeQueue(name: string): Promise<void> {
    await this.#control(name, false, null);
  }

  async scaleQueue(name: string, limit: number | null): Promise<void> {
    const value = limit === null ? null : checkInt(limit, 0, 10_000, `scaleQueue("${name}"): limit`);
    await this.#control(name, null, { value });
  }

  async #control(name: string, paused: boolean | null, concurrency: { readonly value: number | null } | null): Promise<void> {
    checkQueueName(name, 'Queue control');
    this.hooks.assertUsable();
    const row = await this.engine.setQueueControl({ name, paused, concurrency });
    this.hooks.controlChanged(row);
  }

  async #one(id: Id, run: () => Promise<ChangedJobRow | undefined>, aborts: boolean): Promise<Job | null> {
    const text = checkJobId(id);
    this.hooks.assertUsable();
    const row = await this.#retrying(run);
    if (row === undefined) return this.engine.getJob({ id: text });
    if (aborts && row.was === 'executing') this.hooks.jobsTakenAway();
    const { was: _was, ...jobRow } = row;
    return rowToJob(jobRow as JobRow);
  }

  async #many(run: () => Promise<number>, aborts: boolean): Promise<number> {
    this.hooks.assertUsable();
    const n = await this.#retrying(run);
    if (aborts && n > 0) this.hooks.jobsTakenAway();
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
