// The facade users hold: configuration, migrations, inserts (on the pool or in the host's
// transaction), typed events, and the runtime's start/stop; job and queue administration comes
// from QueueAdmin. The runtime pieces (producers, executor, completer, stager, LISTEN,
// reconciler, progress, thread pool, testing modes) are wired here and nowhere else.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import { QueueAdmin } from './admin/admin.js';
import type { QueueOptions, ResolvedConfig } from './config/config.js';
import type { QueueControlRow } from './engine/control-engine.js';
import { ControlEngine } from './engine/control-engine.js';
import { resolveConfig } from './config/config.js';
import { resolveDriver } from './driver/resolve.js';
import type { Driver, Subscription } from './driver/types.js';
import type { AckedRow, FetchedJob } from './engine/engine.js';
import { Engine } from './engine/engine.js';
import { ConfigError, MigrationError, QueueStateError } from './definitions/errors.js';
import { Inserter, isUnique } from './insert/inserter.js';
import type { InsertOptions, UniqueInsertOptions } from './insert/options.js';
import type { Job, JobProgress } from './definitions/job.js';
import type { MigrationReport, MigrationScript } from './migrate/migrator.js';
import { LATEST_VERSION, currentVersion, migrate, migrationScripts } from './migrate/migrator.js';
import { Completer } from './runtime/completer.js';
import { Executor } from './runtime/executor.js';
import type { PendingAck } from './runtime/outcome.js';
import { buildAck } from './runtime/outcome.js';
import type { AckFollowUps } from './runtime/ack-events.js';
import { emitAckEvents } from './runtime/ack-events.js';
import { parseNotice } from './engine/notice.js';
import { Producers } from './runtime/producers.js';
import { ProgressReporter } from './runtime/progress.js';
import { Reconciler } from './runtime/reconciler.js';
import type { DrainOptions, DrainResult } from './runtime/inline-runner.js';
import { InlineRunner } from './runtime/inline-runner.js';
import { Stager } from './runtime/stager.js';
import { ThreadPool } from './runtime/threads/thread-pool.js';
import { Hinter } from './insert/hinter.js';
import { buildControlStatements } from './engine/sql/control.js';
import { buildStatements } from './engine/sql/jobs.js';
import { buildPluginStatements } from './engine/sql/cluster.js';
import { Schedules } from './cron/schedules.js';
import { Cluster } from './cluster/membership.js';
import type { UniqueInsert } from './insert/unique.js';
import type { ArgsSchema, Worker } from './definitions/worker.js';

type Lifecycle = 'idle' | 'started' | 'stopping' | 'stopped';



/**
 * Options of {@link Queue.stop}.
 *
 * @example
 * ```ts
 * await queue.stop({ timeout: 30_000 });
 * ```
 */
export interface StopOptions {
  /** How long running jobs may take to finish before their signals abort (ms). Default 10,000. */
  readonly timeout?: number;
}

