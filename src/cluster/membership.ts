// This node's part in the cluster: its heartbeat row, the leader lease, and the plugins (every
// node's from start to stop, the leader's while it leads). Starting order: heartbeat (so the
// node is known before it claims anything), every-node plugins, then the lease. Stopping is the
// reverse, and the heartbeat row is removed only when every outcome was written: otherwise it
// is left to go stale, so Lifeline rescues the unwritten jobs within seconds.
import type { ResolvedConfig } from '../config/config.js';
import type { Driver } from '../driver/types.js';
import type { PluginInternals } from '../plugins/host.js';
import { PluginHost } from '../plugins/host.js';
import type { Queue } from '../queue.js';
import type { PluginStatements } from '../engine/sql/cluster.js';
import { Heartbeat } from './heartbeat.js';
import { Leadership } from './leadership.js';

/** What the cluster needs from its Queue beyond the Queue itself. */
export interface ClusterHooks {
  readonly insertTick: PluginInternals['insertTick'];
  /** This node's queues and their limits, for its heartbeat row. */
  queues(): Record<string, number>;
  onError(error: unknown, context: string): void;
}

/** Heartbeat, leadership and plugins of one Queue. */
export class Cluster {
  readonly #heartbeat: Heartbeat;
  readonly #leadership: Leadership;
  readonly #host: PluginHost;
  #leaderChange: Promise<void> = Promise.resolve();

  constructor(config: ResolvedConfig, driver: Driver, sql: PluginStatements, queue: Queue, hooks: ClusterHooks) {
    const emitter = queue;
    const { onError } = hooks;
    this.#host = new PluginHost(config.plugins, {
      queue,
      nodeId: config.nodeId,
      logger: config.logger,
      quotedSchema: config.quotedSchema,
      onError: (plugin, error) => {
        config.logger.warn(`docket: plugin ${plugin} failed; it runs again on its next tick`, { error });
        emitter.emit('plugin:error', { plugin, error });
      },
      internals: {
        driver,
        sql,
        channel: config.channel,
        emit: (event, payload) => (emitter.emit as (e: string, p: unknown) => boolean)(event, payload),
        insertTick: hooks.insertTick,
      },
    });
    this.#heartbeat = new Heartbeat(driver, sql, config.nodeId, hooks.queues, config.heartbeatInterval, (e) => onError(e, 'heartbeat'));
    this.#leadership = new Leadership(driver, sql, config.nodeId, config.leaseTtl, config.channel, {
      elected: () => {
        // Leader plugins start and stop in order, never overlapping a previous stop.
        this.#leaderChange = this.#leaderChange.then(() => this.#host.startLeader());
        emitter.emit('leader:elected', { nodeId: config.nodeId });
      },
      lost: (reason) => {
        this.#leaderChange = this.#leaderChange.then(() => this.#host.stopLeader());
        emitter.emit('leader:lost', { nodeId: config.nodeId, reason });
      },
      onError: (e) => onError(e, 'leader lease'),
    });
  }

  get isLeader(): boolean {
    return this.#leadership.isLeader;
  }

  async start(): Promise<void> {
    await this.#heartbeat.start();
    this.#host.startEveryNode();
    // Only nodes that would run leader plugins compete for the lease: a node without them
    // could win it and leave Cron or Lifeline running nowhere.
    if (this.#host.hasLeaderPlugins) this.#leadership.start();
  }

  /** The leader released its lease: try to take it now. */
  released(): void {
    this.#leadership.released();
  }

  /** Stops plugins and releases the lease (first, while the queue can still write). */
  async stopPlugins(): Promise<void> {
    // Plugins first, so a new leader never overlaps this one's last tick; then the lease goes.
    await this.#host.stopAll();
    await this.#leadership.stop();
    await this.#leaderChange;
  }

  /** Stops the heartbeat; removes the node's row only when nothing is left unwritten. */
  async stopHeartbeat(allWritten: boolean): Promise<void> {
    await this.#heartbeat.stop(allWritten);
  }
}
