// Pruner: retires finished jobs (completed, cancelled, discarded) older than their max age, per
// state and per queue, and optionally keeps at most maxCount finished jobs per queue. It keeps
// the history's day partitions: creates the next days ahead, and drops a whole day of a state
// once every rule lets that state's jobs go (no row deletes, no dead rows): the longest max age
// of a state is honoured to the day. What whole days cannot serve (a rule keeping a state
// shorter than another rule does, maxCount, rows of days with no partition) goes by row deletes
// of one batch each (at most batchSize rows, SKIP LOCKED, its own transaction, then a rest as
// long as the batch took), so it never holds many locks for long nor takes a core for itself.
// Leader only. Fetches never see any of it: they read only the live table.
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../definitions/errors.js';
import { checkQueueName } from '../definitions/worker.js';
import { internals } from './host.js';
import type { PluginContext, PluginOptions } from './plugin.js';
import { Plugin } from './plugin.js';

/** The finished states the Pruner deletes. */
export type PrunedState = 'completed' | 'cancelled' | 'discarded';

/**
 * A max age (ms): one for every finished state, or one per state.
 *
 * @example
 * ```ts
 * const maxAge: MaxAge = { completed: 86_400_000, discarded: 7 * 86_400_000 };
 * ```
 */
export type MaxAge = number | Partial<Record<PrunedState, number>>;

/**
 * Options of {@link Pruner}.
 *
 * @example
 * ```ts
 * new Pruner({ maxAge: { completed: 3_600_000 }, queues: { audit: { maxAge: 90 * 86_400_000 } }, maxCount: 100_000 });
 * ```
 */
export interface PrunerOptions extends PluginOptions {
  /**
   * Default: completed 1 day, cancelled and discarded 7 days. A state left out is kept. The
   * longest age of each state (over this and the per-queue rules) is honoured to the day: a job
   * goes with the whole day (UTC) it finished in, once that day ended more than the age ago, so
   * it is kept for between the age and the age plus one day. Shorter ages (a queue kept less
   * than the others) are honoured exactly, by row deletes.
   */
  readonly maxAge?: MaxAge;
  /** Per-queue rules replacing the default for that queue. */
  readonly queues?: Readonly<Record<string, { readonly maxAge?: MaxAge; readonly maxCount?: number }>>;
  /** Keep at most this many finished jobs per queue (newest first). Default: no limit. */
  readonly maxCount?: number;
  /** Rows per DELETE. Default 10,000. */
  readonly batchSize?: number;
  /** How many days of history partitions to create ahead of today (UTC). Default 2. */
  readonly daysAhead?: number;
  /**
   * VACUUM the live table at the end of a pass when dead row versions are at least 1,000 and a
   * fifth of it. Every claim and every finish leaves one behind; the live table holds only
   * unfinished jobs, so this takes milliseconds, and it keeps the table and its fetch index
   * from growing where autovacuum is off or behind. Default true.
   */
  readonly vacuumLive?: boolean;
}

const STATES: readonly PrunedState[] = ['completed', 'cancelled', 'discarded'];
const DEFAULT_AGE: Record<PrunedState, number> = { completed: 86_400_000, cancelled: 7 * 86_400_000, discarded: 7 * 86_400_000 };

function resolveAge(value: MaxAge | undefined, where: string, fallback: Record<PrunedState, number> | undefined): Map<PrunedState, number> {
  const out = new Map<PrunedState, number>();
  const check = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ConfigError(`Pruner: ${what} must be a whole number of ms >= 0, got ${String(v)}`);
    return v;
  };
  if (value === undefined) {
    for (const state of STATES) if (fallback?.[state] !== undefined) out.set(state, fallback[state]);
  } else if (typeof value === 'number') {
    for (const state of STATES) out.set(state, check(value, `${where}maxAge`));
  } else if (typeof value === 'object' && value !== null) {
    for (const [state, age] of Object.entries(value)) {
      if (!(STATES as readonly string[]).includes(state)) throw new ConfigError(`Pruner: ${where}maxAge has unknown state "${state}" (use ${STATES.join(', ')})`);
      out.set(state as PrunedState, check(age, `${where}maxAge.${state}`));
    }
  } else {
    throw new ConfigError(`Pruner: ${where}maxAge must be ms or { completed?, cancelled?, discarded? }`);
  }
  return out;
}

function count(value: unknown, where: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new ConfigError(`Pruner: ${where} must be a whole number >= 0, got ${String(value)}`);
  return value;
}

interface Rule {
  readonly ages: Map<PrunedState, number>;
  readonly maxCount: number | undefined;
}

/**
 * Deletes old finished jobs in small batches, on the leader.
 *
 * @example
 * ```ts
 * const queue = new Queue({ connection, workers, plugins: [new Pruner({ maxAge: 86_400_000 })] });
 * queue.on('jobs:pruned', ({ queue, state, count }) => metrics.add(count, { queue, state }));
 * ```
 */
export class Pruner extends Plugin {
  readonly name = 'pruner';
  readonly batchSize: number;
  readonly daysAhead: number;
  readonly vacuumLive: boolean;
  readonly #default: Rule;
  readonly #queues: ReadonlyMap<string, Rule>;
  readonly #wholeDays: ReadonlyMap<PrunedState, number>;

