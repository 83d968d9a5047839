// Intent-named database operations of cluster control over the control statements: what the
// admin API, keyed inserts, progress, the reconciler and limited fetches call. One round trip
// each, except the limited fetch (a short transaction: lock, then fetch).
import type { Driver, Queryable } from '../driver/types.js';
import type { FetchedJob, InsertBatch } from './engine.js';
import { insertParams } from './engine.js';
import type { JobRow } from '../definitions/job.js';
import { rowToJob } from '../definitions/job.js';
import type { ControlStatements } from './sql/control.js';

/** One row of a keyed insert: its position in the call, args, and keys. */
export interface KeyedRow {
  readonly i: number;
  readonly args: unknown;
  readonly ukey: string | null;
  readonly pkey: string | null;
}

/** What a keyed insert wrote. */
export interface KeyedResult {
  /** [id, unique key] of the rows inserted (conflicting ones are absent). */
  readonly inserted: readonly [string, string | null][];
  /** The window suffix the database appended to unique keys ('' without a period). */
  readonly suffix: string;
  readonly state: string;
  readonly insertedAt: number;
  readonly scheduledAt: number;
}

/** Queue controls as persisted. */
export interface QueueControlRow {
  readonly name: string;
  readonly paused: boolean;
  readonly concurrency: number | null;
  /**
   * Incremented by every change (migration 0005); a node never applies an older version over
   * a newer one. 0: the queue has no row (never controlled).
   */
  readonly version: number;
}

/** A stats row: jobs of one queue in one state. */
export interface StatsRow {
  readonly queue: string;
  readonly state: string;
  readonly n: number;
  readonly oldest_ms: number | null;
}

/** A limited fetch: the jobs claimed, and when the rate limit frees a slot (if it held back). */
export interface LimitedFetch {
  readonly jobs: FetchedJob[];
  readonly rateWaitMs: number | null;
}

type ClaimedRow = JobRow & { claim: string; queue_ms: number; rate_wait_ms: number | null };

/** Control operations of one Queue. */
export class ControlEngine {
  constructor(
    readonly driver: Driver,
    readonly sql: ControlStatements,
    readonly channel: string,
    /** Prefix of this schema's fetch-lock keys. */
    private readonly lockPrefix: string,
  ) {}

  async insertKeyed(
    runner: Queryable,
    batch: InsertBatch,
    rows: readonly KeyedRow[],
    unique: { readonly states: readonly string[]; readonly period: number | null } | null,
    partitionLimit: number | null,
    notify: string | null,
  ): Promise<KeyedResult> {
    const [row] = await runner.query<{ rows: string; suffix: string; state: string; inserted_at: number; scheduled_at: number }>(
      this.sql.insertKeyed,
      [
        ...insertParams(batch, JSON.stringify(rows), this.channel, notify),
        unique === null ? null : JSON.stringify(unique.states),
        unique?.period ?? null,
        partitionLimit,
      ],
    );
    return {
      inserted: JSON.parse(row!.rows) as [string, string | null][],
      suffix: row!.suffix,
      state: row!.state,
      insertedAt: Number(row!.inserted_at),
      scheduledAt: Number(row!.scheduled_at),
    };
  }

  async lookupUnique(runner: Queryable, keys: readonly string[]): Promise<(JobRow & { unique_key: string })[]> {
    return runner.query(this.sql.lookupUnique, [JSON.stringify(keys)]);
  }

  /** Cancels or discards one job; the job afterwards, or undefined when nothing changed. */
  async finishJob(target: 'cancelled' | 'discarded', id: string, reason: string): Promise<JobRow | undefined> {
    const statement = target === 'cancelled' ? this.sql.cancelJob : this.sql.discardJob;
    const [row] = await this.driver.query<JobRow>(statement, [id, reason, this.channel]);
    return row;
  }

  async finishJobs(target: 'cancelled' | 'discarded', filter: readonly (string | null)[], reason: string): Promise<number> {
    const statement = target === 'cancelled' ? this.sql.cancelJobs : this.sql.discardJobs;
    return count(await this.driver.query<{ n: number }>(statement, [...filter, reason, this.channel]));
  }

