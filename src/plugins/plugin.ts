// The Plugin contract: a named piece of periodic work a Queue runs on every node or only on the
// leader. The base class owns the timer, so a plugin only writes `tick`: a failing tick is
// reported (`plugin:error`) and retried on the next one, never stops job fetching, and stop()
// waits for a tick in flight.
import { ConfigError } from '../definitions/errors.js';
import type { QueueEvents } from '../definitions/events.js';
import type { Job } from '../definitions/job.js';
import type { Logger } from '../definitions/logger.js';
import type { JobMiddleware } from '../definitions/middleware.js';
import type { MaintenanceOperations, ScheduleOperations, WorkflowOperations } from '../engine/engine.js';
import type { QueueApi } from '../queue-api.js';

/**
 * @internal What built-in plugins (Lifeline, Pruner, Cron) run beyond the public context: the
 * Engine operations they need, their events, and the cron tick insert.
 */
export interface PluginInternals {
  readonly engine: MaintenanceOperations & ScheduleOperations & Pick<WorkflowOperations, 'unsettledWorkflows' | 'forgetWorkflows' | 'applyReleases'>;
  emit<E extends keyof QueueEvents>(event: E, payload: Parameters<QueueEvents[E]>[0]): void;
  /** Inserts a cron tick's job; a tick already enqueued (by any leader) is a no-op. */
  insertTick(worker: string, args: unknown, options: Record<string, unknown>, key: string): Promise<{ job: Job; duplicate: boolean }>;
  /** Settles these workflows (failure policies, release, finish, events); how many ended. */
  settleWorkflows(ids: readonly string[]): Promise<number>;
}

/**
 * What a plugin gets when it starts.
 *
 * @example
 * ```ts
 * class Vacuum extends Plugin {
 *   readonly name = 'vacuum';
 *   protected async tick(ctx: PluginContext) {
 *     await ctx.query(`VACUUM ${ctx.quotedSchema}.jobs_live`);
 *   }
 * }
 * ```
 */
export interface PluginContext {
  /** The Queue running the plugin: insert jobs, read stats, manage schedules... */
  readonly queue: QueueApi;
  readonly nodeId: string;
  readonly logger: Logger;
  /** docket's schema, quoted for use in SQL. */
  readonly quotedSchema: string;
  /** Aborted when the plugin is stopped (leadership lost, or the queue stops). */
  readonly signal: AbortSignal;
  /** Runs one SQL statement (with `$1`-style parameters) on docket's connection. */
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
  /** Reports a failure: logged and emitted as `plugin:error`; the plugin carries on. */
  reportError(error: unknown): void;
  /** @internal Given to every plugin; only docket's built-in plugins use it. */
  readonly internal?: PluginInternals;
}

/** Where a plugin runs. */
export type PluginScope = 'leader' | 'every-node';

/**
 * Options every plugin takes.
 *
 * @example
 * ```ts
 * new Pruner({ interval: 60_000 });
 * ```
 */
export interface PluginOptions {
  /** ms between two ticks. */
  readonly interval?: number;
}

/**
 * Base class of plugins. Subclasses set `name`, optionally `scope` (default `'leader'`), and
 * implement `tick`; options are checked in the constructor (a {@link ConfigError} when bad).
 *
 * @example
 * ```ts
 * class Reporter extends Plugin {
 *   readonly name = 'reporter';
 *   override readonly scope = 'every-node';
 *   constructor() { super({ interval: 10_000 }); }
 *   protected async tick(ctx: PluginContext) {
 *     const stats = await ctx.queue.queueStats();
 *     ctx.logger.info('queues', { stats });
 *   }
 * }
 * const queue = new Queue({ connection, workers, plugins: [new Reporter()] });
 * ```
 */
export abstract class Plugin {
  /** Unique among a Queue's plugins. */
  abstract readonly name: string;
  /** `'leader'`: only on the node holding the leader lease; `'every-node'`: on every node. */
  readonly scope: PluginScope = 'leader';
  /** ms between two ticks. */
  readonly interval: number;
  /**
   * Middleware this plugin brings (see {@link JobMiddleware}): the Queue collects it when
   * constructed, so it runs on every insert and attempt of that Queue, started or not.
   */
  readonly middleware?: JobMiddleware;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #controller: AbortController | undefined;

  protected constructor(options: PluginOptions = {}, defaultInterval = 1000) {
    const interval = options.interval ?? defaultInterval;
    if (typeof interval !== 'number' || !Number.isInteger(interval) || interval < 10 || interval > 86_400_000) {
      throw new ConfigError(`${new.target.name}: interval must be a whole number of ms from 10 to 86,400,000, got ${String(interval)}`);
    }
    this.interval = interval;
  }

  /** One round of the plugin's work. Throwing reports the error; the next tick runs anyway. */
  protected abstract tick(ctx: PluginContext): Promise<void>;

  /** Whether the plugin is started. */
  get started(): boolean {
    return this.#controller !== undefined;
  }

  /**
   * Starts ticking: the first tick at once, then every `interval` ms after the previous one
   * ended, until stop() or until `ctx.signal` aborts. Tick failures go to `ctx.reportError`.
   */
  start(ctx: PluginContext): void {
    if (this.#controller !== undefined) return;
    const controller = new AbortController();
    this.#controller = controller;
    const stopped = (): boolean => controller.signal.aborted || ctx.signal.aborted;
    const loop = (): void => {
      if (stopped()) return;
      // A tick that throws synchronously is reported like a rejected one.
      let tick: Promise<void>;
      try {
        tick = Promise.resolve(this.tick(ctx));
      } catch (error) {
        tick = Promise.reject(error);
      }
      this.#running = tick
        .catch((error: unknown) => {
          if (!stopped()) ctx.reportError(error);
        })
        .finally(() => {
          this.#running = undefined;
          if (!stopped()) this.#timer = setTimeout(loop, this.interval);
        });
    };
    loop();
  }

  /** Stops ticking and waits for a tick in flight. Idempotent. */
  async stop(): Promise<void> {
    const controller = this.#controller;
    if (controller === undefined) return;
    controller.abort();
    clearTimeout(this.#timer);
    await this.#running;
    this.#controller = undefined;
  }
}
