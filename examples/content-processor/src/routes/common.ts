// Pieces every route module shares: the error body (one shape for every 4xx/5xx), HttpError
// for handlers to throw, the public JSON view of a docket Job, and the id/name parameter
// schemas. Every response of every route is described by a zod schema built from these.
import { z } from 'zod';
import type { Job } from 'docket';
import { JOB_STATES } from 'docket';
import type { AppConfig } from '../config.js';
import type { Storage } from '../storage.js';
import type { createDocket } from '../docket.js';
import type { Metrics } from '../metrics.js';
import type { TenantKeys } from '../tenancy/tenant-keys.js';

/** What buildApp needs (server.ts and the tests build these). */
export interface AppDeps {
  config: AppConfig;
  queue: Docket['queue'];
  workers: Docket['workers'];
  storage: Storage;
  /** Tenant API keys (tenancy/tenant-keys.ts): who may see and create which tenant's jobs. */
  tenants: TenantKeys;
  /**
   * Optional: a pg Pool on the same database. Health uses it for a cheap `SELECT 1`, the batch
   * route for one transaction across workers, and rescue to read docket's node heartbeats
   * (`<schema>.nodes`, documented in docs/plugins.md). Without it those fall back (see each).
   */
  pool?: PoolLike;
}

export type Docket = ReturnType<typeof createDocket>;
export type Workers = Docket['workers'];

/** The part of pg.Pool the routes use. */
export interface PoolLike {
  query<R extends Record<string, unknown> = Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
  connect(): Promise<PoolClientLike>;
}
export interface PoolClientLike {
  query(text: string, values?: unknown[]): Promise<unknown>;
  release(error?: Error | boolean): void;
}

/** Options each route plugin receives. */
export interface RouteOptions extends AppDeps {
  metrics: Metrics;
}

export const issue = z.object({
  path: z.string().describe('Where the problem is, e.g. body.to or params.id'),
  message: z.string(),
});

export const errorBody = z
  .object({
    statusCode: z.number().int(),
    error: z.string(),
    message: z.string(),
    code: z.string().optional(),
    issues: z.array(issue).optional(),
  })
  .describe('An error');

export type ErrorBody = z.infer<typeof errorBody>;

/** Response schemas for the given error status codes (every route lists those it can answer). */
export function errors<const C extends readonly number[]>(...codes: C): { [K in C[number] | 429 | 500]: typeof errorBody } {
  const out: Record<number, typeof errorBody> = {};
  for (const code of [...codes, 429, 500]) out[code] = errorBody;
  return out as { [K in C[number] | 429 | 500]: typeof errorBody };
}

/** An error with an HTTP status, thrown by handlers and rendered by the app's error handler. */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly issues: { path: string; message: string }[] | undefined;
  constructor(statusCode: number, message: string, issues?: { path: string; message: string }[]) {
    super(message);
    this.name = 'HttpError';
    this.statusCode = statusCode;
    this.issues = issues;
  }
}

/** A 400 naming the offending field. */
export function badRequest(path: string, message: string): HttpError {
  return new HttpError(400, `${path}: ${message}`, [{ path, message }]);
}

export function notFound(message: string): HttpError {
  return new HttpError(404, message);
}

/** A job id as docket stores it: a positive bigint in decimal. */
export const jobId = z.string().regex(/^[1-9][0-9]{0,18}$/, 'must be a job id (a positive whole number)');
export const jobIdParams = z.object({ id: jobId });

export const jobState = z.enum(JOB_STATES);
export const FINAL_STATES = ['completed', 'discarded', 'cancelled'] as const;
export const isFinal = (state: string): boolean => (FINAL_STATES as readonly string[]).includes(state);

const progress = z.object({ percent: z.number(), data: z.unknown(), at: z.string() });

/** A job as the API shows it (dates as ISO 8601; error stacks are kept server-side). */
export const jobView = z
  .object({
    id: z.string(),
    worker: z.string(),
    queue: z.string(),
    state: jobState,
    args: z.unknown(),
    tags: z.array(z.string()),
    priority: z.number().int(),
    attempt: z.number().int(),
    maxAttempts: z.number().int(),
    errors: z.array(z.object({ attempt: z.number().int(), at: z.string(), message: z.string(), name: z.string().optional() })),
    result: z.unknown(),
    progress: progress.nullable(),
    attemptedBy: z.string().nullable(),
    insertedAt: z.string(),
    scheduledAt: z.string(),
    attemptedAt: z.string().nullable(),
    completedAt: z.string().nullable(),
  })
  .describe('A job');

export type JobView = z.infer<typeof jobView>;

export function toJobView(job: Job): JobView {
  return {
    id: job.id,
    worker: job.worker,
    queue: job.queue,
    state: job.state,
    args: job.args,
    tags: [...job.tags],
    priority: job.priority,
    attempt: job.attempt,
    maxAttempts: job.maxAttempts,
    errors: job.errors.map((e) => (e.name === undefined ? { attempt: e.attempt, at: e.at, message: e.message } : { attempt: e.attempt, at: e.at, message: e.message, name: e.name })),
    result: job.result,
    progress: job.lastProgress === null ? null : { percent: job.lastProgress.percent, data: job.lastProgress.data, at: job.lastProgress.at },
    attemptedBy: job.attemptedBy,
    insertedAt: job.insertedAt.toISOString(),
    scheduledAt: job.scheduledAt.toISOString(),
    attemptedAt: job.attemptedAt?.toISOString() ?? null,
    completedAt: job.completedAt?.toISOString() ?? null,
  };
}

/** The worker behind each kind of job the API accepts, and its queue. */
export const JOB_KINDS = {
  image: { worker: 'process-image', queue: 'images', key: 'image' },
  document: { worker: 'generate-document', queue: 'documents', key: 'document' },
  email: { worker: 'send-email', queue: 'emails', key: 'email' },
  webhook: { worker: 'deliver-webhook', queue: 'webhooks', key: 'webhook' },
  export: { worker: 'export-data', queue: 'exports', key: 'exporter' },
} as const;
export type JobKind = keyof typeof JOB_KINDS;
export const WORKER_NAMES = ['process-image', 'generate-document', 'send-email', 'deliver-webhook', 'export-data'] as const;
