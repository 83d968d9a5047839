// Persisted cron schedules (`queue.schedules`): add, change, remove and list them at runtime,
// from any node. Everything is checked before it is stored: the expression, the time zone, the
// worker (known to this Queue) and its args (by the worker's schema). The Cron plugin, on the
// leader, is what turns due schedules into jobs.
import type { ScheduleOperations } from '../engine/engine.js';
import type { ScheduleRow } from '../engine/types.js';
import { ConfigError, UnknownWorkerError } from '../definitions/errors.js';
import { parseArgs } from '../insert/options.js';
import { storableText } from '../definitions/storable-text.js';
import { encodeOne } from '../insert/args-json.js';
import { MAX_ARGS_BYTES_LIMIT } from '../definitions/limits.js';
import { checkExpression, checkTimezone } from './expression.js';
import type { Worker } from '../definitions/worker.js';
import { checkInt } from '../definitions/worker.js';

/**
 * Insert options a schedule passes to each job it enqueues.
 *
 * @example
 * ```ts
 * const opts: ScheduleJobOptions = { priority: -1, maxAttempts: 3, tags: ['nightly'] };
 * ```
 */
export interface ScheduleJobOptions {
  readonly priority?: number;
  readonly maxAttempts?: number;
  readonly tags?: readonly string[];
}

/**
 * A schedule to add or change.
 *
 * @example
 * ```ts
 * await queue.schedules.set({ name: 'weekday-digest', expression: '0 9 * * MON-FRI', timezone: 'Europe/London', worker: sendDigest, args: {} });
 * ```
 */
export interface ScheduleDefinition {
  /** Unique; 1–128 characters. */
  readonly name: string;
  /** Five fields (minute hour day-of-month month day-of-week), or six with seconds first. */
  readonly expression: string;
  /** A Worker of this Queue, or its name. */
  readonly worker: Worker | string;
  /** Args of every job (checked by the worker's schema). Default `{}`. */
  readonly args?: unknown;
  /** IANA zone the expression is read in. Default `'UTC'` (or the Cron plugin's `timezone`). */
  readonly timezone?: string;
  readonly opts?: ScheduleJobOptions;
  /** Ticks missed while no node ran: `'skip'` them (default) or enqueue the `'last'` one. */
  readonly missed?: 'skip' | 'last';
}

/**
 * A stored schedule.
 *
 * @example
 * ```ts
 * for (const s of await queue.schedules.list()) console.log(s.name, s.nextAt);
 * ```
 */
export interface Schedule {
  readonly name: string;
  readonly expression: string;
  readonly timezone: string;
  readonly worker: string;
  readonly args: unknown;
  readonly opts: ScheduleJobOptions;
  readonly missed: 'skip' | 'last';
  /** The next tick to enqueue; `null` until the leader has computed it. */
  readonly nextAt: Date | null;
  /** The last tick enqueued. */
  readonly lastAt: Date | null;
}

export type { ScheduleRow } from '../engine/types.js';

/** Turns a schedules row into a Schedule. */
export function rowToSchedule(row: ScheduleRow): Schedule {
  return {
    name: row.name,
    expression: row.expression,
    timezone: row.timezone,
    worker: row.worker,
    args: JSON.parse(row.args) as unknown,
    opts: JSON.parse(row.options) as ScheduleJobOptions,
    missed: row.missed,
    nextAt: row.next_at === null ? null : new Date(Number(row.next_at)),
    lastAt: row.last_at === null ? null : new Date(Number(row.last_at)),
  };
}

const NAME_RE = /^.{1,128}$/su;

/**
 * Checks a definition; with `workers`, also that the worker exists and accepts the args.
 * Returns what is stored.
 */
