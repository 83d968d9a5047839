// This node's membership in the cluster, beside the job path: its heartbeat row (Lifeline reads
// it to rescue the jobs of dead nodes) and the leader lease. Starting order: heartbeat first, so
// the node is known before it claims anything. The heartbeat row is removed at stop only when
// every outcome was written: otherwise it is left to go stale, so Lifeline rescues the unwritten
// jobs within seconds.
import type { ResolvedConfig } from '../config/config.js';
import type { Engine } from '../engine/engine.js';
import { Heartbeat } from './heartbeat.js';
import { Leadership } from './leadership.js';

/** What membership tells the node around it. */
export interface MembershipHooks {
  /** This node's queues and their limits, for its heartbeat row. */
  queues(): Record<string, number>;
  /** This node became the leader. */
  elected(): void;
  /** This node stopped being the leader. */
  lost(reason: string): void;
  onError(error: unknown, context: string): void;
}

/** Heartbeat and leadership of one node. */
export class Membership {
  readonly #heartbeat: Heartbeat;
  readonly #leadership: Leadership;

  constructor(config: ResolvedConfig, engine: Engine, hooks: MembershipHooks) {
    this.#heartbeat = new Heartbeat(engine, config.nodeId, hooks.queues, config.heartbeatInterval, (e) => hooks.onError(e, 'heartbeat'), config.logger);
    this.#leadership = new Leadership(engine, config.nodeId, config.leaseTtl, {
      elected: () => hooks.elected(),
      lost: (reason) => hooks.lost(reason),
      onError: (e) => hooks.onError(e, 'leader lease'),
    });
  }

  get isLeader(): boolean {
    return this.#leadership.isLeader;
  }

  /** Records the node (its first beat), then beats on a timer. */
  async start(): Promise<void> {
    await this.#heartbeat.start();
  }

  /** Competes for the leader lease (only nodes with leader plugins do). */
  compete(): void {
    this.#leadership.start();
  }

  /** The leader released its lease: try to take it now. */
  released(): void {
    this.#leadership.released();
  }

  /** Stops competing; a leader steps down and releases the lease at once. */
  async stopLeadership(): Promise<void> {
    await this.#leadership.stop();
  }

  /** Stops the heartbeat; removes the node's row only when nothing is left unwritten. */
  async stopHeartbeat(allWritten: boolean): Promise<void> {
    await this.#heartbeat.stop(allWritten);
  }
}
