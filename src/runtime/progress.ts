// Progress reports of running jobs: stored on the job row (fenced by the claim, like acks) and
// announced as `job:progress`. Throttled per job (calls within `interval` ms merge, the latest
// wins) and batched across jobs, so a chatty loop can never flood the database.
import type { Engine } from '../engine/engine.js';
import { ConfigError } from '../definitions/errors.js';
import type { Job, JobProgress } from '../definitions/job.js';

/** How the reporter tells the queue around it. */
export interface ProgressHooks {
  /** The progress landed on the job's row. */
  onStored(job: Job, progress: JobProgress): void;
  onError(error: unknown): void;
}

interface Entry {
  readonly job: Job;
  readonly claim: string;
  lastWrite: number;
  pending: { percent: number; data: string | undefined } | undefined;
  waiters: (() => void)[];
}

/** Collects progress reports and writes them in throttled batches. */
export class ProgressReporter {
  readonly #entries = new Map<string, Entry>();
  #timer: NodeJS.Timeout | undefined;
  #dueAt = Number.POSITIVE_INFINITY;
  #flushing = false;

  constructor(
    private readonly engine: Engine,
    private readonly interval: number,
    private readonly hooks: ProgressHooks,
  ) {}

  /**
   * Records a report; resolves once it (or a later report of the same job, which replaces it)
   * is stored, or dropped because the attempt ended. The first report, and any after a quiet
   * interval, are written at once; a loop that awaits every report runs at most one per interval.
   */
  report(job: Job, claim: string, percent: number, data: unknown): Promise<void> {
    if (typeof percent !== 'number' || !Number.isFinite(percent) || percent < 0 || percent > 100) {
      return Promise.reject(new ConfigError(`job.progress: percent must be a number from 0 to 100, got ${String(percent)}`));
    }
    let json: string | undefined;
    if (data !== undefined) {
      try {
        json = JSON.stringify(data);
      } catch (error) {
        return Promise.reject(new ConfigError(`job.progress: data must be JSON-serializable: ${(error as Error).message}`));
      }
    }
    let entry = this.#entries.get(job.id);
    if (entry === undefined || entry.claim !== claim) {
      entry = { job, claim, lastWrite: Number.NEGATIVE_INFINITY, pending: undefined, waiters: [] };
      this.#entries.set(job.id, entry);
    }
    entry.pending = { percent, data: json };
    const stored = new Promise<void>((resolve) => entry.waiters.push(resolve));
    this.#schedule(entry.lastWrite + this.interval);
    return stored;
  }

  /** The attempt ended: its unwritten progress no longer matters (the ack is the final word). */
  forget(jobId: string, claim: string): void {
    const entry = this.#entries.get(jobId);
    if (entry === undefined || entry.claim !== claim) return;
    this.#entries.delete(jobId);
    for (const resolve of entry.waiters) resolve();
  }

  /** Drops everything (the queue stops). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const entry of this.#entries.values()) for (const resolve of entry.waiters) resolve();
    this.#entries.clear();
  }

  #schedule(at: number): void {
    if (at >= this.#dueAt) return;
    clearTimeout(this.#timer);
    this.#dueAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#dueAt = Number.POSITIVE_INFINITY;
      void this.#flush();
    }, Math.max(0, at - performance.now()));
  }

  async #flush(): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    const now = performance.now();
    const batch: { entry: Entry; percent: number; data: string | undefined; waiters: (() => void)[] }[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const entry of this.#entries.values()) {
      if (entry.pending === undefined) continue;
      if (entry.lastWrite + this.interval > now) {
        next = Math.min(next, entry.lastWrite + this.interval);
        continue;
      }
      batch.push({ entry, ...entry.pending, waiters: entry.waiters });
      entry.waiters = [];
      entry.pending = undefined;
      entry.lastWrite = now;
    }
    try {
      if (batch.length > 0) {
        const json = `[${batch
          .map((b) => `{"id":"${b.entry.job.id}","claim":"${b.entry.claim}","percent":${b.percent},"data":${b.data ?? 'null'}}`)
          .join(',')}]`;
        const rows = await this.engine.writeProgress({ batchJson: json });
        const stored = new Map(rows.map((r) => [r.id, JSON.parse(r.progress) as JobProgress]));
        for (const b of batch) {
          const progress = stored.get(b.entry.job.id);
          if (progress !== undefined) this.hooks.onStored(b.entry.job, progress);
        }
      }
    } catch (error) {
      // Progress is advisory: a failed write is reported, never fails the job.
      this.hooks.onError(error);
    } finally {
      for (const b of batch) for (const resolve of b.waiters) resolve();
      this.#flushing = false;
      // Reports that came in during the write, and entries still inside their interval.
      for (const entry of this.#entries.values()) if (entry.pending !== undefined) next = Math.min(next, entry.lastWrite + this.interval);
      if (next !== Number.POSITIVE_INFINITY) this.#schedule(next);
    }
  }
}
