// One producer per queue on this node: keeps up to `limit` jobs running. Every wake path (NOTIFY,
// a finished job, the poll timer, a reconnect) calls dispatch(); dispatches coalesce into one
// fetch at a time, each claiming `limit - running` jobs in one statement.
import type { Engine, FetchedJob } from '../engine.js';
import { backoffDelay } from '../driver/types.js';

/** What a producer needs from the queue around it. */
export interface ProducerHooks {
  /** Runs a claimed job; resolves when its slot is free again. */
  execute(fetched: FetchedJob): Promise<void>;
  onError(error: unknown): void;
}

/** Options of one producer. */
export interface ProducerOptions {
  readonly queue: string;
  readonly limit: number;
  readonly nodeId: string;
  readonly pollInterval: number;
}

/** Fetches and starts jobs of one queue. */
export class Producer {
  #running = 0;
  #fetching = false;
  #again = false;
  #stopped = false;
  #failures = 0;
  #scheduled = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #inflight: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly engine: Engine,
    private readonly options: ProducerOptions,
    private readonly hooks: ProducerHooks,
  ) {}

  get running(): number {
    return this.#running;
  }

  start(): void {
    this.#poll();
    this.dispatch();
  }

  /** Stops fetching; resolves once a fetch in flight has returned (its jobs are then running). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#pollTimer);
    await this.#inflight;
  }

  /** Asks for a fetch soon; many calls in one turn become one fetch. */
  dispatch(): void {
    if (this.#stopped || this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#fetch();
    });
  }

  // Polling backs up every wake path: a missed notification costs at most one interval.
  #poll(): void {
    if (this.#stopped) return;
    const jitter = 0.9 + Math.random() * 0.2;
    this.#pollTimer = setTimeout(() => {
      this.dispatch();
      this.#poll();
    }, this.options.pollInterval * jitter);
  }

  async #fetch(): Promise<void> {
    if (this.#stopped || this.#retryTimer !== undefined) return;
    if (this.#fetching) {
      this.#again = true;
      return;
    }
    const demand = this.options.limit - this.#running;
    if (demand <= 0) return;
    this.#fetching = true;
    this.#again = false;
    let fetched: FetchedJob[];
    try {
      const request = this.engine.fetchJobs(this.options.queue, demand, this.options.nodeId);
      this.#inflight = request.catch(() => undefined);
      fetched = await request;
      this.#failures = 0;
    } catch (error) {
      this.#fetching = false;
      this.hooks.onError(error);
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        this.dispatch();
      }, backoffDelay(this.#failures++));
      return;
    }
    this.#fetching = false;
    for (const job of fetched) {
      this.#running++;
      this.hooks
        .execute(job)
        .catch((error: unknown) => this.hooks.onError(error))
        .finally(() => {
          this.#running--;
          this.dispatch();
        });
    }
    // A full batch means more may be waiting; a wake during the fetch may have been for new jobs.
    if (fetched.length === demand || this.#again) this.dispatch();
  }
}
