// Batches acks: outcomes collected during one event-loop turn go out as one UPDATE. A lost
// connection (or any error that may pass later) keeps the batch and retries with capped backoff,
// so no outcome is lost; a batch the server rejects for its data is split to find the bad row,
// which is then replaced by a plain failure.
//
// Backlog: a slot frees when its outcome is queued here, not when it is written, so a node whose
// acks cannot be written (a wedged connection, a lock, a pooler that lost the reply) would go on
// claiming until the queue is empty, holding every job `executing` while its heartbeat says it
// lives (rescue never comes). Past BACKLOG_LIMIT unwritten outcomes the node claims nothing
// more (the runtime asks `backlogged` before each fetch) until half of them are written.
import type { Engine } from '../engine/engine.js';
import type { AckedRow } from '../engine/types.js';
import { backoffDelay } from '../definitions/backoff.js';
import type { PendingAck } from './outcome.js';
import { waitWithDeadline } from './deadline.js';
import { isDataError } from './data-error.js';

/** How a completer reports back to the queue. */
export interface CompleterHooks {
  /** Whether anyone needs the details of these acks' rows (for events), or just their ids. */
  detailed(batch: readonly PendingAck[]): boolean;
  /** The ack landed (`row`), or was fenced off because the job moved on (`row` undefined). */
  onAcked(ack: PendingAck, row: AckedRow | undefined): void;
  /** The database refused this ack for good (e.g. a result jsonb cannot hold). */
  onRejected(ack: PendingAck, error: unknown): void;
  onError(error: unknown): void;
  /** Outcomes reached BACKLOG_LIMIT unwritten (`true`), or were written down to half of it (`false`). */
  onBacklog(backlogged: boolean, pending: number): void;
}

const MAX_BATCH = 1000;
/** Unwritten outcomes past which the node stops claiming (two full batches: more than a round trip behind). */
export const BACKLOG_LIMIT = 2 * MAX_BATCH;

/** Collects outcomes and flushes them in batches. */
export class Completer {
  #queue: PendingAck[] = [];
  #flushing = false;
  #scheduled = false;
  #failures = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #idle: (() => void)[] = [];
  #closed = false;
  #backlogged = false;

  constructor(
    private readonly engine: Engine,
    private readonly hooks: CompleterHooks,
  ) {}

  /** Outcomes waiting to be written. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Whether the node should claim nothing more: too many outcomes wait to be written. */
  get backlogged(): boolean {
    return this.#backlogged;
  }

  push(ack: PendingAck): void {
    this.#queue.push(ack);
    if (!this.#backlogged && this.#queue.length >= BACKLOG_LIMIT) {
      this.#backlogged = true;
      this.hooks.onBacklog(true, this.#queue.length);
    }
    this.#schedule();
  }

  /** Resolves once everything pushed so far is written (or `deadline` passes). */
  async drain(deadlineMs: number): Promise<boolean> {
    if (this.#queue.length === 0 && !this.#flushing) return true;
    if (this.#retryTimer !== undefined) {
      // Stop waiting out the backoff: try now.
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
      this.#schedule();
    }
    return waitWithDeadline((done) => this.#idle.push(done), deadlineMs);
  }

  /** Stops retrying (the queue is gone); what is still pending is left to rescue. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }

  // One flush per event-loop turn: everything finishing in the same turn shares the UPDATE.
  #schedule(): void {
    if (this.#closed || this.#scheduled || this.#flushing || this.#retryTimer !== undefined) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.slice(0, MAX_BATCH);
        try {
          await this.#write(batch);
          this.#failures = 0;
        } catch (error) {
          this.hooks.onError(error);
          try {
            if (isDataError(error)) {
              await this.#isolate(batch);
              continue;
            }
          } catch {
            // The connection went away while isolating: retry what is left, below.
          }
          if (this.#closed) return;
          this.#retryTimer = setTimeout(() => {
            this.#retryTimer = undefined;
            this.#schedule();
          }, backoffDelay(this.#failures++));
          return;
        }
      }
    } finally {
      this.#flushing = false;
    }
    const waiters = this.#idle;
    this.#idle = [];
    for (const resolve of waiters) resolve();
  }

  // Writes a batch; on success removes it from the queue (the batch is always a run of queued
  // acks, so nothing is ever written twice) and reports each ack.
  async #write(batch: readonly PendingAck[]): Promise<void> {
    const rows = await this.engine.ackJobs({ batchJson: `[${batch.map((a) => a.json).join(',')}]`, detailed: this.hooks.detailed(batch) });
    this.#remove(batch);
    // By id and claim: two outcomes of one job (a claim a server crash lost, then the job
    // claimed again here) can share a batch, and only the current claim's landed.
    const landed = new Map(rows.map((r) => [`${r.id} ${r.claim}`, r]));
    for (const ack of batch) this.hooks.onAcked(ack, landed.get(`${ack.job.id} ${ack.claim}`));
  }

  #remove(batch: readonly PendingAck[]): void {
    const done = new Set(batch);
    this.#queue = this.#queue.filter((a) => !done.has(a));
    if (this.#backlogged && this.#queue.length <= BACKLOG_LIMIT / 2) {
      this.#backlogged = false;
      this.hooks.onBacklog(false, this.#queue.length);
    }
  }

  // A non-transient failure means some row can never be written; find it by halving, write the rest.
  async #isolate(batch: readonly PendingAck[]): Promise<void> {
    if (batch.length === 1) {
      try {
        await this.#write(batch);
      } catch (error) {
        if (!isDataError(error)) throw error;
        this.#remove(batch);
        this.hooks.onRejected(batch[0]!, error);
      }
      return;
    }
    const mid = Math.ceil(batch.length / 2);
    for (const half of [batch.slice(0, mid), batch.slice(mid)]) {
      try {
        await this.#write(half);
      } catch (error) {
        if (!isDataError(error)) throw error;
        await this.#isolate(half);
      }
    }
  }
}
