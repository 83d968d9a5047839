// The data the Engine's operations take and return: batches to insert, claimed jobs, acked rows,
// control rows, stats, schedules. Plain types, shared by the engine and its callers.
import type { Job, JobRow } from '../definitions/job.js';

/**
 * Where a statement runs: the host's transaction or one the engine opened. Opaque outside the
 * engine (which alone knows the driver behind it); no scope means the pool.
 */
export interface Scope {
  readonly kind: 'scope';
}

/** Jobs of one worker to insert, already validated, sharing everything but their args. */
export interface InsertBatch {
  readonly queue: string;
  readonly worker: string;
  readonly args: readonly unknown[];
  /** `args` as a JSON array, encoded and checked once by the insert layer; encoded here when absent. */
  readonly args_json?: string;
  readonly tags: readonly string[];
  readonly priority: number;
  readonly max_attempts: number;
  /** ISO timestamp, or null for "now + delay_ms" by the database clock. */
  readonly scheduled_at: string | null;
  readonly delay_ms: number;
  /** The meta every job of the batch is written with (absent: none). */
  readonly meta?: Readonly<Record<string, unknown>>;
  /** `meta` as a JSON object, encoded and checked by the insert layer; '{}' when absent. */
  readonly meta_json?: string;
}

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

/** A claimed job, the token of this claim (fences its ack), and how long it waited. */
export interface FetchedJob {
  readonly job: Job;
  readonly claim: string;
  readonly queueMs: number;
}

/** A limited fetch: the jobs claimed, and when the rate limit frees a slot (if it held back). */
export interface LimitedFetch {
  readonly jobs: FetchedJob[];
  readonly rateWaitMs: number | null;
}

/** What an ack changed, for building the event's Job. */
export interface AckedRow {
  readonly id: string;
  /** The claim the landed outcome ran under. */
  readonly claim: string;
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

/** A job row as returned by control statements (`was`: its state before the change). */
export type ChangedJobRow = JobRow & { was?: string };

/** A job filter as statement parameters (each a PostgreSQL array literal, or null for "any"). */
export type FilterParams = readonly (string | null)[];

/** A nodes row as selected by the nodes statement (times in ms). */
export interface NodeRow {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly queues: string;
  readonly started_at: number;
  readonly silent_ms: number;
  readonly leader: boolean;
}

/** A schedules row as selected by the schedule statements. */
export interface ScheduleRow {
  name: string;
  expression: string;
  timezone: string;
  worker: string;
  args: string;
  options: string;
  missed: 'skip' | 'last';
  next_at: number | null;
  last_at: number | null;
}

/** A schema's migration state and what `migrate()` did. */
export interface MigrationReport {
  /** Versions this call applied (others may have been applied concurrently by other processes). */
  readonly applied: readonly number[];
  /** The schema's version afterwards. */
  readonly version: number;
}

/** Callbacks of the engine's LISTEN on the schema's channel. */
export interface NoticeHandlers {
  /** A notice arrived (raw payload; decode it with engine/notice.ts). */
  onNotice(payload: string): void;
  /** (Re)connected and listening: catch up on anything missed meanwhile. */
  onConnect(): void;
  onError(error: unknown): void;
}

/** A live LISTEN. */
export interface NoticeSubscription {
  close(): Promise<void>;
}

/** A workflows row as the workflow statements select it (times in ms since the epoch). */
export interface WorkflowRow {
  readonly id: string;
  readonly name: string;
  /** JSON array text. */
  readonly tags: string;
  readonly state: string;
  readonly inserted_at: number;
  readonly finished_at: number | null;
}

/** One step to insert, as the workflow statements take it (see insertWorkflow). */
export interface StepInsertRow {
  readonly i: number;
  readonly step: string;
  readonly queue: string;
  readonly worker: string;
  readonly args: unknown;
  readonly tags: readonly string[];
  readonly priority: number;
  readonly max_attempts: number;
  readonly scheduled_at: string | null;
  readonly delay_ms: number;
  readonly pkey: string | null;
  readonly plimit: number | null;
  /** How many of its dependencies are live (unfinished) at insert. */
  readonly deps: number;
  /** How many steps wait for it. */
  readonly kids: number;
}

/** An edge to insert: parent and child (step names, or for added steps ids / '#'+name), the child's policy. */
export interface StepEdgeRow {
  readonly p: string;
  readonly c: string;
  readonly f: string;
  /** The child is a wide fan-in: its release is deferred past the parent's ack (see workflow_releases). */
  readonly w: boolean;
}

/** A workflow's steps as they stand, for validating steps added to it. */
export interface WorkflowGraph {
  readonly workflowId: string;
  /** The step adding steps (it cannot finish before they are written). */
  readonly callerId: string;
  readonly steps: readonly { readonly id: string; readonly step: string; readonly state: string }[];
  readonly edges: readonly { readonly parent: string; readonly child: string; readonly policy: string }[];
}

/** What a running step adds: new steps, their edges, and held steps that gain dependencies. */
export interface StepAddition {
  readonly steps: readonly StepInsertRow[];
  readonly edges: readonly StepEdgeRow[];
  readonly grow: readonly { readonly id: string; readonly n: number }[];
}
