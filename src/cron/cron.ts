// Cron: turns persisted schedules into jobs, on the leader. Each tick of a schedule is inserted
// with a unique key (schedule name, tick time) held in every state, so a second leader (after a
// failover, or a split brain) inserting the same tick gets the existing job: exactly one job per
// tick across the cluster. Ticks missed while no node ran are skipped, or the last one is
// enqueued ('last'); ticks late by less than `grace` (a failover) are on time.
import { ConfigError, DocketError } from '../definitions/errors.js';
import type { ScheduleDefinition } from './schedules.js';
import { checkSchedule } from './schedules.js';
import { checkTimezone, nextTick, ticksBetween } from './expression.js';
import { internals } from '../plugins/host.js';
import type { PluginContext, PluginOptions } from '../plugins/plugin.js';
import { Plugin } from '../plugins/plugin.js';

/**
 * A schedule declared with the plugin. Stored (created or updated) when the plugin starts;
 * schedules added at runtime with `queue.schedules.set()` are kept too.
 *
 * @example
 * ```ts
 * const job: CronJob = { name: 'digest', expression: '0 9 * * MON-FRI', worker: sendDigest, timezone: 'America/New_York' };
 * ```
 */
export type CronJob = ScheduleDefinition;

/**
 * Options of {@link Cron}.
 *
 * @example
 * ```ts
 * new Cron({ timezone: 'Europe/London', jobs: [{ name: 'report', expression: '30 2 * * *', worker: 'nightly-report' }] });
 * ```
 */
export interface CronOptions extends PluginOptions {
  /** Zone of jobs that name none. Default `'UTC'`. */
  readonly timezone?: string;
  readonly jobs?: readonly CronJob[];
  /** A tick enqueued less than this late (ms) is on time, e.g. after a leader failover. Default 60,000. */
  readonly grace?: number;
}

/**
 * Enqueues scheduled jobs: exactly one job per tick across the cluster, time zones and DST
 * handled by cron-parser, schedules persisted and manageable at runtime (`queue.schedules`).
 *
 * @example
 * ```ts
 * const queue = new Queue({
 *   connection, workers: [sendDigest],
 *   plugins: [new Cron({ timezone: 'UTC', jobs: [{ name: 'digest', expression: '0 9 * * MON-FRI', worker: sendDigest, args: {} }] })],
 * });
 * ```
 */
export class Cron extends Plugin {
  readonly name = 'cron';
  readonly timezone: string;
  readonly grace: number;
  readonly jobs: readonly CronJob[];
  readonly #undeclared: Set<CronJob>;

  constructor(options: CronOptions = {}) {
    super(options, 1_000);
    this.timezone = checkTimezone(options.timezone ?? 'UTC', 'Cron');
    const grace = options.grace ?? 60_000;
    if (typeof grace !== 'number' || !Number.isInteger(grace) || grace < 0) throw new ConfigError(`Cron: grace must be a whole number of ms >= 0, got ${String(grace)}`);
    if (grace < this.interval) {
      throw new ConfigError(`Cron: grace (${grace} ms) must be at least the interval (${this.interval} ms), or every tick would count as missed`);
    }
    this.grace = grace;
    this.jobs = [...(options.jobs ?? [])];
    this.#undeclared = new Set(this.jobs);
    const names = new Set<string>();
    for (const job of this.jobs) {
      // The worker and args are checked against the Queue at start; the rest can be checked now.
      checkSchedule(job, undefined, this.timezone);
      if (names.has(job.name)) throw new ConfigError(`Cron: two jobs are named "${job.name}"`);
      names.add(job.name);
    }
  }

  protected async tick(ctx: PluginContext): Promise<void> {
    const { engine, insertTick } = internals(ctx);
    // Declared jobs are stored once. One this node cannot store for good (its worker is not
    // registered here, say) is reported and dropped; one that failed on the database is retried
    // next tick; either way the other schedules still run.
    for (const job of [...this.#undeclared]) {
      try {
        await ctx.queue.schedules.set(job, this.timezone);
        this.#undeclared.delete(job);
      } catch (error) {
        if (error instanceof DocketError) this.#undeclared.delete(job);
        ctx.reportError(error);
      }
    }
    const due = await engine.dueSchedules();
    for (const row of due) {
      if (ctx.signal.aborted) return;
      const now = Number(row.db_now);
      const readNext = row.next_at === null ? null : Number(row.next_at);
      try {
        if (readNext === null) {
          // New or changed: starts with the first tick after now.
          await engine.advanceSchedule({ name: row.name, readNext: null, next: nextTick(row.expression, row.timezone, now), last: null });
          continue;
        }
        const ticks = ticksBetween(row.expression, row.timezone, readNext - 1, now);
        const onTime = ticks.filter((t) => now - t <= this.grace);
        const missed = ticks.filter((t) => now - t > this.grace);
        const enqueue = row.missed === 'last' && missed.length > 0 ? [missed.at(-1)!, ...onTime] : onTime;
        const args = JSON.parse(row.args) as unknown;
        const options = JSON.parse(row.options) as Record<string, unknown>;
        for (const tick of enqueue) {
          const at = new Date(tick).toISOString();
          // The job knows its schedule and tick (job.meta.cron), so its work can be idempotent per tick.
          const meta = { ...(options.meta as Record<string, unknown> | undefined), cron: { schedule: row.name, tick: at } };
          await insertTick(row.worker, args, { ...options, meta, tags: [...((options.tags as string[] | undefined) ?? []), `cron:${row.name}`] }, `cron:${row.name}:${at}`);
        }
        await engine.advanceSchedule({ name: row.name, readNext, next: nextTick(row.expression, row.timezone, now), last: enqueue.at(-1) ?? null });
      } catch (error) {
        // One broken schedule (e.g. its worker was removed from the code) must not stop the others.
        ctx.reportError(error);
      }
    }
  }
}
