// Runs a Queue's plugins: every-node plugins from start() to stop(), leader plugins while this
// node holds the leader lease. Gives each a context, and the built-in plugins (Lifeline, Pruner,
// Cron) the internals they need through a registered symbol on that context, which keeps those
// internals out of the public types.
import { ConfigError } from '../definitions/errors.js';
import type { Driver } from '../driver/types.js';
import type { QueueEvents } from '../definitions/events.js';
import type { Job } from '../definitions/job.js';
import type { Logger } from '../definitions/logger.js';
import type { Queue } from '../queue.js';
import type { PluginStatements } from '../engine/sql/cluster.js';
import type { Plugin, PluginContext } from './plugin.js';

const INTERNALS = Symbol.for('docket.plugin-internals');

/** What built-in plugins reach beyond the public context. */
export interface PluginInternals {
  readonly driver: Driver;
  readonly sql: PluginStatements;
  readonly channel: string;
  emit<E extends keyof QueueEvents>(event: E, payload: Parameters<QueueEvents[E]>[0]): void;
  /** Inserts a cron tick's job; a tick already enqueued (by any leader) is a no-op. */
  insertTick(worker: string, args: unknown, options: Record<string, unknown>, key: string): Promise<{ job: Job; duplicate: boolean }>;
}

/** The internals of a context given by a docket Queue. */
export function internals(ctx: PluginContext): PluginInternals {
  const found = (ctx as unknown as Record<symbol, PluginInternals | undefined>)[INTERNALS];
  if (found === undefined) throw new ConfigError('This plugin only runs inside a docket Queue');
  return found;
}

/** Checks the `plugins` option: Plugin instances with unique names. */
export function checkPlugins(plugins: readonly Plugin[] | undefined): readonly Plugin[] {
  if (plugins === undefined) return [];
  if (!Array.isArray(plugins)) throw new ConfigError('Queue option "plugins" must be an array of Plugin instances');
  const names = new Set<string>();
  for (const plugin of plugins) {
    if (typeof plugin?.start !== 'function' || typeof plugin.stop !== 'function' || typeof plugin.name !== 'string') {
      throw new ConfigError('Queue option "plugins" must contain Plugin instances (new Lifeline(), new Pruner(), new Cron(), ...)');
    }
    if (names.has(plugin.name)) throw new ConfigError(`Two plugins are named "${plugin.name}"; plugin names must be unique`);
    names.add(plugin.name);
  }
  return plugins;
}

/** Base of every plugin context of one Queue. */
export interface HostParts {
  readonly queue: Queue;
  readonly nodeId: string;
  readonly logger: Logger;
  readonly quotedSchema: string;
  readonly internals: PluginInternals;
  onError(plugin: string, error: unknown): void;
}

/** Starts and stops one Queue's plugins. */
export class PluginHost {
  #leaderRunning = false;
  readonly #controllers = new Map<Plugin, AbortController>();

  constructor(
    private readonly plugins: readonly Plugin[],
    private readonly parts: HostParts,
  ) {}

  get size(): number {
    return this.plugins.length;
  }

  get hasLeaderPlugins(): boolean {
    return this.plugins.some((p) => p.scope !== 'every-node');
  }

  startEveryNode(): void {
    for (const plugin of this.plugins) if (plugin.scope === 'every-node') this.#start(plugin);
  }

  startLeader(): void {
    if (this.#leaderRunning) return;
    this.#leaderRunning = true;
    for (const plugin of this.plugins) if (plugin.scope !== 'every-node') this.#start(plugin);
  }

  async stopLeader(): Promise<void> {
    if (!this.#leaderRunning) return;
    this.#leaderRunning = false;
    await Promise.all(this.plugins.filter((p) => p.scope !== 'every-node').map((p) => this.#stop(p)));
  }

  async stopAll(): Promise<void> {
    this.#leaderRunning = false;
    await Promise.all(this.plugins.map((p) => this.#stop(p)));
  }

  #start(plugin: Plugin): void {
    const controller = new AbortController();
    this.#controllers.set(plugin, controller);
    const { queue, nodeId, logger, quotedSchema, internals: inner, onError } = this.parts;
    const ctx: PluginContext = {
      queue,
      nodeId,
      logger,
      quotedSchema,
      signal: controller.signal,
      query: <R>(text: string, params: readonly unknown[] = []) =>
        inner.driver.query<R>({ name: '', text, prepare: false }, params),
      reportError: (error: unknown) => onError(plugin.name, error),
    };
    Object.defineProperty(ctx, INTERNALS, { value: inner });
    try {
      plugin.start(ctx);
    } catch (error) {
      onError(plugin.name, error);
    }
  }

  async #stop(plugin: Plugin): Promise<void> {
    this.#controllers.get(plugin)?.abort();
    this.#controllers.delete(plugin);
    try {
      await plugin.stop();
    } catch (error) {
      this.parts.onError(plugin.name, error);
    }
  }
}
