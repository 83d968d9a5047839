// The public shape of a Queue, with its documentation: what app code and plugins (`ctx.queue`)
// use. The Queue class (queue.ts) implements it by composing the engine, the inserter, the
// runtime, the admin operations and the plugin host; plugins depend on this interface, never on
// that class.
import type { z } from 'zod';
import type { JobFilter, JobPage, ListJobsOptions } from './admin/job-filter.js';
import type { QueueStats } from './admin/queue-stats.js';
import type { NodeInfo, RescueOptions } from './admin/node-info.js';
import type { JobUpdate, WatchOptions } from './definitions/job-update.js';
import type { ThroughputMinute, ThroughputOptions } from './admin/throughput.js';
import type { Schedules } from './cron/schedules.js';
import type { SafeEmitter } from './definitions/events.js';
import type { Job } from './definitions/job.js';
import type { ArgsSchema, Worker } from './definitions/worker.js';
import type { MigrationScript } from './engine/migrate/migrator.js';
import type { MigrationReport } from './engine/types.js';
import type { InsertOptions, UniqueInsertOptions } from './insert/options.js';
import type { UniqueInsert } from './insert/unique.js';
import type { WorkflowOptions } from './definitions/workflow.js';
import type { WorkflowDetails } from './definitions/workflow-record.js';
import type { WorkflowBuilder } from './workflow/builder.js';

/**
 * Options of {@link QueueApi.stop}.
 *
 * @example
 * ```ts
 * await queue.stop({ timeout: 30_000 });
 * ```
 */
/**
 * Options of {@link QueueApi.start}.
 *
 * @example
 * ```ts
 * await queue.start({ waitForDatabase: 30_000 }); // give up after 30 s without a database
 * ```
 */
export interface StartOptions {
  /**
   * How long (ms) `start()` keeps trying while the database cannot be reached (connection
   * refused, reset or timed out, the server starting up, shutting down or full), with a warning
   * in the log every 10 s. Default: until it can, or until `stop()`. `0` rejects at once. Other
   * errors (authentication, a missing database, an unmigrated schema) always reject at once.
   */
  readonly waitForDatabase?: number;
}

export interface StopOptions {
  /** How long running jobs may take to finish before their signals abort (ms). Default 10,000. */
  readonly timeout?: number;
}

/**
 * Everything a {@link Queue} offers: typed events (`on`/`off`/`once`), inserts, job and queue
 * administration, schedules, migrations and the node's lifecycle. Plugins receive it as
 * `ctx.queue`.
 *
 * @example
 * ```ts
 * async function report(queue: QueueApi) {
 *   for (const q of await queue.queueStats()) console.log(q.name, q.counts.available);
 * }
 * ```
 */
export interface QueueApi extends SafeEmitter {
  /** This process's id, stored in `attemptedBy` of the jobs it runs. */
  readonly nodeId: string;
  /** The schema docket's tables live in. */
  readonly schema: string;
  /** Whether this node holds the leader lease (and runs the leader-only plugins). */
  readonly isLeader: boolean;
  /** Whether the queue is running jobs on this node. */
  readonly running: boolean;
  /**
   * The persisted cron schedules (the Cron plugin, on the leader, enqueues them).
   *
   * @example
   * ```ts
   * await queue.schedules.set({ name: 'digest', expression: '0 9 * * MON-FRI', worker: sendDigest });
   * ```
   */
  readonly schedules: Schedules;

  /**
   * Creates or upgrades docket's tables. Safe to call from many processes at once.
   *
   * @example
   * ```ts
   * const { applied, version } = await queue.migrate();
   * ```
   */
  migrate(): Promise<MigrationReport>;

  /**
   * The migrations as SQL, for running with the host's own migration tool. Each script records
   * its version, so `migrate()` later sees it as applied.
   *
   * @example
   * ```ts
   * for (const m of queue.migrationScripts()) writeFileSync(`migrations/docket_${m.version}.sql`, m.sql);
   * ```
   */
  migrationScripts(): MigrationScript[];

