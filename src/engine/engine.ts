// The Engine: every database operation docket runs, named by intent, each taking one parameter
// object. One implementation (create-engine.ts) over the driver seam; nothing outside src/engine
// holds the driver. Hot operations (insert, fetch, ack) are one round trip per batch.
import type { Job } from '../definitions/job.js';
import type {
  AckedRow,
  ChangedJobRow,
  FetchedJob,
  FilterParams,
  InsertBatch,
  KeyedResult,
  KeyedRow,
  LimitedFetch,
  MigrationReport,
  NoticeHandlers,
  NoticeSubscription,
  NodeRow,
  QueueControlRow,
  ScheduleRow,
  Scope,
  StageResult,
  StatsRow,
  StepAddition,
  StepEdgeRow,
  StepInsertRow,
  WorkflowGraph,
  WorkflowRow,
} from './types.js';
import type { JobRow } from '../definitions/job.js';
import type { ThroughputRow } from './sql/insights.js';

/** Inserting, claiming, acking and staging jobs: the job path. */
export interface JobOperations {
  /** Inserts a batch of one worker; `notify` rides in the same statement (a host transaction's hint). */
  insertJobs(p: { readonly batch: InsertBatch; readonly notify: string | null; readonly scope?: Scope }): Promise<Job[]>;
  /** Inserts rows carrying unique and/or partition keys; rows whose unique key is taken are skipped. */
  insertKeyed(p: {
    readonly batch: InsertBatch;
    readonly rows: readonly KeyedRow[];
    readonly unique: { readonly states: readonly string[]; readonly period: number | null } | null;
    readonly partitionLimit: number | null;
    readonly notify: string | null;
    readonly scope?: Scope;
  }): Promise<KeyedResult>;
  /** The jobs holding these unique keys now. */
  lookupUnique(p: { readonly keys: readonly string[]; readonly scope?: Scope }): Promise<(JobRow & { unique_key: string })[]>;
  /** Sends a wake-up hint on its own (for inserts already committed). */
  sendHint(p: { readonly payload: string }): Promise<void>;
  /** Claims up to `limit` due jobs of `queue` (SKIP LOCKED). */
  fetchJobs(p: { readonly queue: string; readonly limit: number; readonly nodeId: string; readonly scope?: Scope }): Promise<FetchedJob[]>;
  /** Claims jobs of a queue with partitions and/or a rate limit, serialized across the cluster. */
  fetchLimited(p: {
    readonly queue: string;
    readonly limit: number;
    readonly nodeId: string;
    readonly rate: { readonly allowed: number; readonly periodMs: number } | undefined;
    readonly unkeyed: boolean;
  }): Promise<LimitedFetch>;
  /** Writes outcomes (a JSON array), fenced by claim; `detailed: false` returns ids only. */
  ackJobs(p: { readonly batchJson: string; readonly detailed: boolean; readonly scope?: Scope }): Promise<AckedRow[]>;
  /** Makes due scheduled/retryable jobs available and wakes their queues. */
  stageJobs(p: { readonly limit: number }): Promise<StageResult>;
  getJob(p: { readonly id: string }): Promise<Job | null>;
  /** Testing modes: claims those of `ids` that are available. */
  claimIds(p: { readonly ids: readonly string[]; readonly nodeId: string; readonly scope?: Scope }): Promise<FetchedJob[]>;
  /** Testing modes: scheduled and retryable jobs of these queues become due now. */
  dueNow(p: { readonly queues: readonly string[]; readonly scope?: Scope }): Promise<void>;
}

/** Jobs and queues changed by an operator, read back for the admin API, and running-job checks. */
export interface ControlOperations {
  /** Cancels or discards one job; the job afterwards, or undefined when nothing changed. */
  finishJob(p: { readonly target: 'cancelled' | 'discarded'; readonly id: string; readonly reason: string }): Promise<ChangedJobRow | undefined>;
  finishJobs(p: { readonly target: 'cancelled' | 'discarded'; readonly filter: FilterParams; readonly reason: string }): Promise<number>;
  retryJob(p: { readonly id: string }): Promise<ChangedJobRow | undefined>;
  retryJobs(p: { readonly filter: FilterParams }): Promise<number>;
  deleteJob(p: { readonly id: string }): Promise<ChangedJobRow | undefined>;
  deleteJobs(p: { readonly filter: FilterParams }): Promise<number>;
  listJobs(p: { readonly filter: FilterParams; readonly after: string | null; readonly limit: number; readonly order: 'asc' | 'desc' }): Promise<JobRow[]>;
  queueStats(): Promise<StatsRow[]>;
  queueControls(): Promise<QueueControlRow[]>;
  /** Persists a pause/scale change (and tells every node); `concurrency: null` leaves it unchanged. */
  setQueueControl(p: {
    readonly name: string;
    readonly paused: boolean | null;
    readonly concurrency: { readonly value: number | null } | null;
  }): Promise<QueueControlRow>;
  /** Makes sure a (rate-limited) queue has its row. */
  ensureQueue(p: { readonly name: string }): Promise<void>;
  /** Writes progress of running jobs (JSON array), fenced by claim; the ids whose row took it. */
  writeProgress(p: { readonly batchJson: string }): Promise<{ id: string; progress: string }[]>;
  /** Of the given running attempts (JSON array), those whose row moved on, with its state now. */
  movedOn(p: { readonly batchJson: string }): Promise<{ id: string; state: string | null }[]>;
}

