// Cluster-wide job updates (`jobEvents`): what happens to a job on this node (started, progress,
// finished, retried, rescued; an operator's action) is announced on the schema's job updates
// channel, batched into as few NOTIFYs as fit, one round trip per flush; and any node can follow
// any job (`watch`) or every job (`watchJobs`), through a LISTEN of its own that is open only
// while someone follows. An announcement is a hint, never the truth: it travels after the change
// committed, can be lost (a node that crashed before its flush, a pooler that drops NOTIFY) and
// anyone who can reach the database can send one, so `watch` reads the job at its start, again
// when nothing was heard for `recheckInterval`, and before it ends on a final update.
import type { SafeEmitter } from '../definitions/events.js';
import type { Job } from '../definitions/job.js';
import type { JobUpdate, JobUpdateKind, WatchOptions } from '../definitions/job-update.js';
import { isFinalUpdate } from '../definitions/job-update.js';
import { checkInt } from '../definitions/worker.js';
import type { Engine } from '../engine/engine.js';
import { encodeJobUpdates, parseJobUpdates } from '../engine/notice.js';
import type { NoticeSubscription } from '../engine/types.js';

/** What job updates need from the Queue around them. */
export interface JobEventsHooks {
  getJob(id: string): Promise<Job | null>;
  onError(error: unknown, context: string): void;
}

interface Follower {
  readonly accepts: (u: JobUpdate) => boolean;
  readonly buffer: JobUpdate[];
  wake: (() => void) | undefined;
}

// Batching window: updates of a busy node leave together, a lone one within a few ms.
const FLUSH_AFTER_MS = 5;

/** A job as a snapshot update. */
export function snapshotOf(job: Job): JobUpdate {
  return {
    id: job.id,
    queue: job.queue,
    worker: job.worker,
    state: job.state,
    attempt: job.attempt,
    kind: 'snapshot',
    progress: job.lastProgress,
    error: job.errors.at(-1)?.message ?? null,
    nodeId: null,
  };
}