  /**
   * Starts fetching and running jobs of the configured queues on this node. While the
   * database cannot be reached it waits for it (see {@link StartOptions.waitForDatabase}).
   * @throws MigrationError when the schema is not migrated to this version
   * @throws QueueStateError when `stop()` is called before it could start
   *
   * @example
   * ```ts
   * await queue.migrate();
   * await queue.start();
   * ```
   */
  start(options?: StartOptions): Promise<void>;

  /**
   * Stops gracefully: no new fetches; running jobs get `timeout` ms to finish, then their
   * signals abort and they are left retryable (the attempt does not count); outcomes are
   * written; a pool docket created is closed. Idempotent.
   *
   * @example
   * ```ts
   * process.on('SIGTERM', () => void queue.stop({ timeout: 10_000 }));
   * ```
   */
  stop(options?: StopOptions): Promise<void>;

  /**
   * Inserts one job. Args are validated by the worker's schema first; nothing is written when
   * they are invalid. With `tx`, the job is part of the host's transaction. With `unique`, it
   * returns `{ job, duplicate }`: the new job, or the one already holding its identity.
   *
   * @example
   * ```ts
   * const job = await queue.insert(resize, { url, width: 200 }, { priority: 1 });
   * await sql.begin((tx) => queue.insert(resize, { url, width: 200 }, { tx }));
   * const { job: digest, duplicate } = await queue.insert(sendDigest, { userId }, { unique: { period: 3600 } });
   * ```
   */
  insert<S extends ArgsSchema>(worker: Worker<S>, args: z.input<S>, options: UniqueInsertOptions): Promise<UniqueInsert<z.output<S>>>;
  insert<S extends ArgsSchema>(worker: Worker<S>, args: z.input<S>, options?: InsertOptions): Promise<Job<z.output<S>>>;
  insert(worker: string, args: unknown, options: UniqueInsertOptions): Promise<UniqueInsert>;
  insert(worker: string, args: unknown, options?: InsertOptions): Promise<Job>;

  /**
   * Inserts many jobs of one worker in one statement (one round trip). All args are validated
   * before anything is written; the error names the item that failed. With `unique`, each
   * item is unique on its own and comes back as `{ job, duplicate }`.
   *
   * @example
   * ```ts
   * const jobs = await queue.insertMany(resize, urls.map((url) => ({ url, width: 200 })));
   * ```
   */
  insertMany<S extends ArgsSchema>(worker: Worker<S>, args: readonly z.input<S>[], options: UniqueInsertOptions): Promise<UniqueInsert<z.output<S>>[]>;
  insertMany<S extends ArgsSchema>(worker: Worker<S>, args: readonly z.input<S>[], options?: InsertOptions): Promise<Job<z.output<S>>[]>;
  insertMany(worker: string, args: readonly unknown[], options: UniqueInsertOptions): Promise<UniqueInsert[]>;
  insertMany(worker: string, args: readonly unknown[], options?: InsertOptions): Promise<Job[]>;

  /**
   * Reads a job by id; `null` when there is none.
   *
   * @example
   * ```ts
   * const job = await queue.getJob(id);
   * ```
   */
  getJob(id: string | number | bigint): Promise<Job | null>;

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
  cancel(id: string | number | bigint, reason?: string): Promise<Job | null>;

  /**
   * Discards a job: like {@link QueueApi.cancel}, but the job ends `discarded`.
   *
   * @example
   * ```ts
   * await queue.discard(id, 'poison message');
   * ```
   */
  discard(id: string | number | bigint, reason?: string): Promise<Job | null>;

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
  retry(id: string | number | bigint): Promise<Job | null>;

  /**
   * Deletes a job in any state; a running one is aborted on its node. Returns the deleted job,
   * or `null` when there was none.
   *
   * @example
   * ```ts
   * await queue.delete(id);
   * ```
   */
  delete(id: string | number | bigint): Promise<Job | null>;

  /**
   * Cancels every unfinished job matching `filter` (see {@link QueueApi.cancel}); returns how
   * many. An empty filter is refused.
   *
   * @example
   * ```ts
   * const n = await queue.cancelJobs({ queue: 'emails', tags: ['campaign-42'] });
   * ```
   */
  cancelJobs(filter: JobFilter, reason?: string): Promise<number>;