/** Node membership: heartbeats and the leader lease. */
export interface ClusterOperations {
  /** Records the node as alive; resolves with the database's clock (epoch ms) when it did. */
  heartbeat(p: { readonly nodeId: string; readonly host: string; readonly pid: number; readonly queues: Record<string, number> }): Promise<number>;
  removeNode(p: { readonly nodeId: string }): Promise<void>;
  /** Takes or renews the lease; whether `owner` holds it afterwards. */
  acquireLease(p: { readonly name: string; readonly owner: string; readonly ttlMs: number }): Promise<boolean>;
  /** Gives the lease up at once and tells the others. */
  releaseLease(p: { readonly name: string; readonly owner: string }): Promise<void>;
  /** Every node that has heartbeated and not yet been forgotten, oldest first. */
  listNodes(): Promise<NodeRow[]>;
  /** Sends job update payloads (engine/notice.ts) on the job updates' channel, in one round trip. */
  announceJobs(p: { readonly payloads: readonly string[] }): Promise<void>;
}

/** Leader maintenance: rescue and pruning. */
export interface MaintenanceOperations {
  /** Rescues executing jobs of stale nodes (or older than `rescueAfterMs`); the jobs afterwards. */
  rescueJobs(p: { readonly staleAfterMs: number; readonly rescueAfterMs: number; readonly limit: number }): Promise<Job[]>;
  /** Forgets node rows silent for longer than this. */
  forgetNodes(p: { readonly silentForMs: number }): Promise<void>;
  /**
   * Deletes up to `limit` jobs of `state` finished longer ago than `ageMs` (one queue, or all
   * but `excluded`), anywhere in the history or (`where: 'default-partition'`) only among the
   * rows of days that have no partition of their own.
   */
  pruneByAge(p: {
    readonly state: 'completed' | 'discarded' | 'cancelled';
    readonly ageMs: number;
    readonly queue: string | null;
    readonly excluded: readonly string[];
    readonly limit: number;
    readonly where?: 'history' | 'default-partition';
  }): Promise<number>;
  /** Queues that have finished jobs. */
  finishedQueues(): Promise<string[]>;
  /** Deletes up to `limit` finished jobs of `queue` beyond the newest `keep`. */
  pruneByCount(p: { readonly queue: string; readonly keep: number; readonly limit: number }): Promise<number>;
  /** Dead and live row versions of the live table (statistics, up to a second old). */
  liveHealth(): Promise<{ dead: number; live: number }>;
  /** VACUUMs the live table. */
  vacuumLive(): Promise<void>;
  /** Creates the history's day partitions from today (UTC) to `daysAhead` days later; how many were new. */
  createPartitions(p: { readonly daysAhead: number }): Promise<number>;
  /** Drops the history's day partitions of `state` that ended more than `ageMs` ago; how many jobs they held. */
  dropPartitions(p: { readonly state: string; readonly ageMs: number }): Promise<number>;
}

/** The persisted cron schedules. */
export interface ScheduleOperations {
  listSchedules(): Promise<ScheduleRow[]>;
  getSchedule(p: { readonly name: string }): Promise<ScheduleRow | undefined>;
  upsertSchedule(p: {
    readonly name: string;
    readonly expression: string;
    readonly timezone: string;
    readonly worker: string;
    readonly args: unknown;
    readonly opts: unknown;
    readonly missed: string;
  }): Promise<ScheduleRow>;
  removeSchedule(p: { readonly name: string }): Promise<boolean>;
  /** Schedules whose next tick is due (or not yet computed), with the database's now (ms). */
  dueSchedules(): Promise<(ScheduleRow & { db_now: number })[]>;
  /** Moves a schedule on; `readNext` fences it against a concurrent change. */
  advanceSchedule(p: { readonly name: string; readonly readNext: number | null; readonly next: number; readonly last: number | null }): Promise<void>;
}

