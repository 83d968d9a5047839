// Intent-named database operations over the statements: what the runtime and the facade call.
// Each is one round trip, whatever the batch size.
import type { Driver, Queryable } from './driver/types.js';
import type { Job, JobRow, JobState } from './job.js';
import { rowToJob } from './job.js';
import type { Statements } from './sql/statements.js';

/** One row to insert, already validated. */
export interface InsertRow {
  readonly queue: string;
  readonly worker: string;
  readonly args: unknown;
  readonly tags: readonly string[];
  readonly priority: number;
  readonly max_attempts: number;
  /** ISO timestamp, or null for "now + delay_ms" by the database clock. */
  readonly scheduled_at: string | null;
  readonly delay_ms: number;
}

/** What the database assigned to an inserted row. */
interface InsertedRow {
  readonly id: string;
  readonly state: string;
  readonly inserted_at: number;
  readonly scheduled_at: number;
}

function insertedJob(input: InsertRow, row: InsertedRow): Job {
  return {
    id: row.id,
    worker: input.worker,
    queue: input.queue,
    state: row.state as JobState,
    args: input.args,
    tags: input.tags,
    priority: input.priority,
    attempt: 0,
    maxAttempts: input.max_attempts,
    errors: [],
    result: null,
    attemptedBy: null,
    insertedAt: new Date(Number(row.inserted_at)),
    scheduledAt: new Date(Number(row.scheduled_at)),
    attemptedAt: null,
    completedAt: null,
  };
}

/** A claimed job and how long it waited, by the database clock. */
export interface FetchedJob {
  readonly job: Job;
  readonly queueMs: number;
}

/** What an ack changed, for building the event's Job. */
export interface AckedRow {
  readonly id: string;
  readonly state: string;
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

/** Database operations of one Queue. */
export class Engine {
  constructor(
    readonly driver: Driver,
    readonly sql: Statements,
    readonly channel: string,
  ) {}

  async insertJobs(runner: Queryable, rows: readonly InsertRow[], notify: string | null): Promise<Job[]> {
    const out = await runner.query<InsertedRow>(this.sql.insertJobs, [JSON.stringify(rows), this.channel, notify]);
    // Ids are assigned in input order; sorting by id maps each returned row to its input.
    out.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
    return out.map((row, i) => insertedJob(rows[i]!, row));
  }

  /** Sends a wake-up hint on its own (for inserts already committed). */
  async notify(payload: string): Promise<void> {
    await this.driver.query(this.sql.notify, [this.channel, payload]);
  }

  async fetchJobs(queue: string, limit: number, nodeId: string): Promise<FetchedJob[]> {
    const rows = await this.driver.query<JobRow & { queue_ms: number }>(this.sql.fetchJobs, [queue, limit, nodeId]);
    return rows.map((row) => ({ job: rowToJob(row), queueMs: Math.max(0, Number(row.queue_ms)) }));
  }

  /** `batchJson` is a JSON array of outcomes (see the ackJobs statement). */
  async ackJobs(batchJson: string): Promise<AckedRow[]> {
    return this.driver.query<AckedRow>(this.sql.ackJobs, [batchJson]);
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
