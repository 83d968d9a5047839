// Node heartbeats: a running Queue records itself (id, host, pid, queues, started_at) and its
// last beat, by the database clock, every interval. Lifeline rescues the jobs of nodes whose
// beat went stale; a node that stops cleanly removes its row.
import { hostname } from 'node:os';
import type { Engine } from '../engine/engine.js';

/** Beats for one node. */
export class Heartbeat {
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #inflight: Promise<void> | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly nodeId: string,
    private readonly queues: () => Record<string, number>,
    private readonly interval: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Records the node now (so it is known before its first job), then beats on a timer. */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.#beat();
  }

  /** Stops beating and, with `remove`, deletes the node's row. */
  async stop(remove: boolean): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#inflight;
    if (!remove) return;
    try {
      await this.engine.removeNode({ nodeId: this.nodeId });
    } catch (error) {
      // The row goes stale and Lifeline forgets it later.
      this.onError(error);
    }
  }

  async #beat(): Promise<void> {
    this.#inflight = (async () => {
      try {
        await this.engine.heartbeat({ nodeId: this.nodeId, host: hostname(), pid: process.pid, queues: this.queues() });
      } catch (error) {
        this.onError(error);
      } finally {
        this.#inflight = undefined;
        if (!this.#stopped) this.#timer = setTimeout(() => void this.#beat(), this.interval);
      }
    })();
    await this.#inflight;
  }
}
