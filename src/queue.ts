// The facade users hold. It composes the parts and only delegates: the Engine (every database
// operation), the Inserter (validation, unique keys, wake-up hints), the Runtime (fetch → run →
// ack → events), the Admin operations, cluster Membership and the plugin host. Its public shape
// and documentation are QueueApi (queue-api.ts).
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import { Admin } from './admin/admin.js';
import type { JobFilter, JobPage, ListJobsOptions } from './admin/job-filter.js';
import type { QueueStats } from './admin/queue-stats.js';
import type { NodeInfo, RescueOptions } from './admin/node-info.js';
import type { JobUpdate, WatchOptions } from './definitions/job-update.js';
import { JobEvents } from './runtime/job-events.js';
import { checkJobId } from './admin/job-filter.js';
import type { ThroughputMinute, ThroughputOptions } from './admin/throughput.js';
import { Membership } from './cluster/membership.js';
import type { QueueOptions, ResolvedConfig } from './config/config.js';
import { resolveConfig } from './config/config.js';
import { Schedules } from './cron/schedules.js';
import { ConfigError, MigrationError, QueueStateError } from './definitions/errors.js';
import { SafeEmitter, reportQueueError } from './definitions/events.js';
import type { Job } from './definitions/job.js';
import type { ArgsSchema, Worker } from './definitions/worker.js';
import { createEngine } from './engine/create-engine.js';
import type { Engine } from './engine/engine.js';
import type { MigrationScript } from './engine/migrate/migrator.js';
import { LATEST_VERSION, migrationScripts } from './engine/migrate/migrator.js';
import type { MigrationReport } from './engine/types.js';
import { Hinter } from './insert/hinter.js';
import { Inserter, isUnique } from './insert/inserter.js';
import type { InsertOptions, UniqueInsertOptions } from './insert/options.js';
import type { UniqueInsert } from './insert/unique.js';
import { PluginHost } from './plugins/host.js';
import type { QueueApi, StartOptions, StopOptions } from './queue-api.js';
import { checkWait, waitForDatabase } from './runtime/wait-for-database.js';
import type { DrainOptions, DrainResult } from './runtime/inline-runner.js';
import { Runtime } from './runtime/runtime.js';
import type { WorkflowOptions } from './definitions/workflow.js';
import type { WorkflowDetails } from './definitions/workflow-record.js';
import { WorkflowBuilder } from './workflow/builder.js';
import { Workflows } from './workflow/workflows.js';

type Lifecycle = 'idle' | 'started' | 'stopping' | 'stopped';

/**
 * A docket queue: inserts jobs and, once started, runs them on this node. Its members are
 * documented on {@link QueueApi}.
 *
 * @example
 * ```ts
 * const queue = new Queue({ connection: pool, queues: { default: 10 }, workers: [sendEmail] });
 * await queue.migrate();
 * await queue.start();
 * await queue.insert(sendEmail, { to: 'ada@example.org' });
 * process.on('SIGTERM', () => void queue.stop({ timeout: 10_000 }));
 * ```
 */
export class Queue extends SafeEmitter implements QueueApi {
  readonly #config: ResolvedConfig;
  readonly #engine: Engine;
  readonly #runtime: Runtime;
  readonly #inserter: Inserter;
  readonly #hinter: Hinter;
  readonly #admin: Admin;
  readonly #schedules: Schedules;
  readonly #membership: Membership;
  readonly #plugins: PluginHost;
  readonly #workflows: Workflows;
  readonly #jobEvents: JobEvents;
  #leaderChange: Promise<void> = Promise.resolve();
  #state: Lifecycle = 'idle';
  #stopping: Promise<void> | undefined;

