// One producer per queue on this node: keeps up to `limit` jobs running. Every wake path (NOTIFY,
// a finished job, the poll timer, a reconnect) calls dispatch(); dispatches coalesce into one
// fetch at a time, each claiming what is free in one statement.
//
// Prefetch: while the jobs of this queue are short (their average run time is under
// SHORT_JOB_MS), a fetch also claims jobs beyond the free slots and keeps them in a local buffer,
// about PREFETCH_MS worth of work, refilled when half of it is left. Short jobs otherwise wait on
// the fetch round trip more than they run. Long jobs never prefetch, so they are not held back
// from idle nodes; buffered jobs still unstarted at stop() are handed back.
//
// A buffer is a bet that a slot frees soon. While it holds jobs, a watchdog checks every
// PREFETCH_MS whether the bet still holds and hands the whole buffer back when it does not: its
// oldest job waited STALE_BUFFER_MS, or every slot is busy with a job that has already run longer
// than PREFETCH_MS (nothing suggests a slot frees within the buffer's budget). It does not wait
// for a job to finish or for the poll timer: a node whose slots are all taken by long jobs must
// not sit on hundreds of claimed jobs that idle nodes could run. While every slot holds a job
// older than SHORT_JOB_MS, the queue claims nothing beyond its free slots (the average run time
// only learns from finished jobs); the longer threshold for handing back keeps a queue of mixed
// short jobs from releasing and re-claiming its buffer over and over.
//
// Limited queues (partitions, a rate limit) fetch through a serialized statement and never
// prefetch: buffered jobs would hold partition slots and rate budget they may not use.
// Paused producers fetch nothing; scaling changes the limit at once.
import type { FetchedJob } from '../engine/types.js';
import { backoffDelay } from '../definitions/backoff.js';

/** Claims up to `demand` jobs; `waitMs`: the rate limit frees more only after this long. */
export type Fetcher = (demand: number) => Promise<{ readonly jobs: FetchedJob[]; readonly waitMs: number | null }>;

/** What a producer needs from the queue around it. */
export interface ProducerHooks {
  /** Runs a claimed job; resolves when its slot is free again. */
  execute(fetched: FetchedJob): Promise<void>;
  /** Hands claimed jobs that never started back to the queue. */
  release(jobs: readonly FetchedJob[]): void;
  /** Whether this node claims nothing for now (its outcomes are not being written). */
  held(): boolean;
  onError(error: unknown): void;
}

/** Options of one producer. */
export interface ProducerOptions {
  readonly queue: string;
  readonly limit: number;
  readonly pollInterval: number;
  /** Partitions or a rate limit apply: no prefetch. */
  readonly limited: boolean;
}

/** Average run time (ms) under which a queue prefetches. */
const SHORT_JOB_MS = 25;
/** How long (ms) the buffer should keep every slot busy; bounds how long a job waits in it. */
const PREFETCH_MS = 100;
const MAX_PREFETCH = 500;
/** A buffer whose oldest job waited this long (ms) is handed back: the jobs were not short after all. */
const STALE_BUFFER_MS = 4 * PREFETCH_MS;

interface Buffered {
  readonly fetched: FetchedJob;
  readonly receivedAt: number;
}

// Ids are decimal strings without leading zeros: shorter is smaller, then compare as text.
function byFetchOrder(a: FetchedJob, b: FetchedJob): number {
  return (
    a.job.priority - b.job.priority ||
    a.job.scheduledAt.getTime() - b.job.scheduledAt.getTime() ||
    a.job.id.length - b.job.id.length ||
    (a.job.id < b.job.id ? -1 : 1)
  );
}

/** Fetches and starts jobs of one queue. */
export class Producer {
  #buffer: Buffered[] = [];
  #avgRunMs: number | undefined;
  #fetching = false;
  #again = false;
  #stopped = false;
  #failures = 0;
  #scheduled = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #rateTimer: NodeJS.Timeout | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #inflight: Promise<unknown> = Promise.resolve();
  #paused = false;
  #limit: number;
  /** Start time (performance.now()) of each running job, by a per-start token; its size is how many run. */
  readonly #runningSince = new Map<number, number>();
  #starts = 0;

  constructor(
    private readonly fetcher: Fetcher,
    private readonly options: ProducerOptions,
    private readonly hooks: ProducerHooks,
  ) {
    this.#limit = options.limit;
  }

