// The facade users hold: configuration, migrations, inserts (on the pool or in the host's
// transaction), lookups, typed events, and the runtime's start/stop. The runtime pieces
// (producers, executor, completer, stager, LISTEN) are wired here and nowhere else.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import type { QueueOptions, ResolvedConfig } from './config.js';
import { resolveConfig } from './config.js';
import { resolveDriver, resolveTransaction } from './driver/resolve.js';
import type { Driver, Subscription } from './driver/types.js';
import type { AckedRow, FetchedJob } from './engine.js';
import { Engine } from './engine.js';
import { ConfigError, MigrationError, QueueStateError, UnknownWorkerError } from './errors.js';
import { SafeEmitter } from './events.js';
import type { InsertOptions } from './insert.js';
import { buildBatch, notifyHint, parseArgs } from './insert.js';
import type { Job, JobError } from './job.js';
import type { MigrationReport, MigrationScript } from './migrate/migrator.js';
import { LATEST_VERSION, currentVersion, migrate, migrationScripts } from './migrate/migrator.js';
import { Completer } from './runtime/completer.js';
import { Executor } from './runtime/executor.js';
import type { PendingAck } from './runtime/outcome.js';
import { buildAck } from './runtime/outcome.js';
import { Producer } from './runtime/producer.js';
import { Stager } from './runtime/stager.js';
import { Hinter } from './runtime/hinter.js';
import { buildStatements } from './sql/statements.js';
import type { ArgsSchema, Worker } from './worker.js';

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
export class Queue extends SafeEmitter {
  readonly #config: ResolvedConfig;
  readonly #driver: Driver;
  readonly #engine: Engine;
  readonly #executor = new Executor();
  readonly #completer: Completer;
  readonly #stager: Stager;
  readonly #hinter: Hinter;
  readonly #producers = new Map<string, Producer>();
  readonly #executing = new Set<Promise<void>>();
  #subscription: Subscription | undefined;
  #state: Lifecycle = 'idle';
  #stopping: Promise<void> | undefined;