  async retryJob(id: string): Promise<JobRow | undefined> {
    const [row] = await this.driver.query<JobRow>(this.sql.retryJob, [id, this.channel]);
    return row;
  }

  async retryJobs(filter: readonly (string | null)[]): Promise<number> {
    return count(await this.driver.query<{ n: number }>(this.sql.retryJobs, [...filter, this.channel]));
  }

  async deleteJob(id: string): Promise<JobRow | undefined> {
    const [row] = await this.driver.query<JobRow>(this.sql.deleteJob, [id, this.channel]);
    return row;
  }

  async deleteJobs(filter: readonly (string | null)[]): Promise<number> {
    return count(await this.driver.query<{ n: number }>(this.sql.deleteJobs, [...filter, this.channel]));
  }

  async listJobs(filter: readonly (string | null)[], after: string | null, limit: number, order: 'asc' | 'desc'): Promise<JobRow[]> {
    return this.driver.query<JobRow>(order === 'asc' ? this.sql.listAsc : this.sql.listDesc, [...filter, after, limit]);
  }

  async stats(): Promise<StatsRow[]> {
    return this.driver.query<StatsRow>(this.sql.stats, []);
  }

  async controls(): Promise<QueueControlRow[]> {
    return this.driver.query<QueueControlRow>(this.sql.queueControls, []);
  }

  async setControl(name: string, paused: boolean | null, concurrency: { readonly value: number | null } | null): Promise<QueueControlRow> {
    const [row] = await this.driver.query<QueueControlRow>(this.sql.setQueueControl, [
      name,
      paused,
      concurrency?.value ?? null,
      concurrency !== null,
      this.channel,
    ]);
    return row!;
  }

  async ensureQueue(name: string): Promise<void> {
    await this.driver.query(this.sql.ensureQueue, [name]);
  }

  /** Writes progress for running jobs; returns the ids whose row took it. */
  async progress(batchJson: string): Promise<{ id: string; progress: string }[]> {
    return this.driver.query(this.sql.progress, [batchJson]);
  }

  /** Of the given running attempts, those whose row moved on, with its state now (null: deleted). */
  async movedOn(batchJson: string): Promise<{ id: string; state: string | null }[]> {
    return this.driver.query(this.sql.movedOn, [batchJson]);
  }

  /** Testing modes: claims those of `ids` that are available. */
  async claimIds(runner: Queryable, ids: readonly string[], nodeId: string): Promise<FetchedJob[]> {
    const rows = await runner.query<ClaimedRow>(this.sql.claimIds, [JSON.stringify(ids), nodeId]);
    return rows.map((row) => ({ job: rowToJob(row), claim: row.claim, queueMs: Math.max(0, Number(row.queue_ms)) }));
  }

  /** Testing modes: scheduled and retryable jobs of these queues become due now. */
  async dueNow(runner: Queryable, queues: readonly string[]): Promise<void> {
    await runner.query(this.sql.dueNow, [JSON.stringify(queues)]);
  }

  /** Claims jobs of a queue with partitions and/or a rate limit, serialized across the cluster. */
  async fetchLimited(
    queue: string,
    limit: number,
    nodeId: string,
    rate: { readonly allowed: number; readonly periodMs: number } | undefined,
    unkeyed: boolean,
  ): Promise<LimitedFetch> {
    const rows = await this.driver.transaction(async (tx) => {
      await tx.query(this.sql.fetchLock, [`${this.lockPrefix}${queue}`]);
      return tx.query<ClaimedRow>(this.sql.fetchLimited, [queue, limit, nodeId, rate?.allowed ?? null, rate?.periodMs ?? 0, unkeyed]);
    });
    const jobs: FetchedJob[] = [];
    let rateWaitMs: number | null = null;
    for (const row of rows) {
      if (row.rate_wait_ms !== null) rateWaitMs = Number(row.rate_wait_ms);
      if (row.id === null) continue;
      jobs.push({ job: rowToJob(row), claim: row.claim, queueMs: Math.max(0, Number(row.queue_ms)) });
    }
    return { jobs, rateWaitMs };
  }
}

function count(rows: readonly { n: number }[]): number {
  return Number(rows[0]?.n ?? 0);
}
