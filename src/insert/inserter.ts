// Writes inserts: validates args and options (nothing is written when anything is wrong), then
// takes the plain batch insert, or the keyed one for unique and partitioned jobs; wakes workers
// (at once outside a host transaction, on its commit inside one), emits insert events, and in
// inline testing mode runs the new jobs before returning.
import type { ResolvedConfig } from '../config/config.js';
import { insertKeyed, keyedRows } from './keyed.js';
import type { Engine } from '../engine/engine.js';
import type { Scope } from '../engine/types.js';
import { UnknownWorkerError } from '../definitions/errors.js';
import type { InsertCall, JobMiddleware } from '../definitions/middleware.js';
import type { InsertBatch } from '../engine/types.js';
import type { SafeEmitter } from '../definitions/events.js';
import type { InsertOptions, UniqueInsertOptions } from './options.js';
import { buildBatch, notifyHint, parseArgs } from './options.js';
import { aroundInsert } from './insert-middleware.js';
import type { Job } from '../definitions/job.js';
import { JOB_STATES } from '../definitions/job.js';
import type { ResolvedUnique } from './unique.js';
import { resolveUnique } from './unique.js';
import type { Worker } from '../definitions/worker.js';

/** Whether insert options ask for a unique job. */
export function isUnique(options: InsertOptions | UniqueInsertOptions): options is UniqueInsertOptions {
  return (options as UniqueInsertOptions).unique !== undefined;
}

/** What the inserter needs from the queue around it. */
export interface InserterHooks {
  /** Throws when the queue can no longer reach the database. */
  assertUsable(): void;
  /** Jobs of `queue` were committed (outside a host transaction): wake whoever runs them. */
  committed(queue: string, scheduled: boolean): void;
  /** Inline testing mode: runs the jobs just inserted (in `scope`, if any); returns them as they ended. */
  runInline(scope: Scope | undefined, ids: readonly string[]): Promise<readonly { readonly job: Job }[]>;
}

/** Inserts jobs for one Queue. */
export class Inserter {
  constructor(
    private readonly config: ResolvedConfig,
    private readonly engine: Engine,
    private readonly emitter: SafeEmitter,
    private readonly hooks: InserterHooks,
  ) {
    this.#insertMiddleware = config.middleware.filter((m) => m.insert !== undefined);
  }

  readonly #insertMiddleware: readonly JobMiddleware[];

  /**
   * Inserts one job under an exact unique key held in every state (a cron tick): whoever
   * inserts the same key again gets the existing job.
   */
  async insertWithKey(worker: string, args: unknown, options: InsertOptions, key: string): Promise<{ job: Job; duplicate: boolean }> {
    const found = this.config.workers.get(worker);
    if (found === undefined) throw new UnknownWorkerError(worker, [...this.config.workers.keys()]);
    const batch = buildBatch(found, [parseArgs(found, args)], options, { maxBytes: this.config.maxArgsBytes, indexed: false });
    const unique: ResolvedUnique = { by: ['worker'], period: null, states: [...JOB_STATES].sort() };
    const partition = found.partition ?? this.config.queueSettings.get(found.queue)?.partition;
    const rows = keyedRows(batch, undefined, partition as never).map((row) => ({ ...row, ukey: key }));
    this.hooks.assertUsable();
    const { jobs, duplicate } = await this.#around(batch, false, (b) => insertKeyed(this.engine, undefined, b, rows, unique, partition?.limit ?? null, null));
    if (!duplicate[0]) {
      this.hooks.committed(batch.queue, jobs[0]!.state === 'scheduled');
      if (this.emitter.listenerCount('job:insert') > 0) this.emitter.emit('job:insert', { jobs });
    }
    return { job: jobs[0]!, duplicate: duplicate[0]! };
  }

  async insert(
    workerRef: Worker | string,
    argsList: readonly unknown[],
    options: InsertOptions | UniqueInsertOptions,
    many = false,
  ): Promise<{ jobs: Job[]; duplicate?: boolean[] }> {
    const name = typeof workerRef === 'string' ? workerRef : workerRef?.name;
    const worker = this.config.workers.get(name);
    if (worker === undefined) throw new UnknownWorkerError(String(name), [...this.config.workers.keys()]);
    const batch = buildBatch(worker, argsList.map((args, i) => parseArgs(worker, args, many ? i : undefined)), options, { maxBytes: this.config.maxArgsBytes, indexed: many });
    const unique = isUnique(options) ? resolveUnique(options.unique, `insert into "${worker.name}"`) : undefined;
    const partition = worker.partition ?? this.config.queueSettings.get(worker.queue)?.partition;
    const keyed = unique !== undefined || partition !== undefined ? keyedRows(batch, unique, partition as never) : undefined;
    if (batch.args.length === 0) return { jobs: [], duplicate: [] };
    this.hooks.assertUsable();
    const scope = options.tx === undefined ? undefined : this.engine.hostScope(options.tx);
    // In the host's transaction only its commit may wake anyone: the NOTIFY rides in it.
    const notify = options.tx === undefined ? null : notifyHint(batch);
    let jobs: Job[];
    let duplicate: boolean[] | undefined;
    ({ jobs, duplicate } = await this.#around(batch, options.tx !== undefined, async (b): Promise<{ jobs: Job[]; duplicate?: boolean[] }> =>
      keyed === undefined
        ? { jobs: await this.engine.insertJobs({ batch: b, notify, scope }) }
        : insertKeyed(this.engine, scope, b, keyed, unique, partition?.limit ?? null, notify),
    ));
    const fresh = duplicate === undefined ? jobs : jobs.filter((_, i) => !duplicate[i]);
    if (options.tx === undefined && fresh.length > 0) {
      // Committed when this returns: wake local producers now, other nodes by a merged hint.
      this.hooks.committed(batch.queue, fresh[0]!.state === 'scheduled');
    }
    if (fresh.length > 0 && this.emitter.listenerCount('job:insert') > 0) this.emitter.emit('job:insert', { jobs: fresh });
    if (this.config.testing === 'inline' && fresh.length > 0) {
      // Inline: run them now, on the insert's connection (inside its transaction, if any).
      const ran = new Map((await this.hooks.runInline(scope, fresh.map((j) => j.id))).map((r) => [r.job.id, r.job]));
      jobs = jobs.map((job) => ran.get(job.id) ?? job);
    }
    if (duplicate !== undefined && this.emitter.listenerCount('job:unique_conflict') > 0) {
      jobs.forEach((job, i) => {
        if (duplicate[i]) this.emitter.emit('job:unique_conflict', { job, args: batch.args[i] });
      });
    }
    return duplicate === undefined ? { jobs } : { jobs, duplicate };
  }

  /** Runs `write` inside the insert middleware (none: at once, with the meta as built). */
  async #around<R extends { jobs: Job[] }>(batch: InsertBatch, inTransaction: boolean, write: (batch: InsertBatch) => Promise<R>): Promise<R> {
    const call: InsertCall = { worker: batch.worker, queue: batch.queue, count: batch.args.length, inTransaction, meta: { ...batch.meta } };
    return aroundInsert(this.#insertMiddleware, call, `insert into "${batch.worker}"`, batch.meta_json ?? '{}', (meta, metaJson) =>
      write({ ...batch, meta, meta_json: metaJson }),
    );
  }
}
