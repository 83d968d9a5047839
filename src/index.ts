/**
 * The `docket` entry point: the Queue, workers, plugins, errors and their types.
 *
 * @module docket
 */
// docket's public API: everything exported here is supported; everything else is internal.
export { Queue } from './queue.js';
export type { QueueApi, StartOptions, StopOptions } from './queue-api.js';
export { Worker, WorkerResults, defaultBackoff } from './definitions/worker.js';
export type { WorkerOptions, WorkerResult, PerformContext, Backoff, ArgsSchema, WorkerInput } from './definitions/worker.js';
export type { QueueOptions, Connection, PgPoolLike, PostgresJsLike, QueueSettings, RateLimit } from './config/config.js';
export type { PartitionOptions } from './definitions/worker.js';
export type { UniqueOptions, UniqueBy, UniqueInsert } from './insert/unique.js';
export type { JobFilter, ListJobsOptions, JobPage } from './admin/job-filter.js';
export type { QueueStats } from './admin/queue-stats.js';
export type { NodeInfo, RescueOptions } from './admin/node-info.js';
export type { JobUpdate, JobUpdateKind, WatchOptions } from './definitions/job-update.js';
export type { ThroughputMinute, ThroughputOptions } from './admin/throughput.js';
export type { ThreadOption } from './definitions/worker.js';
export type { ThreadPoolOptions } from './config/threads.js';
export type { InsertOptions, UniqueInsertOptions } from './insert/options.js';
export { JOB_STATES } from './definitions/job.js';
export type { Job, JobState, JobError, JobProgress, RunningJob, JobWorkflow, RunningWorkflow } from './definitions/job.js';
export type { QueueEvents, QueueEventName, JobTimings } from './definitions/events.js';
export type { Logger } from './definitions/logger.js';
export type { JobMiddleware, InsertCall, AttemptOutcome } from './definitions/middleware.js';
export type { MigrationScript } from './engine/migrate/migrator.js';
export type { MigrationReport } from './engine/types.js';
export {
  DocketError,
  ArgsValidationError,
  UnknownWorkerError,
  ConfigError,
  QueueStateError,
  MigrationError,
  JobTimeoutError,
  ShutdownError,
  JobCancelledError,
  UniqueConflictError,
  WorkflowError,
} from './definitions/errors.js';
export type { ArgsIssue } from './definitions/errors.js';
export { Plugin } from './plugins/plugin.js';
export type { PluginContext, PluginOptions, PluginScope } from './plugins/plugin.js';
export { Lifeline } from './plugins/lifeline.js';
export type { LifelineOptions } from './plugins/lifeline.js';
export { Pruner } from './plugins/pruner.js';
export type { PrunerOptions, MaxAge, PrunedState } from './plugins/pruner.js';
export { Cron } from './cron/cron.js';
export type { CronOptions, CronJob } from './cron/cron.js';
export type { Schedules } from './cron/schedules.js';
export type { Schedule, ScheduleDefinition, ScheduleJobOptions } from './cron/schedules.js';
export { Workflow } from './plugins/workflow.js';
export type { WorkflowPluginOptions } from './plugins/workflow.js';
export { WorkflowBuilder } from './workflow/builder.js';
export type { WorkflowState, DependencyFailurePolicy, StepOptions, WorkflowOptions, NewStep } from './definitions/workflow.js';
export type { WorkflowDetails, WorkflowStep, WorkflowSummary, InsertedWorkflow } from './definitions/workflow-record.js';
export { stepResult } from './definitions/step-result.js';
export type { WorkerOutput } from './definitions/step-result.js';