  constructor(options: QueueOptions) {
    const config = resolveConfig(options, () => `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`);
    super(config.logger);
    this.#config = config;
    this.#driver = resolveDriver(options.connection, config.poolSize, config.logger);
    this.#engine = new Engine(this.#driver, buildStatements(config.quotedSchema), config.channel);
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
    this.#assertUsable();
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
    if (this.#state !== 'idle') throw new QueueStateError(`Queue cannot start: it is ${this.#state}`);
    this.#state = 'started';
    for (const [queue, limit] of this.#config.queues) {
      const producer = new Producer(
        this.#engine,
        { queue, limit, nodeId: this.#config.nodeId, pollInterval: this.#config.pollInterval },
        {
          execute: (fetched) => this.#execute(fetched),
          release: (jobs) => this.#release(jobs),
          onError: (error) => this.#error(error, `fetch ${queue}`),
        },
      );
      this.#producers.set(queue, producer);
      producer.start();
    }
    this.#stager.start();
    this.#subscription = this.#driver.listen(this.#config.channel, {
      onNotify: (payload) => this.#notified(payload),
      onConnect: () => {
        // (Re)connected: anything notified while we were away must not be stranded.
        this.#wake([...this.#producers.keys()]);
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
   * they are invalid. With `tx`, the job is part of the host's transaction.
   *
   * @example
   * ```ts
   * const job = await queue.insert(resize, { url, width: 200 }, { priority: 1 });
   * await sql.begin((tx) => queue.insert(resize, { url, width: 200 }, { tx }));
   * ```
   */
  async insert<S extends ArgsSchema>(worker: Worker<S>, args: z.input<S>, options?: InsertOptions): Promise<Job<z.output<S>>>;
  async insert(worker: string, args: unknown, options?: InsertOptions): Promise<Job>;
  async insert(worker: Worker | string, args: unknown, options: InsertOptions = {}): Promise<Job> {
    const [job] = await this.#insert(worker, [args], options);
    return job!;
  }

  /**
   * Inserts many jobs of one worker in one statement (one round trip). All args are validated
   * before anything is written; the error names the item that failed.
   *
   * @example
   * ```ts
   * const jobs = await queue.insertMany(resize, urls.map((url) => ({ url, width: 200 })));
   * ```
   */
  async insertMany<S extends ArgsSchema>(worker: Worker<S>, args: readonly z.input<S>[], options?: InsertOptions): Promise<Job<z.output<S>>[]>;
  async insertMany(worker: string, args: readonly unknown[], options?: InsertOptions): Promise<Job[]>;
  async insertMany(worker: Worker | string, args: readonly unknown[], options: InsertOptions = {}): Promise<Job[]> {
    if (!Array.isArray(args)) throw new ConfigError('insertMany expects an array of args');
    return this.#insert(worker, args, options, true);
  }

  /**
   * Reads a job by id; `null` when there is none.
   *
   * @example
   * ```ts
   * const job = await queue.getJob(id);
   * ```
   */
  async getJob(id: string | number | bigint): Promise<Job | null> {
    const text = String(id);
    if (!/^[1-9][0-9]{0,18}$/.test(text)) throw new ConfigError(`Invalid job id ${JSON.stringify(text)}`);
    this.#assertUsable();
    return this.#engine.getJob(text);
  }

  async #insert(workerRef: Worker | string, argsList: readonly unknown[], options: InsertOptions, many = false): Promise<Job[]> {
    const name = typeof workerRef === 'string' ? workerRef : workerRef?.name;
    const worker = this.#config.workers.get(name);
    if (worker === undefined) throw new UnknownWorkerError(String(name), [...this.#config.workers.keys()]);
    const batch = buildBatch(worker, argsList.map((args, i) => parseArgs(worker, args, many ? i : undefined)), options);
    if (batch.args.length === 0) return [];
    this.#assertUsable();
    let jobs: Job[];
    if (options.tx === undefined) {
      // Committed when this returns: wake local producers now, other nodes by a merged hint.
      jobs = await this.#engine.insertJobs(this.#driver, batch, null);
      const scheduled = jobs[0]!.state === 'scheduled';
      if (this.#state === 'started') {
        this.#wake([batch.queue]);
        if (scheduled) this.#stager.wake(0);
      }
      this.#hinter.add([batch.queue], scheduled);
    } else {
      // Only the host's commit may wake anyone: the NOTIFY rides in its transaction.
      jobs = await this.#engine.insertJobs(resolveTransaction(options.tx), batch, notifyHint(batch));
    }
    if (this.listenerCount('job:insert') > 0) this.emit('job:insert', { jobs });
    return jobs;
  }

  // A pool docket created is closed by stop(); a host's pool stays usable for inserts.
  #assertUsable(): void {
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
    const outcome = await this.#executor.run(job, worker);
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
    // The hot path: a completion nobody listens to needs no Job rebuilt.
    if (ack.event.type === 'complete' && this.listenerCount('job:complete') === 0) return;
    const error = row.error === null ? undefined : (JSON.parse(row.error) as JobError);
    const job: Job = {
      ...ack.job,
      state: ack.state,
      attempt: Number(row.attempt),
      scheduledAt: new Date(Number(row.scheduled_at)),
      completedAt: row.completed_at === null ? null : new Date(Number(row.completed_at)),
      errors: error === undefined ? ack.job.errors : [...ack.job.errors, error],
      result: ack.resultJson === null ? ack.job.result : (JSON.parse(ack.resultJson) as unknown),
    };
    const timing = { queueTime: ack.queueTime, runTime: ack.runTime };
    const event = ack.event;
    switch (event.type) {
      case 'complete':
        this.emit('job:complete', { job, ...timing });
        break;
      case 'retry':
        this.emit('job:error', { job, error: error!, ...timing });
        this.emit('job:retry', { job, error: error!, delay: event.delay, ...timing });
        this.#stager.wake(event.delay);
        break;
      case 'shutdown':
        this.emit('job:error', { job, error: error!, ...timing });
        this.emit('job:retry', { job, error: error!, delay: 0, ...timing });
        break;
      case 'snooze':
        this.emit('job:snooze', { job, delay: event.delay, ...timing });
        this.#stager.wake(event.delay);
        break;
      case 'release':
        // The job is available again: tell the nodes (this one included, unless stopping).
        this.#hinter.add([job.queue], false);
        break;
      case 'cancel':
        this.emit('job:cancel', { job, reason: event.reason, ...timing });
        break;
      case 'discard':
        if (event.failed) this.emit('job:error', { job, error: error!, ...timing });
        this.emit('job:discard', { job, reason: event.reason, ...timing });
        break;
    }
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

  // Anyone with access to the database can NOTIFY this channel: parse defensively, never throw.
  #notified(payload: string): void {
    let hint: unknown;
    try {
      hint = JSON.parse(payload);
    } catch {
      return;
    }
    if (typeof hint !== 'object' || hint === null) return;
    const { queues, scheduled } = hint as { queues?: unknown; scheduled?: unknown };
    if (Array.isArray(queues)) this.#wake(queues.filter((q): q is string => typeof q === 'string'));
    if (scheduled === true) this.#stager.wake(0);
  }

  #wake(queues: readonly string[]): void {
    for (const queue of queues) this.#producers.get(queue)?.dispatch();
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
      // once stop() was called; then we wait for the queries already in flight.
      const [unstarted] = await Promise.all([
        Promise.all([...this.#producers.values()].map((p) => p.stop())),
        this.#stager.stop(),
      ]);
      // Prefetched jobs that never started go back as they were.
      this.#release(unstarted.flat());
      await this.#subscription?.close();
      if (!(await this.#executor.waitIdle(timeout))) aborted = this.#executor.abortAll();
      await Promise.all([...this.#executing]);
      if (!(await this.#completer.drain(Math.max(5_000, timeout)))) {
        this.#config.logger.error('docket: could not write every outcome before stopping; those jobs will be rescued', {
          pending: this.#completer.pending,
        });
      }
      this.#completer.close();
    }
    await this.#hinter.idle();
    await this.#driver.close();
    this.#state = 'stopped';
    this.emit('queue:stop', { aborted });
  }
}