/** The schema itself, LISTEN, scopes, and statements of the host's own (plugins' `ctx.query`). */
export interface SchemaOperations {
  /** Creates or upgrades docket's tables; safe from many processes at once. */
  migrate(): Promise<MigrationReport>;
  /** The schema's applied version (0 when docket's tables do not exist). */
  schemaVersion(): Promise<number>;
  /** LISTEN on the schema's channel on a connection of its own that reconnects by itself. */
  listen(handlers: NoticeHandlers): NoticeSubscription;
  /** LISTEN on the job updates' channel (`jobEvents`), on a connection of its own, like `listen`. */
  listenJobs(handlers: NoticeHandlers): NoticeSubscription;
  /** The scope of a host transaction (a pg client inside BEGIN, or a postgres.js `tx`); throws a ConfigError for anything else. */
  hostScope(tx: unknown): Scope;
  /** One statement of the caller's own text, planned per call. */
  query<R>(p: { readonly text: string; readonly params: readonly unknown[]; readonly scope?: Scope }): Promise<R[]>;
  /** Whether docket created the connection pool (and so closes it). */
  readonly ownsConnection: boolean;
  /** Ends what docket created; never a pool the host gave it. */
  close(): Promise<void>;
}

/** Workflows: insert a DAG, read it, settle it after finishes, cancel, retry, grow it, sweep. */
export interface WorkflowOperations {
  /** Inserts the workflow, its steps and edges in one statement (in the host's transaction, if `scope`). */
  insertWorkflow(p: {
    readonly name: string;
    readonly tags: readonly string[];
    readonly steps: readonly StepInsertRow[];
    readonly edges: readonly StepEdgeRow[];
    readonly notify: string | null;
    /** Every step's meta: a JSON object (encoded). */
    readonly metaJson: string;
    readonly scope?: Scope;
  }): Promise<{ id: string; insertedAt: number; steps: { id: string; step: string; state: string; scheduledAt: number }[] }>;
  /** A workflow with its steps (job rows, id order) and edges (ids); null when there is none. */
  getWorkflow(p: { readonly id: string }): Promise<{ row: WorkflowRow; steps: JobRow[]; edges: { parent: string; child: string }[] } | null>;
  /** The results of a step's completed dependencies, by step name. */
  stepResults(p: { readonly id: string }): Promise<Record<string, unknown>>;
  /**
   * Applies failure policies from the children of `failed` steps (null: from every held step),
   * recounts and releases what it looked at; then finishes the workflow if nothing is live.
   * Returns the workflow when this call finished it.
   */
  settleWorkflow(p: { readonly id: string; readonly failed: readonly string[] | null }): Promise<WorkflowRow | undefined>;
  /** Finishes those of the workflows (ids) that are running with no live step; returns them. */
  finishWorkflows(p: { readonly ids: readonly string[] }): Promise<WorkflowRow[]>;
  /** Cancels every live step and ends the workflow `cancelled`; null when there is no such workflow. */
  cancelWorkflow(p: { readonly id: string; readonly reason: string }): Promise<{ row: WorkflowRow | undefined; cancelled: number } | null>;
  /** Brings failed steps back (held, recounted, released when free); null when there is no such workflow. */
  retryWorkflow(p: { readonly id: string }): Promise<{ retried: number } | null>;
  /**
   * Adds steps to the workflow of a step running under `claim`: `plan` validates against the
   * workflow as it stands (its throw rolls everything back). Returns the new steps' rows.
   */
  addSteps(p: { readonly jobId: string; readonly claim: string; readonly plan: (graph: WorkflowGraph) => StepAddition }): Promise<JobRow[]>;
  /**
   * Applies pending releases of wide fan-ins (completions of parents not yet counted on their
   * child) for up to `limit` children: how many rows it applied, how many steps it released.
   */
  applyReleases(p: { readonly limit: number }): Promise<{ rows: number; released: number }>;
  /** Workflows a lost release or finish left unsettled. */
  unsettledWorkflows(p: { readonly limit: number }): Promise<string[]>;
  /** Forgets finished workflows whose steps are all gone; how many. */
  forgetWorkflows(p: { readonly limit: number }): Promise<number>;
}

/** Read-only figures over the history, for operations tools (the dashboard). */
export interface InsightOperations {
  /** Jobs finished per minute over the last `minutes` minutes (one queue, or all), oldest first, zero filled. */
  throughput(p: { readonly minutes: number; readonly queue: string | null }): Promise<ThroughputRow[]>;
}

/** Every database operation of one Queue's schema. */
export interface Engine
  extends JobOperations,
    ControlOperations,
    ClusterOperations,
    MaintenanceOperations,
    ScheduleOperations,
    SchemaOperations,
    WorkflowOperations,
    InsightOperations {}