  /**
   * Discards every unfinished job matching `filter`; returns how many.
   *
   * @example
   * ```ts
   * await queue.discardJobs({ worker: 'legacy-sync' });
   * ```
   */
  discardJobs(filter: JobFilter, reason?: string): Promise<number>;

  /**
   * Makes every matching job that is not running `available` now; returns how many.
   * Jobs whose unique key a newer job holds are skipped.
   *
   * @example
   * ```ts
   * await queue.retryJobs({ queue: 'webhooks', state: 'discarded' });
   * ```
   */
  retryJobs(filter: JobFilter): Promise<number>;

  /**
   * Deletes every matching job (running ones are aborted on their nodes); returns how many.
   *
   * @example
   * ```ts
   * await queue.deleteJobs({ state: 'cancelled', queue: 'exports' });
   * ```
   */
  deleteJobs(filter: JobFilter): Promise<number>;

  /**
   * Lists jobs matching the filter, newest first by default, one page at a time (keyset
   * pagination by id: stable while jobs are inserted).
   *
   * @example
   * ```ts
   * const { jobs, next } = await queue.listJobs({ queue: 'images', state: ['discarded'], limit: 50 });
   * ```
   */
  listJobs(options?: ListJobsOptions): Promise<JobPage>;

  /**
   * Per queue: paused or not, the per-node limit set by {@link QueueApi.scaleQueue}, this
   * node's limit, job counts by state, and how long the oldest available job has waited.
   * Counts every job row (an aggregate over the table: meant for dashboards, not hot loops).
   *
   * @example
   * ```ts
   * for (const q of await queue.queueStats()) console.log(q.name, q.counts.available, q.oldestAvailableMs);
   * ```
   */
  queueStats(): Promise<QueueStats[]>;

  /**
   * The cluster's nodes as the database knows them (every started Queue heartbeats into it):
   * host, pid, queues and concurrency, how long each has been silent, and which one holds the
   * leader lease. Works from a Queue that was never started (a CLI, a dashboard).
   *
   * @example
   * ```ts
   * const leader = (await queue.nodes()).find((n) => n.leader)?.id ?? 'none';
   * ```
   */
  nodes(): Promise<NodeInfo[]>;

  /**
   * Rescues stuck jobs now, as the Lifeline plugin does on its ticks: jobs executing on a node
   * that stopped heartbeating (or, with no heartbeat row at all, attempted longer than
   * `rescueAfter` ago) go back to retryable, or to discarded when their attempts are spent.
   * Their claim is cleared, so a late ack of the lost attempt is fenced off. Emits `job:rescue`
   * for each on this node; resolves with them. Jobs of live nodes are never touched.
   *
   * @example
   * ```ts
   * const rescued = await queue.rescueJobs({ staleAfter: 10_000 });
   * console.log(`${rescued.length} jobs rescued`);
   * ```
   */
  rescueJobs(options?: RescueOptions): Promise<Job[]>;

  /**
   * Follows one job wherever it runs: yields a snapshot of it first, then each update as the
   * node where it happens announces it (`jobEvents: true` on that node), and ends after the
   * update that leaves it completed, discarded, cancelled or deleted (confirmed by reading the
   * job). Updates are hints: when none arrives for `recheckInterval` (a node without
   * `jobEvents`, a lost NOTIFY), the job is read again, so the iteration always ends with the
   * job. Updates announced at nearly the same moment by different paths (an operator's
   * `retry()` and the `start` of the claim it made possible) can arrive in either order; the
   * final one is always confirmed by reading the job. Yields nothing for a job that does not
   * exist. Works on a Queue that was never started (an API process); holds one LISTEN
   * connection while anyone follows.
   *
   * @example
   * ```ts
   * for await (const update of queue.watch(job.id, { signal: request.signal })) {
   *   reply.raw.write(`event: ${update.kind}\ndata: ${JSON.stringify(update)}\n\n`);
   * }
   * ```
   */
  watch(id: string | number | bigint, options?: WatchOptions): AsyncGenerator<JobUpdate, void, undefined>;