  constructor(options: QueueOptions) {
    const config = resolveConfig(options, () => `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`);
    super(config.logger);
    this.#config = config;
    const engine = createEngine({ ...config, connection: options.connection, listenConnection: options.listenConnection });
    this.#engine = engine;
    this.#hinter = new Hinter(engine, (error) => this.#error(error, 'notify'));
    this.#workflows = new Workflows(config, engine, this, {
      assertUsable: () => this.#assertUsable(),
      committed: (queue, scheduled) => {
        this.#runtime.committed(queue, scheduled);
        this.#hinter.add([queue], scheduled);
      },
      jobsTakenAway: () => this.#runtime.checkRunning(),
    });
    this.#runtime = new Runtime(config, engine, this, {
      announce: (queues, scheduled) => this.#hinter.add(queues, scheduled),
      leaseReleased: () => this.#membership.released(),
      workflow: {
        results: (job) => this.#workflows.results(job),
        addSteps: (job, claim, steps) => this.#workflows.addSteps(job, claim, steps),
        stepsFinished: (steps) => this.#workflows.stepsFinished(steps),
        settled: () => this.#workflows.idle(),
      },
    });
    this.#inserter = new Inserter(config, engine, this, {
      assertUsable: () => this.#assertUsable(),
      // Committed: wake local producers now, other nodes by a merged hint.
      committed: (queue, scheduled) => {
        this.#runtime.committed(queue, scheduled);
        this.#hinter.add([queue], scheduled);
      },
      runInline: (scope, ids) => this.#runtime.runIds(scope, ids),
    });
    this.#admin = new Admin(engine, {
      assertUsable: () => this.#assertUsable(),
      controlChanged: (row) => this.#runtime.applyControl(row),
      jobsTakenAway: () => this.#runtime.checkRunning(),
      localLimits: () => this.#runtime.localLimits(),
    });
    this.#schedules = new Schedules(engine, config.workers);
    this.#jobEvents = new JobEvents(engine, config.nodeId, { getJob: (id) => this.getJob(id), onError: (error, context) => this.#error(error, context) });
    if (config.jobEvents) this.#jobEvents.attach(this);
    this.#membership = new Membership(config, engine, {
      queues: () => Object.fromEntries(this.#runtime.localLimits()),
      // Leader plugins start and stop in order, never overlapping a previous stop.
      elected: () => {
        this.#leaderChange = this.#leaderChange.then(() => this.#plugins.startLeader());
        this.emit('leader:elected', { nodeId: config.nodeId });
      },
      lost: (reason) => {
        this.#leaderChange = this.#leaderChange.then(() => this.#plugins.stopLeader());
        this.emit('leader:lost', { nodeId: config.nodeId, reason });
      },
      onError: (error, context) => this.#error(error, context),
    });
    this.#plugins = new PluginHost(config.plugins, {
      queue: this,
      engine,
      nodeId: config.nodeId,
      logger: config.logger,
      quotedSchema: config.quotedSchema,
      onError: (plugin, error) => {
        config.logger.warn(`docket: plugin ${plugin} failed; it runs again on its next tick`, { error });
        this.emit('plugin:error', { plugin, error });
      },
      internals: {
        engine,
        emit: (event, payload) => {
          // A rescued step out of attempts ended discarded: its dependents' policies apply now.
          if (event === 'job:rescue') this.#stepChanged((payload as { job: Job }).job);
          (this.emit as (e: string, p: unknown) => boolean)(event, payload);
        },
        insertTick: (worker, args, opts, key) => this.#inserter.insertWithKey(worker, args, opts, key),
        settleWorkflows: (ids) => this.#workflows.sweep(ids),
      },
    });
    // docket/testing reaches the testing modes through this hook: a registered symbol, so a
    // separately bundled copy of docket/testing finds it too, and it stays out of the types.
    Object.defineProperty(this, Symbol.for('docket.testing'), {
      value: { mode: config.testing, drain: (drainOptions: DrainOptions) => this.#drain(drainOptions) },
    });
  }

  get nodeId(): string {
    return this.#config.nodeId;
  }

  get schema(): string {
    return this.#config.schema;
  }

  get isLeader(): boolean {
    return this.#membership.isLeader;
  }

  get schedules(): Schedules {
    return this.#schedules;
  }

  get running(): boolean {
    return this.#state === 'started';
  }

  async migrate(): Promise<MigrationReport> {
    this.#assertUsable();
    return this.#engine.migrate();
  }

  migrationScripts(): MigrationScript[] {
    return migrationScripts(this.#config.quotedSchema);
  }

  async start(options: StartOptions = {}): Promise<void> {
    if (this.#state !== 'idle') throw new QueueStateError(`Queue cannot start: it is ${this.#state}`);
    const controls = await waitForDatabase(
      async () => {
        const version = await this.#engine.schemaVersion();
        if (version < LATEST_VERSION) {
          throw new MigrationError(
            `Schema "${this.#config.schema}" is at version ${version}; this docket needs ${LATEST_VERSION}. Run queue.migrate() first.`,
          );
        }
        return this.#runtime.prepare();
      },
      {
        waitMs: checkWait(options.waitForDatabase),
        logger: this.#config.logger,
        cancelled: () => this.#state !== 'idle',
      },
    );
    if (this.#state !== 'idle') throw new QueueStateError(`Queue cannot start: it is ${this.#state}`);
    this.#state = 'started';
    if (this.#config.testing === undefined) {
      // The node's heartbeat row exists before it claims anything (Lifeline reads it). Only
      // nodes that would run leader plugins compete for the lease: a node without them could win
      // it and leave Cron or Lifeline running nowhere.
      await this.#membership.start();
      // stop() was called while the heartbeat was being written: it already wound down.
      if (this.#state !== 'started') return;
      if (this.#plugins.hasLeaderPlugins) this.#membership.compete();
      this.#plugins.startEveryNode();
      this.#runtime.start(controls);
    } else {
      this.#runtime.startTesting();
    }
    // Testing modes run jobs only when the test says so (drain, or inline at insert).
    this.emit('queue:start', { queues: Object.fromEntries(this.#config.queues), nodeId: this.#config.nodeId });
  }

  stop(options: StopOptions = {}): Promise<void> {
    if (this.#stopping === undefined) this.#stopping = this.#stop(options.timeout ?? 10_000);
    return this.#stopping;
  }

  insert<S extends ArgsSchema>(worker: Worker<S>, args: z.input<S>, options: UniqueInsertOptions): Promise<UniqueInsert<z.output<S>>>;
  insert<S extends ArgsSchema>(worker: Worker<S>, args: z.input<S>, options?: InsertOptions): Promise<Job<z.output<S>>>;
  insert(worker: string, args: unknown, options: UniqueInsertOptions): Promise<UniqueInsert>;
  insert(worker: string, args: unknown, options?: InsertOptions): Promise<Job>;
  async insert(worker: Worker | string, args: unknown, options: InsertOptions | UniqueInsertOptions = {}): Promise<Job | UniqueInsert> {
    const { jobs, duplicate } = await this.#inserter.insert(worker, [args], options);
    return isUnique(options) ? { job: jobs[0]!, duplicate: duplicate![0]! } : jobs[0]!;
  }

  insertMany<S extends ArgsSchema>(worker: Worker<S>, args: readonly z.input<S>[], options: UniqueInsertOptions): Promise<UniqueInsert<z.output<S>>[]>;
  insertMany<S extends ArgsSchema>(worker: Worker<S>, args: readonly z.input<S>[], options?: InsertOptions): Promise<Job<z.output<S>>[]>;
  insertMany(worker: string, args: readonly unknown[], options: UniqueInsertOptions): Promise<UniqueInsert[]>;
  insertMany(worker: string, args: readonly unknown[], options?: InsertOptions): Promise<Job[]>;
  async insertMany(worker: Worker | string, args: readonly unknown[], options: InsertOptions | UniqueInsertOptions = {}): Promise<Job[] | UniqueInsert[]> {
    if (!Array.isArray(args)) throw new ConfigError('insertMany expects an array of args');
    const { jobs, duplicate } = await this.#inserter.insert(worker, args, options, true);
    return isUnique(options) ? jobs.map((job, i) => ({ job, duplicate: duplicate![i]! })) : jobs;
  }

  getJob(id: string | number | bigint): Promise<Job | null> {
    return this.#admin.getJob(id);
  }

  async cancel(id: string | number | bigint, reason = 'cancelled by an operator'): Promise<Job | null> {
    return this.#announced('cancel', this.#stepChanged(await this.#admin.cancel(id, reason)), reason);
  }

  async discard(id: string | number | bigint, reason = 'discarded by an operator'): Promise<Job | null> {
    return this.#announced('discard', this.#stepChanged(await this.#admin.discard(id, reason)), reason);
  }

  // A workflow step finished by an operator: its dependents' policies apply now.
  #stepChanged(job: Job | null): Job | null {
    if (job?.workflow != null) this.#workflows.stepsFinished([{ job, state: job.state }]);
    return job;
  }

  // An operator's action, announced to the cluster's watchers (jobEvents).
  #announced(kind: 'cancel' | 'discard' | 'retried' | 'deleted', job: Job | null, error: string | null = null): Job | null {
    if (job !== null && this.#config.jobEvents) this.#jobEvents.announce(kind, job, error, kind === 'deleted' ? 'deleted' : job.state);
    return job;
  }

  async retry(id: string | number | bigint): Promise<Job | null> {
    return this.#announced('retried', await this.#admin.retry(id));
  }

  async delete(id: string | number | bigint): Promise<Job | null> {
    return this.#announced('deleted', await this.#admin.delete(id));
  }

  watch(id: string | number | bigint, options?: WatchOptions): AsyncGenerator<JobUpdate, void, undefined> {
    const text = checkJobId(id);
    this.#assertUsable();
    return this.#jobEvents.watch(text, options);
  }

  watchJobs(filter: { readonly queue?: string; readonly worker?: string } = {}, options?: WatchOptions): AsyncGenerator<JobUpdate, void, undefined> {
    this.#assertUsable();
    return this.#jobEvents.watchAll(filter, options);
  }

  cancelJobs(filter: JobFilter, reason = 'cancelled by an operator'): Promise<number> {
    return this.#admin.cancelJobs(filter, reason);
  }

  discardJobs(filter: JobFilter, reason = 'discarded by an operator'): Promise<number> {
    return this.#admin.discardJobs(filter, reason);
  }

  retryJobs(filter: JobFilter): Promise<number> {
    return this.#admin.retryJobs(filter);
  }

  deleteJobs(filter: JobFilter): Promise<number> {
    return this.#admin.deleteJobs(filter);
  }

  listJobs(options: ListJobsOptions = {}): Promise<JobPage> {
    return this.#admin.listJobs(options);
  }

  queueStats(): Promise<QueueStats[]> {
    return this.#admin.queueStats();
  }

  nodes(): Promise<NodeInfo[]> {
    return this.#admin.nodes();
  }

  async rescueJobs(options?: RescueOptions): Promise<Job[]> {
    const jobs = await this.#admin.rescueJobs(options);
    for (const job of jobs) this.emit('job:rescue', { job });
    return jobs;
  }

  throughput(options: ThroughputOptions = {}): Promise<ThroughputMinute[]> {
    return this.#admin.throughput(options);
  }

  pauseQueue(name: string): Promise<void> {
    return this.#admin.pauseQueue(name);
  }

  resumeQueue(name: string): Promise<void> {
    return this.#admin.resumeQueue(name);
  }

  scaleQueue(name: string, limit: number | null): Promise<void> {
    return this.#admin.scaleQueue(name, limit);
  }

  workflow(name: string, options: WorkflowOptions = {}): WorkflowBuilder {
    return new WorkflowBuilder(name, options, (n, o, steps, tx) => this.#workflows.insert(n, o, steps, tx));
  }

  getWorkflow(id: string | number | bigint): Promise<WorkflowDetails | null> {
    return this.#workflows.get(id);
  }

  cancelWorkflow(id: string | number | bigint, reason = 'workflow cancelled by an operator'): Promise<WorkflowDetails | null> {
    return this.#workflows.cancel(id, reason);
  }

  retryWorkflow(id: string | number | bigint): Promise<WorkflowDetails | null> {
    return this.#workflows.retry(id);
  }

  // A pool docket created is closed by stop(); a host's pool stays usable for inserts.
  #assertUsable(): void {
    if (this.#state === 'stopped' && this.#engine.ownsConnection) {
      throw new QueueStateError('This queue was stopped and the connection pool it created is closed');
    }
  }

  async #drain(options: DrainOptions = {}): Promise<DrainResult> {
    if (this.#config.testing === undefined) {
      throw new QueueStateError('drain() needs a queue created with the option testing: "manual" or "inline"');
    }
    this.#assertUsable();
    const queues = options.queues ?? [...new Set([...this.#config.queues.keys(), ...[...this.#config.workers.values()].map((w) => w.queue)])];
    return this.#runtime.drain(queues, options);
  }

  #error(error: unknown, context: string): void {
    reportQueueError(this, this.#config.logger, error, context);
  }

  async #stop(timeout: number): Promise<void> {
    const wasStarted = this.#state === 'started';
    this.#state = 'stopping';
    let aborted = 0;
    // Each step is logged (debug), so that a stop that hangs says where.
    const step = (what: string): void => this.#config.logger.debug(`docket: stop: ${what}`);
    if (wasStarted) {
      // Plugins stop (and the lease is released) while the runtime winds down: a new leader
      // never overlaps this one's last tick, and the queue can still write meanwhile.
      const [stopped] = await Promise.all([
        this.#runtime.stop(timeout).finally(() => step('attempts ended and acked')),
        (async () => {
          await this.#plugins.stopAll();
          step('plugins stopped');
          await this.#membership.stopLeadership();
          await this.#leaderChange;
          step('leadership given up');
        })(),
      ]);
      aborted = stopped.aborted;
      await this.#membership.stopHeartbeat(stopped.allWritten);
      step('heartbeat stopped');
    }
    await this.#runtime.close();
    step('runtime closed');
    // Workflows of the last acks are settled (and their events emitted) before the pool closes.
    await this.#workflows.idle();
    await this.#hinter.idle();
    // The last updates announced, and every watch of this queue ended.
    await this.#jobEvents.close();
    step('hints and job updates sent');
    await this.#engine.close();
    step('connections closed');
    this.#state = 'stopped';
    this.emit('queue:stop', { aborted });
  }
}