  constructor(options: PrunerOptions = {}) {
    super(options, 30_000);
    this.batchSize = count(options.batchSize ?? 10_000, 'batchSize')!;
    if (this.batchSize < 1 || this.batchSize > 100_000) throw new ConfigError('Pruner: batchSize must be from 1 to 100,000');
    this.daysAhead = count(options.daysAhead ?? 2, 'daysAhead')!;
    if (this.daysAhead > 31) throw new ConfigError('Pruner: daysAhead must be from 0 to 31');
    if (options.vacuumLive !== undefined && typeof options.vacuumLive !== 'boolean') throw new ConfigError('Pruner: vacuumLive must be a boolean');
    this.vacuumLive = options.vacuumLive ?? true;
    this.#default = { ages: resolveAge(options.maxAge, '', DEFAULT_AGE), maxCount: count(options.maxCount, 'maxCount') };
    const queues = new Map<string, Rule>();
    for (const [name, rule] of Object.entries(options.queues ?? {})) {
      checkQueueName(name, 'Pruner option "queues"');
      queues.set(name, {
        ages: rule.maxAge === undefined ? this.#default.ages : resolveAge(rule.maxAge, `queues.${name}.`, undefined),
        maxCount: rule.maxCount === undefined ? this.#default.maxCount : count(rule.maxCount, `queues.${name}.maxCount`),
      });
    }
    this.#queues = queues;
    // Per state, the age past which every rule lets its jobs go: the longest of the default's
    // and every queue rule's. A state that some rule keeps (no age for it) is never dropped by day.
    const wholeDays = new Map<PrunedState, number>();
    for (const state of STATES) {
      let longest = this.#default.ages.get(state);
      for (const rule of queues.values()) {
        const age = rule.ages.get(state);
        longest = longest === undefined || age === undefined ? undefined : Math.max(longest, age);
      }
      if (longest !== undefined) wholeDays.set(state, longest);
    }
    this.#wholeDays = wholeDays;
  }

  protected async tick(ctx: PluginContext): Promise<void> {
    const { engine, emit } = internals(ctx);
    const overridden = [...this.#queues.keys()];
    const limit = this.batchSize;
    // Rests `ms`, or less if the plugin is stopped meanwhile.
    const rest = (ms: number): Promise<void> => sleep(ms, undefined, { signal: ctx.signal }).catch(() => {});
    // Deletes batch after batch until a short one; each DELETE is its own short transaction.
    // Between two batches it rests as long as the last one took: a backlog (a big history
    // pruned for the first time) takes at most half of a backend's time, and the live work
    // (fetches, acks) on a small machine keeps the rest.
    const drain = async (run: () => Promise<number>, queue: string | null, state: PrunedState | 'finished'): Promise<void> => {
      for (;;) {
        if (ctx.signal.aborted) return;
        const began = performance.now();
        const n = await run();
        if (n > 0) emit('jobs:pruned', { queue, state, count: n });
        if (n < this.batchSize) return;
        await rest(performance.now() - began);
      }
    };
    // Partition DDL gives up quickly when a lock is busy (it must not queue finishes behind it):
    // reported, and tried again next tick.
    const attempt = async (run: () => Promise<void>): Promise<void> => {
      try {
        await run();
      } catch (error) {
        if (!ctx.signal.aborted) ctx.reportError(error);
      }
    };
    await attempt(async () => void (await engine.createPartitions({ daysAhead: this.daysAhead })));
    const wholeDays = this.#wholeDays;
    for (const [state, age] of wholeDays) {
      if (ctx.signal.aborted) return;
      await attempt(async () => {
        const n = await engine.dropPartitions({ state, ageMs: age });
        if (n > 0) emit('jobs:pruned', { queue: null, state, count: n });
      });
    }
    // Row deletes only where whole days cannot serve a rule: an age shorter than the state's
    // whole-day age (a rule keeping less than another), and rows of days with no partition.
    const where = (state: PrunedState, age: number): 'history' | 'default-partition' =>
      wholeDays.get(state) === age ? 'default-partition' : 'history';
    for (const [state, age] of this.#default.ages) {
      await drain(() => engine.pruneByAge({ state, ageMs: age, queue: null, excluded: overridden, limit, where: where(state, age) }), null, state);
    }
    for (const [queue, rule] of this.#queues) {
      for (const [state, age] of rule.ages) {
        await drain(() => engine.pruneByAge({ state, ageMs: age, queue, excluded: [], limit, where: where(state, age) }), queue, state);
      }
    }
    const counted = new Map<string, number>();
    if (this.#default.maxCount !== undefined) {
      for (const queue of await engine.finishedQueues()) if (!this.#queues.has(queue)) counted.set(queue, this.#default.maxCount);
    }
    for (const [queue, rule] of this.#queues) if (rule.maxCount !== undefined) counted.set(queue, rule.maxCount);
    for (const [queue, keep] of counted) {
      await drain(() => engine.pruneByCount({ queue, keep, limit }), queue, 'finished');
    }
    if (this.vacuumLive && !ctx.signal.aborted) {
      const { dead, live } = await engine.liveHealth();
      if (dead >= 1_000 && dead >= 0.2 * (dead + live)) await engine.vacuumLive();
    }
  }
}