/** Announces this node's job updates and follows the cluster's. */
export class JobEvents {
  #pending: JobUpdate[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  readonly #followers = new Set<Follower>();
  #subscription: NoticeSubscription | undefined;
  /** Resolves when the current subscription's LISTEN is in place. */
  #listening: Promise<void> = Promise.resolve();
  #closing: Promise<void> = Promise.resolve();
  #detach: (() => void) | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly nodeId: string,
    private readonly hooks: JobEventsHooks,
  ) {}

  /** Announces what the queue's events tell of jobs on this node (until detached). */
  attach(events: SafeEmitter): void {
    if (this.#detach !== undefined) return;
    const on = (kind: JobUpdateKind, error: (e: never) => string | null = () => null) =>
      (e: { job: Job }): void => this.announce(kind, e.job, error(e as never));
    const handlers = {
      'job:start': on('start'),
      'job:complete': on('complete'),
      'job:retry': on('retry', (e: { error: { message: string } }) => e.error.message),
      'job:snooze': on('snooze'),
      'job:cancel': on('cancel', (e: { reason: string }) => e.reason),
      'job:discard': on('discard', (e: { reason: string }) => e.reason),
      'job:rescue': on('rescue', (e: { job: Job }) => e.job.errors.at(-1)?.message ?? null),
      'job:progress': (e: { job: Job }) => this.announce('progress', e.job, null),
    } as const;
    for (const [event, fn] of Object.entries(handlers)) events.on(event as 'job:start', fn as never);
    this.#detach = () => {
      for (const [event, fn] of Object.entries(handlers)) events.off(event as 'job:start', fn as never);
    };
  }

  /** Queues one update of `job` for the next flush. */
  announce(kind: JobUpdateKind, job: Job, error: string | null, state: JobUpdate['state'] = job.state): void {
    this.#pending.push({
      id: job.id,
      queue: job.queue,
      worker: job.worker,
      state,
      attempt: job.attempt,
      kind,
      progress: kind === 'progress' ? job.lastProgress : null,
      error,
      nodeId: this.nodeId,
    });
    this.#timer ??= setTimeout(() => void this.flush(), FLUSH_AFTER_MS);
  }

  /** Sends what is pending (one round trip, after any flush in flight); failures are reported, never thrown. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const updates = this.#pending;
    if (updates.length === 0) return this.#flushing;
    this.#pending = [];
    this.#flushing = this.#flushing.then(() =>
      this.engine.announceJobs({ payloads: encodeJobUpdates(updates) }).catch((error: unknown) => this.hooks.onError(error, 'announce job updates')),
    );
    return this.#flushing;
  }

  /** Stops announcing, sends what is pending, and ends every follower's LISTEN. */
  async close(): Promise<void> {
    this.#detach?.();
    this.#detach = undefined;
    await this.flush();
    for (const follower of this.#followers) follower.wake?.();
    this.#followers.clear();
    await this.#unsubscribe();
  }

  /** The updates of one job, from a snapshot to a final state (see QueueApi.watch). */
  async *watch(id: string, options: WatchOptions = {}): AsyncGenerator<JobUpdate, void, undefined> {
    const recheck = checkRecheck(options.recheckInterval);
    const follower = this.#follow((u) => u.id === id);
    const aborted = (): boolean => options.signal?.aborted === true;
    try {
      // Read the job once LISTEN is in place, so no update between the read and it goes unheard
      // (bounded: when LISTEN cannot connect, the rechecks still end the watch).
      await Promise.race([this.#listening, new Promise((resolve) => setTimeout(resolve, recheck).unref())]);
      const job = await this.hooks.getJob(id);
      if (job === null) return;
      let last = snapshotOf(job);
      yield last;
      while (!isFinalUpdate(last) && !aborted()) {
        const update = await this.#next(follower, recheck, options.signal);
        if (aborted()) return;
        if (update !== undefined && !isFinalUpdate(update)) {
          last = update;
          yield update;
          continue;
        }
        // Nothing heard for a while, or an end announced: the database decides.
        const now = await this.hooks.getJob(id);
        const read: JobUpdate = now === null ? { ...last, kind: 'deleted', state: 'deleted', progress: null, nodeId: null } : snapshotOf(now);
        if (update !== undefined && read.state === update.state) {
          last = update;
          yield update;
        } else if (read.state !== last.state || read.attempt !== last.attempt || now === null) {
          last = read;
          yield read;
        }
      }
    } finally {
      this.#unfollow(follower);
    }
  }

  /** Every update announced in the cluster, optionally of one queue or worker, until aborted. */
  async *watchAll(filter: { readonly queue?: string; readonly worker?: string }, options: WatchOptions = {}): AsyncGenerator<JobUpdate, void, undefined> {
    const follower = this.#follow((u) => (filter.queue === undefined || u.queue === filter.queue) && (filter.worker === undefined || u.worker === filter.worker));
    try {
      while (options.signal?.aborted !== true) {
        const update = await this.#next(follower, 3_600_000, options.signal);
        if (update !== undefined) yield update;
      }
    } finally {
      this.#unfollow(follower);
    }
  }

  #follow(accepts: (u: JobUpdate) => boolean): Follower {
    const follower: Follower = { accepts, buffer: [], wake: undefined };
    this.#followers.add(follower);
    if (this.#subscription === undefined) {
      let connected: () => void = () => undefined;
      this.#listening = new Promise((resolve) => (connected = resolve));
      this.#subscription = this.engine.listenJobs({
        onNotice: (payload) => this.#deliver(payload),
        // (Re)connected: what was announced meanwhile is lost; every watch reads its job again.
        onConnect: () => {
          connected();
          for (const f of this.#followers) f.wake?.();
        },
        onError: (error) => this.hooks.onError(error, 'listen for job updates'),
      });
    }
    return follower;
  }

  #unfollow(follower: Follower): void {
    this.#followers.delete(follower);
    if (this.#followers.size === 0) void this.#unsubscribe();
  }

  async #unsubscribe(): Promise<void> {
    const subscription = this.#subscription;
    this.#subscription = undefined;
    if (subscription !== undefined) this.#closing = this.#closing.then(() => subscription.close()).catch((error: unknown) => this.hooks.onError(error, 'unlisten job updates'));
    await this.#closing;
  }

  #deliver(payload: string): void {
    const updates = parseJobUpdates(payload);
    for (const follower of this.#followers) {
      let woke = false;
      for (const u of updates) {
        if (!follower.accepts(u)) continue;
        follower.buffer.push(u);
        woke = true;
      }
      if (woke) follower.wake?.();
    }
  }

  /** The follower's next update; undefined after `ms` without one, on a reconnect, or when aborted. */
  #next(follower: Follower, ms: number, signal: AbortSignal | undefined): Promise<JobUpdate | undefined> {
    const ready = follower.buffer.shift();
    if (ready !== undefined || signal?.aborted === true) return Promise.resolve(ready);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        follower.wake = undefined;
        resolve(follower.buffer.shift());
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      follower.wake = done;
    });
  }
}

function checkRecheck(value: number | undefined): number {
  return value === undefined ? 5_000 : checkInt(value, 100, 3_600_000, 'watch: recheckInterval');
}