/**
 * A docket queue: inserts jobs and, once started, runs them on this node.
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
export class Queue extends QueueAdmin {
  readonly #config: ResolvedConfig;
  readonly #driver: Driver;
  readonly #engine: Engine;
  readonly #control: ControlEngine;
  readonly #progress: ProgressReporter;
  readonly #reconciler: Reconciler;
  readonly #inline: InlineRunner;
  readonly #inserter: Inserter;
  readonly #schedules: Schedules;
  readonly #cluster: Cluster;
  readonly #executor = new Executor(
    (job, claim, percent, data) => this.#progress.report(job, claim, percent, data),
    (worker, job, signal) => this.#threads.run(worker, job, signal),
  );
  readonly #threads: ThreadPool;
  readonly #completer: Completer;
  readonly #stager: Stager;
  readonly #hinter: Hinter;
  readonly #producers: Producers;
  readonly #executing = new Set<Promise<void>>();
  readonly #followUps: AckFollowUps = {
    dueIn: (delayMs) => this.#stager.wake(delayMs),
    released: (queue) => this.#hinter.add([queue], false),
  };
  #subscription: Subscription | undefined;
  #state: Lifecycle = 'idle';
  #stopping: Promise<void> | undefined;

  constructor(options: QueueOptions) {
    const config = resolveConfig(options, () => `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`);
    const driver = resolveDriver(options.connection, config.poolSize, config.logger);
    const engine = new Engine(driver, buildStatements(config.quotedSchema), config.channel);
    const control = new ControlEngine(driver, buildControlStatements(config.quotedSchema), config.channel, `docket:fetch:${config.schema}:`);
    super({ config, driver, engine, control });
    this.#config = config;
    this.#producers = new Producers(config);
    this.#driver = driver;
    this.#engine = engine;
    this.#control = control;
    this.#progress = new ProgressReporter(control, config.progressInterval, {
      onStored: (job, progress) => this.#progressStored(job, progress),
      onError: (error) => this.#error(error, 'progress'),
    });
    this.#reconciler = new Reconciler(control, config.reconcileInterval, {
      attempts: (minAgeMs) => this.#executor.attempts(minAgeMs),
      abandon: (id, claim, state) => this.#executor.abandon(id, claim, state),
      applyControls: (rows) => this.#producers.applyAll(rows),
      onError: (error, context) => this.#error(error, context),
    });
    this.#threads = new ThreadPool(config.threads);
    this.#inline = new InlineRunner(engine, control, this.#executor, config.workers, config.nodeId, this, this.#followUps, (id, claim) =>
      this.#progress.forget(id, claim),
    );
    this.#inserter = new Inserter(config, driver, engine, control, this.#inline, this, {
      assertUsable: () => this.assertUsable(),
      committed: (queue, scheduled) => {
        // Committed: wake local producers now, other nodes by a merged hint.
        if (this.#state === 'started') {
          this.#wake([queue]);
          if (scheduled) this.#stager.wake(0);
        }
        this.#hinter.add([queue], scheduled);
      },
    });
    const pluginSql = buildPluginStatements(config.quotedSchema);
    this.#schedules = new Schedules(driver, pluginSql, config.workers);
    this.#cluster = new Cluster(config, driver, pluginSql, this, {
      insertTick: (worker, args, options, key) => this.#inserter.insertWithKey(worker, args, options, key),
      queues: () => Object.fromEntries(this.localLimits()),
      onError: (error, context) => this.#error(error, context),
    });
    // docket/testing reaches the testing modes through this hook: a registered symbol, so a
    // separately bundled copy of docket/testing finds it too, and it stays out of the types.
    Object.defineProperty(this, Symbol.for('docket.testing'), {
      value: { mode: config.testing, drain: (options: DrainOptions) => this.#drain(options) },
    });
    this.#completer = new Completer(this.#engine, {
      // Only completions nobody listens to can skip the details (every other outcome emits).
      detailed: (batch) => this.listenerCount('job:complete') > 0 || batch.some((a) => a.event.type !== 'complete'),
      onAcked: (ack, row) => this.#acked(ack, row),
      onRejected: (ack, error) => this.#rejected(ack, error),
      onError: (error) => this.#error(error, 'ack'),
    });
    this.#hinter = new Hinter(this.#engine, (error) => this.#error(error, 'notify'));
    this.#stager = new Stager(this.#engine, config.pollInterval, {
      onStaged: (queues) => this.#wake(queues),
      onError: (error) => this.#error(error, 'stage'),
    });
  }

  /** This process's id, stored in `attemptedBy` of the jobs it runs. */
  get nodeId(): string {
    return this.#config.nodeId;
  }

  /** The schema docket's tables live in. */
  get schema(): string {
    return this.#config.schema;
  }

  /** Whether this node holds the leader lease (and runs the leader-only plugins). */
  get isLeader(): boolean {
    return this.#cluster.isLeader;
  }

  /**
   * The persisted cron schedules (the Cron plugin, on the leader, enqueues them).
   *
   * @example
   * ```ts
   * await queue.schedules.set({ name: 'digest', expression: '0 9 * * MON-FRI', worker: sendDigest });
   * ```
   */
  get schedules(): Schedules {
    return this.#schedules;
  }

  /** Whether the queue is running jobs on this node. */
  get running(): boolean {
    return this.#state === 'started';
  }

  /**
   * Creates or upgrades docket's tables. Safe to call from many processes at once.
   *
   * @example
   * ```ts
   * const { applied, version } = await queue.migrate();
   * ```
   */
  async migrate(): Promise<MigrationReport> {
    this.assertUsable();
    return migrate(this.#driver, this.#engine.sql, this.#config.schema, this.#config.quotedSchema);
  }

  /**
   * The migrations as SQL, for running with the host's own migration tool. Each script records
   * its version, so `migrate()` later sees it as applied.
   *
   * @example
   * ```ts
   * for (const m of queue.migrationScripts()) writeFileSync(`migrations/docket_${m.version}.sql`, m.sql);
   * ```
   */
  migrationScripts(): MigrationScript[] {
    return migrationScripts(this.#config.quotedSchema);
  }

  /**
   * Starts fetching and running jobs of the configured queues on this node.
   * @throws MigrationError when the schema is not migrated to this version
   */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new QueueStateError(`Queue cannot start: it is ${this.#state}`);
    const version = await currentVersion(this.#driver, this.#engine.sql, this.#config.schema);
    if (version < LATEST_VERSION) {
      throw new MigrationError(
        `Schema "${this.#config.schema}" is at version ${version}; this docket needs ${LATEST_VERSION}. Run queue.migrate() first.`,
      );
    }
    // Rate-limited queues log their starts in their row; a node that starts later obeys the
    // persisted controls (pause, scale) before its first fetch.
    for (const [queue, settings] of this.#config.queueSettings) {
      if (settings.rateLimit !== undefined) await this.#control.ensureQueue(queue);
    }
    const controls = await this.#control.controls();
    if (this.#state !== 'idle') throw new QueueStateError(`Queue cannot start: it is ${this.#state}`);
    this.#state = 'started';
    if (this.#config.testing !== undefined) {
      // Testing modes run jobs only when the test says so (drain, or inline at insert).
      this.emit('queue:start', { queues: Object.fromEntries(this.#config.queues), nodeId: this.#config.nodeId });
      return;
    }
    // The node's heartbeat row exists before it claims anything (Lifeline reads it).
    await this.#cluster.start();
    this.#producers.create(this.#engine, this.#control, (queue) => ({
      execute: (fetched) => this.#execute(fetched),
      release: (jobs) => this.#release(jobs),
      onError: (error) => this.#error(error, `fetch ${queue}`),
    }));
    this.#producers.applyAll(controls);
    this.#producers.start();
    void this.#reconciler.start();
    this.#stager.start();
    this.#subscription = this.#driver.listen(this.#config.channel, {
      onNotify: (payload) => this.#notified(payload),
      onConnect: () => {
        // (Re)connected: anything notified while we were away must not be stranded.
        this.#wake(this.#producers.queues);
        this.#stager.wake(0);
      },
      onError: (error) => this.#error(error, 'listen'),
    });
    this.emit('queue:start', { queues: Object.fromEntries(this.#config.queues), nodeId: this.#config.nodeId });
  }

  /**
   * Stops gracefully: no new fetches; running jobs get `timeout` ms to finish, then their
   * signals abort and they are left retryable (the attempt does not count); outcomes are
   * written; a pool docket created is closed. Idempotent.
   */
  stop(options: StopOptions = {}): Promise<void> {
    if (this.#stopping === undefined) this.#stopping = this.#stop(options.timeout ?? 10_000);
    return this.#stopping;
  }

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
  async insert<S extends ArgsSchema>(worker: Worker<S>, args: z.input<S>, options: UniqueInsertOptions): Promise<UniqueInsert<z.output<S>>>;
  async insert<S extends ArgsSchema>(worker: Worker<S>, args: z.input<S>, options?: InsertOptions): Promise<Job<z.output<S>>>;
  async insert(worker: string, args: unknown, options: UniqueInsertOptions): Promise<UniqueInsert>;
  async insert(worker: string, args: unknown, options?: InsertOptions): Promise<Job>;
  async insert(worker: Worker | string, args: unknown, options: InsertOptions | UniqueInsertOptions = {}): Promise<Job | UniqueInsert> {
    const { jobs, duplicate } = await this.#insert(worker, [args], options);
    return isUnique(options) ? { job: jobs[0]!, duplicate: duplicate![0]! } : jobs[0]!;
  }

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
  async insertMany<S extends ArgsSchema>(worker: Worker<S>, args: readonly z.input<S>[], options: UniqueInsertOptions): Promise<UniqueInsert<z.output<S>>[]>;
  async insertMany<S extends ArgsSchema>(worker: Worker<S>, args: readonly z.input<S>[], options?: InsertOptions): Promise<Job<z.output<S>>[]>;
  async insertMany(worker: string, args: readonly unknown[], options: UniqueInsertOptions): Promise<UniqueInsert[]>;
  async insertMany(worker: string, args: readonly unknown[], options?: InsertOptions): Promise<Job[]>;
  async insertMany(worker: Worker | string, args: readonly unknown[], options: InsertOptions | UniqueInsertOptions = {}): Promise<Job[] | UniqueInsert[]> {
    if (!Array.isArray(args)) throw new ConfigError('insertMany expects an array of args');
    const { jobs, duplicate } = await this.#insert(worker, args, options, true);
    return isUnique(options) ? jobs.map((job, i) => ({ job, duplicate: duplicate![i]! })) : jobs;
  }

  #insert(
    workerRef: Worker | string,
    argsList: readonly unknown[],
    options: InsertOptions | UniqueInsertOptions,
    many = false,
  ): Promise<{ jobs: Job[]; duplicate?: boolean[] }> {
    return this.#inserter.insert(workerRef, argsList, options, many);
  }

  // A pool docket created is closed by stop(); a host's pool stays usable for inserts.
  protected assertUsable(): void {
    if (this.#state === 'stopped' && this.#driver.owned) {
      throw new QueueStateError('This queue was stopped and the connection pool it created is closed');
    }
  }

  async #execute(fetched: FetchedJob): Promise<void> {
    const run = this.#run(fetched);
    this.#executing.add(run);
    try {
      await run;
    } finally {
      this.#executing.delete(run);
    }
  }

  // Claimed jobs that never started go back as they were: available, attempt handed back.
  #release(jobs: readonly FetchedJob[]): void {
    for (const { job, claim } of jobs) {
      this.#completer.push(buildAck(job, claim, undefined, { kind: 'release' }, { queueTime: 0, runTime: 0 }));
    }
  }

  async #run({ job, claim, queueMs }: FetchedJob): Promise<void> {
    const worker = this.#config.workers.get(job.worker);
    if (this.listenerCount('job:start') > 0) this.emit('job:start', { job, queueTime: queueMs });
    const started = performance.now();
    const outcome = await this.#executor.run(job, worker, claim);
    this.#progress.forget(job.id, claim);
    if (outcome.kind === 'moved') {
      // Cancelled, discarded or deleted elsewhere while it ran: its row already says so.
      this.#config.logger.info('docket: a running job was taken away and aborted', { jobId: job.id, reason: String(outcome.error) });
      return;
    }
    this.#completer.push(buildAck(job, claim, worker, outcome, { queueTime: queueMs, runTime: performance.now() - started }));
  }

  #acked(ack: PendingAck, row: AckedRow | undefined): void {
    if (row === undefined) {
      this.#config.logger.warn('docket: outcome ignored, the job moved on (rescued or changed elsewhere)', {
        jobId: ack.job.id,
        attempt: ack.job.attempt,
      });
      return;
    }
    emitAckEvents(this, ack, row, this.#followUps);
  }

  // The database refused this outcome for its data (e.g. a result jsonb cannot hold): record a
  // plain failure instead, so the job is retried or discarded rather than left executing.
  #rejected(ack: PendingAck, error: unknown): void {
    this.#error(error, `ack of job ${ack.job.id}`);
    if (ack.fallback === true) {
      this.#config.logger.error('docket: even the fallback outcome was refused; the job stays executing until rescued', {
        jobId: ack.job.id,
      });
      return;
    }
    const worker = this.#config.workers.get(ack.job.worker);
    const failure = new Error(`The job's outcome could not be stored: ${(error as Error).message}`);
    const fallback = buildAck(ack.job, ack.claim, worker, { kind: 'error', error: failure }, { queueTime: ack.queueTime, runTime: ack.runTime });
    this.#completer.push({ ...fallback, fallback: true });
  }

  // A notice only makes this node look at the database (see runtime/notice.ts).
  #notified(payload: string): void {
    const notice = parseNotice(payload);
    if (notice === undefined) return;
    this.#wake(notice.queues);
    if (notice.scheduled) this.#stager.wake(0);
    if (notice.controls) void this.#reconciler.reloadControls();
    if (notice.abort) void this.#reconciler.checkAttempts(0);
    if (notice.leaseReleased) this.#cluster.released();
  }

  /** @internal */
  protected controlChanged(row: QueueControlRow): void {
    this.#producers.apply(row);
  }

  /** @internal */
  protected jobsTakenAway(): void {
    if (this.#state === 'started') void this.#reconciler.checkAttempts(0);
  }

  /** @internal */
  protected localLimits(): ReadonlyMap<string, number> {
    return this.#producers.limits();
  }

  async #drain(options: DrainOptions = {}): Promise<DrainResult> {
    if (this.#config.testing === undefined) {
      throw new QueueStateError('drain() needs a queue created with the option testing: "manual" or "inline"');
    }
    this.assertUsable();
    const queues = options.queues ?? [...new Set([...this.#config.queues.keys(), ...[...this.#config.workers.values()].map((w) => w.queue)])];
    return this.#inline.drain(this.#driver, queues, options);
  }

  #progressStored(job: Job, progress: JobProgress): void {
    if (this.listenerCount('job:progress') > 0) this.emit('job:progress', { job: { ...job, lastProgress: progress }, progress });
  }

  #wake(queues: readonly string[]): void {
    this.#producers.wake(queues);
  }

  #error(error: unknown, context: string): void {
    this.#config.logger.warn(`docket: ${context} failed; retrying`, { error });
    this.emit('queue:error', { error, context });
  }

  async #stop(timeout: number): Promise<void> {
    const wasStarted = this.#state === 'started';
    this.#state = 'stopping';
    let aborted = 0;
    if (wasStarted) {
      // Both stop() calls flag their loops synchronously, before any await, so nothing fetches
      // once stop() was called; then we wait for the queries already in flight. Plugins stop and
      // the lease is released meanwhile.
      const [unstarted] = await Promise.all([
        this.#producers.stop(),
        this.#stager.stop(),
        this.#cluster.stopPlugins(),
      ]);
      // Prefetched jobs that never started go back as they were.
      this.#release(unstarted.flat());
      await this.#subscription?.close();
      if (!(await this.#executor.waitIdle(timeout))) aborted = this.#executor.abortAll();
      await Promise.all([...this.#executing]);
      // Only now: a job cancelled while running jobs wound down must still be stopped.
      await this.#reconciler.stop();
      if (!(await this.#completer.drain(Math.max(5_000, timeout)))) {
        this.#config.logger.error('docket: could not write every outcome before stopping; those jobs will be rescued', {
          pending: this.#completer.pending,
        });
      }
      const allWritten = this.#completer.pending === 0;
      this.#completer.close();
      this.#progress.close();
      await this.#cluster.stopHeartbeat(allWritten);
    }
    await this.#threads.close();
    await this.#hinter.idle();
    await this.#driver.close();
    this.#state = 'stopped';
    this.emit('queue:stop', { aborted });
  }
}
