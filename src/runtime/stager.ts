// Makes scheduled and retryable jobs available when they fall due by the database clock. One
// staging pass also reports when the next job is due, so the timer fires right then instead of
// on the next poll; every node stages (SKIP LOCKED keeps them apart) and NOTIFYs the others.
import type { Engine } from '../engine/engine.js';
import { backoffDelay } from '../definitions/backoff.js';

const BATCH = 5000;

/** What the stager tells the queue around it. */
export interface StagerHooks {
  /** Jobs of these queues just became available. */
  onStaged(queues: readonly string[]): void;
  onError(error: unknown): void;
}

/** Runs staging passes on a self-adjusting timer. */
export class Stager {
  #timer: NodeJS.Timeout | undefined;
  #dueAt = Number.POSITIVE_INFINITY;
  #running = false;
  #again = false;
  #stopped = false;
  #failures = 0;
  #inflight: Promise<void> = Promise.resolve();

  constructor(
    private readonly engine: Engine,
    private readonly pollInterval: number,
    private readonly hooks: StagerHooks,
  ) {}

  start(): void {
    this.wake(0);
  }

  /** Stops the timer; resolves once a pass in flight has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#inflight;
  }

  /** Run a pass within `inMs` (earlier timers win). */
  wake(inMs = 0): void {
    if (this.#stopped) return;
    const at = Date.now() + Math.max(0, inMs);
    if (at >= this.#dueAt) return;
    clearTimeout(this.#timer);
    this.#dueAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#dueAt = Number.POSITIVE_INFINITY;
      void this.#pass();
    }, Math.max(0, inMs));
  }

  async #pass(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    this.#again = false;
    let next = this.pollInterval;
    try {
      const request = this.engine.stageJobs({ limit: BATCH });
      this.#inflight = request.then(
        () => undefined,
        () => undefined,
      );
      const result = await request;
      this.#failures = 0;
      if (result.queues.length > 0) this.hooks.onStaged(result.queues);
      if (result.staged >= BATCH || this.#again) next = 0;
      else if (result.nextDueMs !== null) next = Math.min(next, Math.max(0, Math.ceil(result.nextDueMs)));
    } catch (error) {
      this.hooks.onError(error);
      next = backoffDelay(this.#failures++);
    } finally {
      this.#running = false;
    }
    this.wake(next);
  }
}