export function checkSchedule(def: ScheduleDefinition, workers: ReadonlyMap<string, Worker> | undefined, defaultZone = 'UTC') {
  if (typeof def !== 'object' || def === null) throw new ConfigError('A schedule must be an object { name, expression, worker, ... }');
  if (typeof def.name !== 'string' || !NAME_RE.test(def.name) || !storableText(def.name)) {
    throw new ConfigError('Schedule name must be 1–128 characters, with no NUL or lone surrogates');
  }
  const where = `Schedule "${def.name}"`;
  const timezone = checkTimezone(def.timezone ?? defaultZone, where);
  const expression = checkExpression(def.expression, timezone, where);
  const workerName = typeof def.worker === 'string' ? def.worker : def.worker?.name;
  if (typeof workerName !== 'string' || workerName.length === 0) throw new ConfigError(`${where}: worker must be a Worker or a worker name`);
  const args = def.args ?? {};
  // Storable as JSON (the schedule row keeps them); each tick's insert then applies the Queue's maxArgsBytes.
  encodeOne(workerName, args, MAX_ARGS_BYTES_LIMIT);
  if (workers !== undefined) {
    const worker = workers.get(workerName);
    if (worker === undefined) throw new UnknownWorkerError(workerName, [...workers.keys()]);
    parseArgs(worker, args);
  }
  const opts = def.opts ?? {};
  if (typeof opts !== 'object' || opts === null) throw new ConfigError(`${where}: opts must be an object`);
  if (opts.priority !== undefined) checkInt(opts.priority, -32768, 32767, `${where}: opts.priority`);
  if (opts.maxAttempts !== undefined) checkInt(opts.maxAttempts, 1, 32767, `${where}: opts.maxAttempts`);
  if (opts.tags !== undefined && (!Array.isArray(opts.tags) || opts.tags.some((t) => typeof t !== 'string' || t.length === 0 || !storableText(t)))) {
    throw new ConfigError(`${where}: opts.tags must be an array of non-empty strings (no NUL or lone surrogates)`);
  }
  const missed = def.missed ?? 'skip';
  if (missed !== 'skip' && missed !== 'last') throw new ConfigError(`${where}: missed must be 'skip' or 'last'`);
  return { name: def.name, expression, timezone, worker: workerName, args, opts, missed };
}

/**
 * The persisted cron schedules of a Queue's schema. Changes apply cluster-wide: the leader's
 * Cron plugin reads them on its next tick.
 *
 * @example
 * ```ts
 * await queue.schedules.set({ name: 'cleanup', expression: '0 * * * *', worker: 'cleanup' });
 * await queue.schedules.remove('cleanup');
 * ```
 */
export class Schedules {
  /** @internal Created by the Queue: use `queue.schedules`. */
  constructor(
    private readonly engine: ScheduleOperations,
    private readonly workers: ReadonlyMap<string, Worker>,
  ) {}

  /** Every schedule, by name. */
  async list(): Promise<Schedule[]> {
    return (await this.engine.listSchedules()).map(rowToSchedule);
  }

  /** One schedule, or `null`. */
  async get(name: string): Promise<Schedule | null> {
    // A name PostgreSQL cannot store cannot name a stored schedule (set refuses it).
    if (typeof name !== 'string' || !storableText(name)) return null;
    const row = await this.engine.getSchedule({ name });
    return row === undefined ? null : rowToSchedule(row);
  }

  /**
   * Adds or changes a schedule. Changing its expression or zone restarts it from the next tick
   * after now. Throws ConfigError / UnknownWorkerError / ArgsValidationError and stores nothing
   * when the definition is bad. A Queue with no workers (an admin script, the CLI) cannot know
   * the worker: it stores the schedule unchecked by worker and args, and the leader's Cron
   * plugin checks them at each tick (a bad one is reported as `plugin:error`, the other
   * schedules still run).
   */
  async set(def: ScheduleDefinition, defaultZone = 'UTC'): Promise<Schedule> {
    const s = checkSchedule(def, this.workers.size > 0 ? this.workers : undefined, defaultZone);
    return rowToSchedule(await this.engine.upsertSchedule(s));
  }

  /** Removes a schedule; whether there was one. Jobs it already enqueued stay. */
  async remove(name: string): Promise<boolean> {
    if (typeof name !== 'string' || !storableText(name)) return false;
    return this.engine.removeSchedule({ name });
  }
}