  get running(): number {
    return this.#runningSince.size;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Jobs that may run at once on this node now. */
  get limit(): number {
    return this.#limit;
  }

  /**
   * Stops fetching (running jobs finish) and hands buffered jobs back; with `false`, fetches
   * again.
   */
  setPaused(paused: boolean): void {
    if (paused === this.#paused) return;
    this.#paused = paused;
    if (paused) this.#releaseBuffer();
    else this.dispatch();
  }

  /** Changes how many jobs may run at once here; running jobs above a lower limit finish. */
  setLimit(limit: number): void {
    if (limit === this.#limit) return;
    this.#limit = limit;
    if (this.#buffer.length > limit) this.#releaseBuffer();
    this.#startBuffered();
    this.dispatch();
  }

  start(): void {
    this.#poll();
    this.dispatch();
  }

  /**
   * Stops fetching; resolves once a fetch in flight has returned, with the claimed jobs that
   * never started (the caller hands them back to the queue).
   */
  async stop(): Promise<FetchedJob[]> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#rateTimer);
    clearTimeout(this.#pollTimer);
    clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
    await this.#inflight;
    const unstarted = this.#buffer.map((b) => b.fetched);
    this.#buffer = [];
    return unstarted;
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
      this.#trimBuffer();
      this.dispatch();
      this.#poll();
    }, this.options.pollInterval * jitter);
  }

  // Enough buffered jobs to keep every slot busy for about PREFETCH_MS, at most MAX_PREFETCH.
  get #prefetch(): number {
    // The average only learns from finished jobs: slots held by long jobs say more.
    if (!this.#short || this.#slotsBusyFor(SHORT_JOB_MS)) return 0;
    const avg = this.#avgRunMs!;
    const limit = this.#limit;
    return Math.min(MAX_PREFETCH, Math.max(limit, Math.floor((limit * PREFETCH_MS) / Math.max(avg, 0.1))));
  }

  async #fetch(): Promise<void> {
    if (this.#stopped || this.#paused || this.#retryTimer !== undefined || this.#rateTimer !== undefined) return;
    if (this.hooks.held()) return;
    if (this.#fetching) {
      this.#again = true;
      return;
    }
    const prefetch = this.#prefetch;
    const free = this.#limit - this.#runningSince.size;
    // Nothing to do while every slot is busy and the buffer is more than half full.
    if (free <= this.#buffer.length && this.#buffer.length > prefetch / 2) return;
    const demand = free + prefetch - this.#buffer.length;
    if (demand <= 0) return;
    this.#fetching = true;
    this.#again = false;
    let fetched: FetchedJob[];
    let waitMs: number | null;
    try {
      const request = this.fetcher(demand);
      this.#inflight = request.catch(() => undefined);
      ({ jobs: fetched, waitMs } = await request);
      this.#failures = 0;
    } catch (error) {
      this.#fetching = false;
      this.hooks.onError(error);
      if (this.#stopped) return;
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        this.dispatch();
      }, backoffDelay(this.#failures++));
      return;
    }
    this.#fetching = false;
    const receivedAt = performance.now();
    for (const job of fetched.sort(byFetchOrder)) this.#buffer.push({ fetched: job, receivedAt });
    // Paused (or stopped) while the fetch was in flight: what it claimed goes back.
    if (this.#paused && !this.#stopped) this.#releaseBuffer();
    this.#startBuffered();
    this.#armWatchdog();
    if (waitMs !== null && !this.#stopped) {
      // The rate limit held jobs back: nothing more until the window frees a slot.
      this.#rateTimer = setTimeout(() => {
        this.#rateTimer = undefined;
        this.dispatch();
      }, Math.ceil(waitMs));
      return;
    }
    // A full batch means more may be waiting; a wake during the fetch may have been for new jobs.
    if (fetched.length === demand || this.#again) this.dispatch();
  }

  #releaseBuffer(): void {
    if (this.#buffer.length === 0) return;
    const released = this.#buffer.map((b) => b.fetched);
    this.#buffer = [];
    this.hooks.release(released);
  }

  /** Whether this queue's jobs count as short (average under SHORT_JOB_MS), so it may prefetch. */
  get #short(): boolean {
    const avg = this.#avgRunMs;
    return avg !== undefined && avg < SHORT_JOB_MS && !this.options.limited && this.#limit > 0;
  }

  /** Whether every slot is busy with a job that has run for more than `ms`. */
  #slotsBusyFor(ms: number): boolean {
    if (this.#runningSince.size === 0 || this.#runningSince.size < this.#limit) return false;
    const since = performance.now() - ms;
    for (const started of this.#runningSince.values()) if (started >= since) return false;
    return true;
  }

  // A queue whose jobs turn slow (or mix fast and slow workers) must not sit on a buffer while
  // other nodes idle: once prefetching stops paying, buffered jobs go back for anyone to take.
  #trimBuffer(): void {
    if (this.#buffer.length === 0 || this.#stopped) return;
    const stale = performance.now() - this.#buffer[0]!.receivedAt > STALE_BUFFER_MS;
    if (!stale && this.#short && !this.#slotsBusyFor(PREFETCH_MS)) return;
    this.#releaseBuffer();
  }

  // Checks the buffer every PREFETCH_MS while it holds jobs (see the header): no job has to
  // finish, and no poll has to come, for a buffer that stopped paying to go back.
  #armWatchdog(): void {
    if (this.#watchdog !== undefined || this.#buffer.length === 0 || this.#stopped) return;
    this.#watchdog = setTimeout(() => {
      this.#watchdog = undefined;
      this.#trimBuffer();
      this.#armWatchdog();
    }, PREFETCH_MS);
  }

  #startBuffered(): void {
    while (this.#runningSince.size < this.#limit && this.#buffer.length > 0 && !this.#stopped && !this.#paused) {
      const { fetched, receivedAt } = this.#buffer.shift()!;
      const started = performance.now();
      const token = this.#starts++;
      this.#runningSince.set(token, started);
      this.hooks
        .execute({ job: fetched.job, claim: fetched.claim, queueMs: fetched.queueMs + (started - receivedAt) })
        .catch((error: unknown) => this.hooks.onError(error))
        .finally(() => {
          this.#runningSince.delete(token);
          const ms = performance.now() - started;
          this.#avgRunMs = this.#avgRunMs === undefined ? ms : this.#avgRunMs * 0.8 + ms * 0.2;
          this.#trimBuffer();
          this.#startBuffered();
          this.dispatch();
        });
    }
  }
}
