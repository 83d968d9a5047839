// Node heartbeats: a running Queue records itself (id, host, pid, queues, started_at) and its
// last beat, by the database clock, every interval. Lifeline rescues the jobs of nodes whose
// beat went stale; a node that stops cleanly removes its row. Each beat also compares this
// process's clock with the database's: docket schedules, locks and rescues by the database
// clock only, so a skewed node works correctly, but its own timestamps (logs, events) would
// mislead, and that is worth a warning.
import { hostname } from 'node:os';
import type { Engine } from '../engine/engine.js';
import type { Logger } from '../definitions/logger.js';

/** Beats for one node. */
export class Heartbeat {
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #inflight: Promise<void> | undefined;

  /** The skew last warned about (ms), or undefined while the clocks agree. */
  #warnedSkew: number | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly nodeId: string,
    private readonly queues: () => Record<string, number>,
    private readonly interval: number,
    private readonly onError: (error: unknown) => void,
    private readonly logger: Pick<Logger, 'warn' | 'info'>,
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
        const sent = Date.now();
        const dbNow = await this.engine.heartbeat({ nodeId: this.nodeId, host: hostname(), pid: process.pid, queues: this.queues() });
        this.#checkClock(sent, Date.now(), dbNow);
      } catch (error) {
        this.onError(error);
      } finally {
        this.#inflight = undefined;
        if (!this.#stopped) this.#timer = setTimeout(() => void this.#beat(), this.interval);
      }
    })();
    await this.#inflight;
  }

  // The database read its clock between `sent` and `received` by ours: the skew is known to
  // within half the round trip, which is taken off before comparing with the bound. A warning
  // when the skew first passes the bound or moves by more than it (a jump); a note when it ends.
  #checkClock(sent: number, received: number, dbNow: number): void {
    const uncertainty = (received - sent) / 2;
    const skew = Math.round((sent + received) / 2 - dbNow);
    const skewed = Math.abs(skew) - uncertainty > MAX_CLOCK_SKEW_MS;
    if (skewed && (this.#warnedSkew === undefined || Math.abs(skew - this.#warnedSkew) > MAX_CLOCK_SKEW_MS)) {
      this.#warnedSkew = skew;
      this.logger.warn(
        `docket: this node's clock is ${Math.abs(skew)} ms ${skew > 0 ? 'ahead of' : 'behind'} the database's; scheduling, locks and rescue use the database clock, but this node's own timestamps (logs, events) are off by that much`,
        { nodeId: this.nodeId, skewMs: skew },
      );
    } else if (!skewed && this.#warnedSkew !== undefined) {
      this.#warnedSkew = undefined;
      this.logger.info("docket: this node's clock agrees with the database's again", { nodeId: this.nodeId, skewMs: skew });
    }
  }
}

/** Skew between a node's clock and the database's beyond which the node warns (ms). */
export const MAX_CLOCK_SKEW_MS = 5_000;