  /**
   * Every job update announced in the cluster (`jobEvents: true` on the nodes running the
   * jobs), optionally of one queue or worker, until `options.signal` aborts or the loop breaks:
   * cluster-wide `job:progress` with the job's queue and worker, for dashboards and live views.
   * Announcements can be lost; read the job when you need to be sure.
   *
   * @example
   * ```ts
   * for await (const u of queue.watchJobs({ queue: 'exports' }, { signal })) {
   *   if (u.kind === 'progress') console.log(u.worker, u.id, u.progress?.percent);
   * }
   * ```
   */
  watchJobs(filter?: { readonly queue?: string; readonly worker?: string }, options?: WatchOptions): AsyncGenerator<JobUpdate, void, undefined>;

  /**
   * Jobs finished per minute (completed, discarded, cancelled) over the last `minutes` minutes,
   * oldest first, one entry per minute (0 when none), the current minute last. Read from the
   * finished-jobs history through its indexes: jobs pruned meanwhile, and completed jobs under
   * `retention: 'none'`, are not counted. Works from a Queue that was never started.
   *
   * @example
   * ```ts
   * const minutes = await queue.throughput({ minutes: 60, queue: 'emails' });
   * const lastHour = minutes.reduce((n, m) => n + m.completed, 0);
   * ```
   */
  throughput(options?: ThroughputOptions): Promise<ThroughputMinute[]>;

  /**
   * Pauses a queue on every node: no node fetches its jobs until {@link QueueApi.resumeQueue};
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
  pauseQueue(name: string): Promise<void>;

  /**
   * Resumes a paused queue on every node.
   *
   * @example
   * ```ts
   * await queue.resumeQueue('emails');
   * ```
   */
  resumeQueue(name: string): Promise<void>;

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
  scaleQueue(name: string, limit: number | null): Promise<void>;

  /**
   * Starts building a workflow: steps (jobs of any worker) that run once the steps they depend
   * on completed. Nothing is written until `insert()`, which writes every step in one statement
   * (in the host's transaction when given `tx`). See docs/workflows.md.
   *
   * @example
   * ```ts
   * const run = await queue.workflow('process-upload', { tags: ['upload'] })
   *   .add('fetch', fetchWorker, { url })
   *   .add('thumb', thumbWorker, { size: 200 }, { deps: ['fetch'] })
   *   .add('ocr', ocrWorker, {}, { deps: ['fetch'] })
   *   .add('notify', notifyWorker, { to }, { deps: ['thumb', 'ocr'] })
   *   .insert();
   * ```
   */
  workflow(name: string, options?: WorkflowOptions): WorkflowBuilder;

  /**
   * A workflow with its state and every step (job, state, result, dependencies); `null` when
   * there is none with this id.
   *
   * @example
   * ```ts
   * const wf = await queue.getWorkflow(run.id);
   * wf?.steps.map((s) => `${s.name}: ${s.job.state}`); // ['fetch: completed', 'thumb: executing', ...]
   * ```
   */
  getWorkflow(id: string | number | bigint): Promise<WorkflowDetails | null>;

  /**
   * Cancels every unfinished step of a workflow, running ones included (the nodes running them,
   * any node, abort their signals, as {@link QueueApi.cancel} does); the workflow ends
   * `cancelled` and `workflow:fail` is emitted. Returns the workflow after, or `null`.
   *
   * @example
   * ```ts
   * await queue.cancelWorkflow(run.id, 'upload deleted');
   * ```
   */
  cancelWorkflow(id: string | number | bigint, reason?: string): Promise<WorkflowDetails | null>;

  /**
   * Retries a workflow's discarded and cancelled steps: each goes back to waiting for its
   * dependencies that are not completed (or runs at once when there are none), so the steps a
   * failure cancelled run again once what they wait for completed. The workflow is `running`
   * again. Returns the workflow after, or `null`.
   *
   * @example
   * ```ts
   * const wf = await queue.retryWorkflow(run.id);
   * ```
   */
  retryWorkflow(id: string | number | bigint): Promise<WorkflowDetails | null>;
}
