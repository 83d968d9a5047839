// docket's public API: everything exported here is supported; everything else is internal.
export { Queue } from './queue.js';
export type { StopOptions } from './queue.js';
export { Worker, WorkerResults, defaultBackoff } from './worker.js';
export type { WorkerOptions, WorkerResult, PerformContext, Backoff, ArgsSchema, WorkerInput } from './worker.js';
export type { QueueOptions, Connection } from './config.js';
export type { InsertOptions } from './insert.js';
export { JOB_STATES } from './job.js';
export type { Job, JobState, JobError } from './job.js';
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
} from './errors.js';
export type { ArgsIssue } from './errors.js';
