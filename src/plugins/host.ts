// Runs a Queue's plugins: every-node plugins from start() to stop(), leader plugins while this
// node holds the leader lease. Gives each a context: the public part (the QueueApi, a logger,
// `query` for the plugin's own tables) and, for the built-in plugins, the Engine operations they
// run (`ctx.internal`, stripped from the published types). No plugin gets the driver.
import { ConfigError } from '../definitions/errors.js';
import type { Logger } from '../definitions/logger.js';
import type { Engine } from '../engine/engine.js';
import type { QueueApi } from '../queue-api.js';
import type { Plugin, PluginContext, PluginInternals } from './plugin.js';

export type { PluginInternals } from './plugin.js';

/** The internals of a context given by a docket Queue (built-in plugins only). */
export function internals(ctx: PluginContext): PluginInternals {
  const found = ctx.internal;
  if (found === undefined) throw new ConfigError('This plugin only runs inside a docket Queue');
  return found;
}

/** Base of every plugin context of one Queue. */
export interface HostParts {
  readonly queue: QueueApi;
  readonly engine: Engine;
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
    const { queue, engine, nodeId, logger, quotedSchema, internals: internal, onError } = this.parts;
    const ctx: PluginContext = {
      queue,
      nodeId,
      logger,
      quotedSchema,
      signal: controller.signal,
      query: <R>(text: string, params: readonly unknown[] = []) => engine.query<R>({ text, params }),
      reportError: (error: unknown) => onError(plugin.name, error),
      internal,
    };
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
