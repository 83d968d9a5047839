// The runtime of one node: producers claim jobs, the executor runs them, the completer acks their
// outcomes, and the events follow the acks, as one pipeline this class owns from start to stop.
// It also owns what keeps that pipeline in line with the cluster: the LISTEN for wake-ups and
// controls, the stager, the reconciler and progress writes. It needs an Engine, a config and an
// emitter, nothing of the Queue facade: a Queue builds it and delegates to it.
//
// A job's path: Producer.#fetch → Runtime.#execute → Executor.run → Completer.push →
// Completer.#flush (engine.ackJobs) → Runtime.#acked → emitAckEvents ('job:complete', ...).
import type { ResolvedConfig } from '../config/config.js';
import type { SafeEmitter } from '../definitions/events.js';
import { reportQueueError } from '../definitions/events.js';
import type { JobProgress, Job } from '../definitions/job.js';
import type { Engine } from '../engine/engine.js';
import { parseNotice } from '../engine/notice.js';
import type { AckedRow, FetchedJob, QueueControlRow, Scope } from '../engine/types.js';
import { Listening } from './listening.js';
import type { AckFollowUps } from './ack-events.js';
import { emitAckEvents } from './ack-events.js';
import { Completer } from './completer.js';
import type { StepHooks } from './executor.js';
import { Executor } from './executor.js';
import type { DrainOptions, DrainResult, DrainedJob } from './inline-runner.js';
import { InlineRunner } from './inline-runner.js';
import type { PendingAck } from './outcome.js';
import { buildAck } from './outcome.js';
import { Producers } from './producers.js';
import { ProgressReporter } from './progress.js';
import { Reconciler } from './reconciler.js';
import { Stager } from './stager.js';
import { ThreadPool } from './threads/thread-pool.js';
import { describeThrown } from '../definitions/thrown.js';

/** What the runtime asks of the node around it. */
export interface RuntimeHooks {
  /** Tell other nodes that these queues have available jobs (merged wake-up hints). */
  announce(queues: readonly string[], scheduled: boolean): void;
  /** The leader released its lease (a notice): try to take it. */
  leaseReleased(): void;
  /**
   * What workflow steps do beyond plain jobs: read results, add steps, settle once acked. A
   * runtime without it runs steps like plain jobs (their release still happens in the ack; the
   * Workflow plugin's sweep settles failures and finishes).
   */
  readonly workflow?: StepHooks;
}

/** How a stop went. */
export interface RuntimeStopped {
  /** Running jobs whose signals were aborted at the deadline. */
  readonly aborted: number;
  /** Whether every outcome was written (else Lifeline rescues the rest). */
  readonly allWritten: boolean;
}

/** Fetches, runs and acks the jobs of one node. */
export class Runtime {
  readonly #executing = new Set<Promise<void>>();
  readonly #producers: Producers;
  readonly #executor: Executor;
  readonly #threads: ThreadPool;
  readonly #progress: ProgressReporter;
  readonly #reconciler: Reconciler;
  readonly #completer: Completer;
  readonly #stager: Stager;
  readonly #inline: InlineRunner;
  readonly #followUps: AckFollowUps;
  #listening: Listening | undefined;
  /** Fetching and running (start() until stop()). */
  #running = false;
  /** Started in a testing mode: jobs run only in drain() or inline, but can still be taken away. */
  #testing = false;
  /** Whether LISTEN connected before: a reconnect re-reads what its gap may have missed. */
  #listenedBefore = false;

