// docket's public API: everything exported here is supported; everything else is internal.
export { Queue } from './queue.js';
export type { StopOptions } from './queue.js';
export { Worker, WorkerResults, defaultBackoff } from './worker.js';
export type { WorkerOptions, WorkerResult, PerformContext, Backoff, ArgsSchema, WorkerInput } from './worker.js';
export type { QueueOptions, Connection, QueueSettings, RateLimit } from './config.js';
export { QueueAdmin } from './admin.js';
export type { PartitionOptions } from './worker.js';
export type { UniqueOptions, UniqueBy, UniqueInsert } from './unique.js';
export type { JobFilter, ListJobsOptions, JobPage } from './control/job-filter.js';
export type { QueueStats } from './control/queue-stats.js';
export type { ThreadOption } from './worker.js';
export type { ThreadPoolOptions } from './runtime/thread-pool.js';
export type { InsertOptions, UniqueInsertOptions } from './insert.js';
export { JOB_STATES } from './job.js';
export type { Job, JobState, JobError, JobProgress, RunningJob } from './job.js';
export type { QueueEvents, QueueEventName, JobTimings } from './events.js';
export type { Logger } from './logger.js';
export type { MigrationReport, MigrationScript } from './migrate/migrator.js';
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
} from './errors.js';
export type { ArgsIssue } from './errors.js';
export { Plugin } from './plugins/plugin.js';
export type { PluginContext, PluginOptions, PluginScope } from './plugins/plugin.js';
export { Lifeline } from './plugins/lifeline.js';
export type { LifelineOptions } from './plugins/lifeline.js';
export { Pruner } from './plugins/pruner.js';
export type { PrunerOptions, MaxAge, PrunedState } from './plugins/pruner.js';
export { Cron } from './plugins/cron.js';
export type { CronOptions, CronJob } from './plugins/cron.js';
export { Schedules } from './schedules.js';
export type { Schedule, ScheduleDefinition, ScheduleJobOptions } from './schedules.js';
