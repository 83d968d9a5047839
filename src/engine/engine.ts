// Intent-named database operations over the statements: what the runtime and the facade call.
// Each is one round trip, whatever the batch size.
import type { Driver, Queryable } from '../driver/types.js';
import type { Job, JobRow, JobState } from '../definitions/job.js';
import { rowToJob } from '../definitions/job.js';
import type { Statements } from './sql/jobs.js';

/** Jobs of one worker to insert, already validated, sharing everything but their args. */
export interface InsertBatch {
  readonly queue: string;
  readonly worker: string;
  readonly args: readonly unknown[];
  readonly tags: readonly string[];
  readonly priority: number;
  readonly max_attempts: number;
  /** ISO timestamp, or null for "now + delay_ms" by the database clock. */
  readonly scheduled_at: string | null;
  readonly delay_ms: number;
}

/** What the database assigned to an inserted batch: ids in input order, and the shared rest. */
interface InsertedBatch {
  readonly ids: string;
  readonly state: string;
  readonly inserted_at: number;
  readonly scheduled_at: number;
}

/** A claimed job, the token of this claim (fences its ack), and how long it waited. */
export interface FetchedJob {
  readonly job: Job;
  readonly claim: string;
  readonly queueMs: number;
}

/** What an ack changed, for building the event's Job. */
export interface AckedRow {
  readonly id: string;
  readonly attempt: number;
  /** ms since the epoch */
  readonly scheduled_at: number;
  readonly completed_at: number | null;
  readonly error: string | null;
}

/** The result of one staging pass. */
export interface StageResult {
  readonly queues: readonly string[];
  readonly staged: number;
  /** ms until the next scheduled/retryable job is due, or null when there is none. */
  readonly nextDueMs: number | null;
}

/**
 * Parameters $1..$10 shared by the insert statements (plain and keyed): what the batch's jobs
 * share, `rowsJson` (their args, or keyed rows) as $3, and the channel and NOTIFY payload.
 */
export function insertParams(batch: InsertBatch, rowsJson: string, channel: string, notify: string | null): unknown[] {
  return [
    batch.queue,
    batch.worker,
    rowsJson,
    JSON.stringify(batch.tags),
    batch.priority,
    batch.max_attempts,
    batch.scheduled_at,
    batch.delay_ms,
    channel,
    notify,
  ];
}

/** A job just inserted from `batch`, as the database assigned its id, state and times (ms). */
export function insertedJob(batch: InsertBatch, id: string, args: unknown, state: JobState, insertedAt: number, scheduledAt: number): Job {
  return {
    id,
    worker: batch.worker,
    queue: batch.queue,
    state,
    args,
    tags: batch.tags,
    priority: batch.priority,
    attempt: 0,
    maxAttempts: batch.max_attempts,
    errors: [],
    result: null,
    attemptedBy: null,
    lastProgress: null,
    insertedAt: new Date(insertedAt),
    scheduledAt: new Date(scheduledAt),
    attemptedAt: null,
    completedAt: null,
  };
}

/** Database operations of one Queue. */
export class Engine {
  constructor(
    readonly driver: Driver,
    readonly sql: Statements,
    readonly channel: string,
  ) {}

  async insertJobs(runner: Queryable, batch: InsertBatch, notify: string | null): Promise<Job[]> {
    const [row] = await runner.query<InsertedBatch>(this.sql.insertJobs, insertParams(batch, JSON.stringify(batch.args), this.channel, notify));
    const ids = JSON.parse(row!.ids) as string[];
    const state = row!.state as JobState;
    return ids.map((id, i) => insertedJob(batch, id, batch.args[i], state, Number(row!.inserted_at), Number(row!.scheduled_at)));
  }

  /** Sends a wake-up hint on its own (for inserts already committed). */
  async notify(payload: string): Promise<void> {
    await this.driver.query(this.sql.notify, [this.channel, payload]);
  }

  async fetchJobs(queue: string, limit: number, nodeId: string, runner: Queryable = this.driver): Promise<FetchedJob[]> {
    const rows = await runner.query<JobRow & { claim: string; queue_ms: number }>(this.sql.fetchJobs, [queue, limit, nodeId]);
    return rows.map((row) => ({ job: rowToJob(row), claim: row.claim, queueMs: Math.max(0, Number(row.queue_ms)) }));
  }

  /**
   * `batchJson` is a JSON array of outcomes (see the ackJobs statement). Without `detailed`,
   * only the ids of the rows that were updated come back.
   */
  async ackJobs(batchJson: string, detailed: boolean, runner: Queryable = this.driver): Promise<AckedRow[]> {
    return runner.query<AckedRow>(detailed ? this.sql.ackJobs : this.sql.ackJobsLean, [batchJson]);
  }

  async stageJobs(limit: number): Promise<StageResult> {
    const [row] = await this.driver.query<{ queues: string; staged: number; next_due_ms: number | null }>(
      this.sql.stageJobs,
      [limit, this.channel],
    );
    return {
      queues: row === undefined ? [] : (JSON.parse(row.queues) as string[]),
      staged: Number(row?.staged ?? 0),
      nextDueMs: row?.next_due_ms === null || row?.next_due_ms === undefined ? null : Number(row.next_due_ms),
    };
  }

  async getJob(id: string): Promise<Job | null> {
    const [row] = await this.driver.query<JobRow>(this.sql.getJob, [id]);
    return row === undefined ? null : rowToJob(row);
  }
}