  constructor(
    private readonly config: ResolvedConfig,
    private readonly engine: Engine,
    private readonly events: SafeEmitter,
    private readonly hooks: RuntimeHooks,
  ) {
    this.#followUps = {
      // Testing modes never stage by themselves (drain({ withScheduled }) pulls jobs forward).
      dueIn: (delayMs) => {
        if (this.#running) this.#stager.wake(delayMs);
      },
      released: (queue) => hooks.announce([queue], false),
      stepFinished: async (job, state) => {
        hooks.workflow?.stepsFinished([{ job, state }]);
        await hooks.workflow?.settled();
      },
    };
    this.#producers = new Producers(config);
    this.#threads = new ThreadPool(config.threads);
    this.#progress = new ProgressReporter(engine, config.progressInterval, {
      onStored: (job, progress) => this.#progressStored(job, progress),
      onError: (error) => this.#error(error, 'progress'),
    });
    this.#executor = new Executor(
      (job, claim, percent, data) => this.#progress.report(job, claim, percent, data),
      (worker, job, signal) => this.#threads.run(worker, job, signal),
      hooks.workflow,
      config.middleware,
    );
    this.#reconciler = new Reconciler(engine, config.reconcileInterval, {
      attempts: (minAgeMs) => this.#executor.attempts(minAgeMs),
      abandon: (id, claim, state) => this.#executor.abandon(id, claim, state),
      applyControls: (rows) => this.#producers.applyAll(rows),
      onError: (error, context) => this.#error(error, context),
    });
    this.#inline = new InlineRunner(engine, this.#executor, config.workers, config.nodeId, events, this.#followUps, (id, claim) =>
      this.#progress.forget(id, claim),
    );
    this.#completer = new Completer(engine, {
      // Only completions nobody listens to can skip the details (every other outcome emits).
      detailed: (batch) => events.listenerCount('job:complete') > 0 || batch.some((a) => a.event.type !== 'complete'),
      onAcked: (ack, row) => this.#acked(ack, row),
      onRejected: (ack, error) => this.#rejected(ack, error),
      onError: (error) => this.#error(error, 'ack'),
      onBacklog: (backlogged, pending) => {
        if (backlogged) {
          this.config.logger.warn('docket: outcomes are not being written; this node claims no more jobs until they are', { pending });
        } else {
          this.config.logger.info('docket: outcomes are being written again; claiming resumes', { pending });
          this.#producers.wake(this.#producers.queues);
        }
      },
    });
    this.#stager = new Stager(engine, config.pollInterval, {
      onStaged: (queues) => this.#producers.wake(queues),
      onError: (error) => this.#error(error, 'stage'),
    });
  }

  /**
   * What the runtime must know before its first fetch: the persisted controls (a node started
   * after a pause obeys it), with the rows rate-limited queues log their starts in.
   */
  async prepare(): Promise<QueueControlRow[]> {
    for (const [queue, settings] of this.config.queueSettings) {
      if (settings.rateLimit !== undefined) await this.engine.ensureQueue({ name: queue });
    }
    return this.engine.queueControls();
  }

  /** Starts fetching and running, obeying `controls`; then LISTENs for wake-ups. */
  start(controls: readonly QueueControlRow[]): void {
    this.#running = true;
    this.#producers.create(this.engine, (queue) => ({
      execute: (fetched) => this.#execute(fetched),
      release: (jobs) => this.#release(jobs),
      held: () => this.#completer.backlogged,
      onError: (error) => this.#error(error, `fetch ${queue}`),
    }));
    this.#producers.applyAll(controls);
    this.#producers.start();
    void this.#reconciler.start();
    this.#stager.start();
    this.#listening = new Listening(
      this.engine,
      this.config.nodeId,
      {
        onNotice: (payload) => this.#notified(payload),
        onConnect: () => {
          // (Re)connected: anything notified while we were away must not be stranded.
          this.#producers.wake(this.#producers.queues);
          this.#stager.wake(0);
          // Nor a control notice (pause, scale, a cancel of a job running here) sent in the gap:
          // without this it would wait for the reconcile timer (start() already read them).
          if (this.#listenedBefore) {
            void this.#reconciler.reloadControls();
            void this.#reconciler.checkAttempts(0);
          }
          this.#listenedBefore = true;
        },
        onError: (error) => this.#error(error, 'listen'),
      },
      this.config.logger,
    );
    this.#listening.start();
  }

  /**
   * A Queue in a testing mode started: nothing fetches by itself, but a job cancelled or deleted
   * while drain() or an inline insert runs it is still aborted.
   */
  startTesting(): void {
    this.#testing = true;
  }

  /** Jobs of `queue` were committed by this node: wake its producer (and the stager for later ones). */
  committed(queue: string, scheduled: boolean): void {
    if (!this.#running) return;
    this.#producers.wake([queue]);
    if (scheduled) this.#stager.wake(0);
  }

  /** A control changed by this node: applied at once. */
  applyControl(row: QueueControlRow): void {
    this.#producers.apply(row);
  }

  /** A job that may run here was taken away elsewhere: check the running attempts now. */
  checkRunning(): void {
    if (this.#running || this.#testing) void this.#reconciler.checkAttempts(0);
  }

  /** This node's effective concurrency per configured queue. */
  localLimits(): ReadonlyMap<string, number> {
    return this.#producers.limits();
  }

  /** Testing modes: runs those of `ids` that are available, in `scope` (an insert's transaction). */
  runIds(scope: Scope | undefined, ids: readonly string[]): Promise<DrainedJob[]> {
    return this.#inline.runIds(scope, ids);
  }

  /** Testing modes: runs available jobs of `queues` until none is left. */
  drain(queues: readonly string[], options: DrainOptions): Promise<DrainResult> {
    return this.#inline.drain(queues, options);
  }

  /**
   * Stops: no new fetches; unstarted claims go back; running jobs get `timeout` ms, then their
   * signals abort; outcomes are written (at least 5 s are allowed for that).
   */
  async stop(timeout: number): Promise<RuntimeStopped> {
    this.#running = false;
    this.#testing = false;
    // Both stop() calls flag their loops synchronously, before any await, so nothing fetches
    // once stop() was called; then we wait for the queries already in flight.
    const [unstarted] = await Promise.all([this.#producers.stop(), this.#stager.stop()]);
    // Prefetched jobs that never started go back as they were.
    this.#release(unstarted);
    await this.#listening?.stop();
    let aborted = 0;
    if (!(await this.#executor.waitIdle(timeout))) aborted = this.#executor.abortAll();
    await Promise.all([...this.#executing]);
    // Only now: a job cancelled while running jobs wound down must still be stopped.
    await this.#reconciler.stop();
    if (!(await this.#completer.drain(Math.max(5_000, timeout)))) {
      this.config.logger.error('docket: could not write every outcome before stopping; those jobs will be rescued', {
        pending: this.#completer.pending,
      });
    }
    const allWritten = this.#completer.pending === 0;
    this.#completer.close();
    this.#progress.close();
    return { aborted, allWritten };
  }

  /** Ends the worker threads (if any ran). */
  async close(): Promise<void> {
    await this.#threads.close();
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

  async #run({ job, claim, queueMs }: FetchedJob): Promise<void> {
    const worker = this.config.workers.get(job.worker);
    if (this.events.listenerCount('job:start') > 0) this.events.emit('job:start', { job, queueTime: queueMs });
    const started = performance.now();
    const outcome = await this.#executor.run(job, worker, claim);
    this.#progress.forget(job.id, claim);
    if (outcome.kind === 'moved') {
      // Cancelled, discarded or deleted elsewhere while it ran: its row already says so.
      this.config.logger.info('docket: a running job was taken away and aborted', { jobId: job.id, reason: describeThrown(outcome.error) });
      return;
    }
    this.#completer.push(buildAck(job, claim, worker, outcome, { queueTime: queueMs, runTime: performance.now() - started }));
  }

  // Claimed jobs that never started go back as they were: available, attempt handed back.
  #release(jobs: readonly FetchedJob[]): void {
    for (const { job, claim } of jobs) {
      this.#completer.push(buildAck(job, claim, undefined, { kind: 'release' }, { queueTime: 0, runTime: 0 }));
    }
  }

  #acked(ack: PendingAck, row: AckedRow | undefined): void {
    if (row === undefined) {
      this.config.logger.warn('docket: outcome ignored, the job moved on (rescued or changed elsewhere)', {
        jobId: ack.job.id,
        attempt: ack.job.attempt,
      });
      return;
    }
    emitAckEvents(this.events, ack, row, this.#followUps);
    if (ack.job.workflow !== null) this.hooks.workflow?.stepsFinished([{ job: ack.job, state: ack.state }]);
  }

  // The database refused this outcome for its data (e.g. a result jsonb cannot hold): record a
  // plain failure instead, so the job is retried or discarded rather than left executing.
  #rejected(ack: PendingAck, error: unknown): void {
    this.#error(error, `ack of job ${ack.job.id}`);
    if (ack.fallback === true) {
      this.config.logger.error('docket: even the fallback outcome was refused; the job stays executing until rescued', {
        jobId: ack.job.id,
      });
      return;
    }
    const worker = this.config.workers.get(ack.job.worker);
    const failure = new Error(`The job's outcome could not be stored: ${(error as Error).message}`);
    const fallback = buildAck(ack.job, ack.claim, worker, { kind: 'error', error: failure }, { queueTime: ack.queueTime, runTime: ack.runTime });
    this.#completer.push({ ...fallback, fallback: true });
  }

  // A notice only makes this node look at the database (see engine/notice.ts).
  #notified(payload: string): void {
    const notice = parseNotice(payload);
    if (notice === undefined) return;
    this.#producers.wake(notice.queues);
    if (notice.scheduled) this.#stager.wake(0);
    if (notice.controls) void this.#reconciler.reloadControls();
    if (notice.abort) void this.#reconciler.checkAttempts(0);
    if (notice.leaseReleased) this.hooks.leaseReleased();
  }

  #progressStored(job: Job, progress: JobProgress): void {
    if (this.events.listenerCount('job:progress') > 0) this.events.emit('job:progress', { job: { ...job, lastProgress: progress }, progress });
  }

  #error(error: unknown, context: string): void {
    reportQueueError(this.events, this.config.logger, error, context);
  }
}
