// Turns insert calls into rows: validates args with the worker's zod schema and checks options,
// so a bad job throws before anything reaches the database. Also picks the NOTIFY hint.
import { ArgsValidationError, ConfigError } from '../definitions/errors.js';
import type { UniqueOptions } from './unique.js';
import { hintPayload } from '../engine/notice.js';
import type { InsertBatch } from '../engine/types.js';
import type { Worker } from '../definitions/worker.js';
import { checkInt } from '../definitions/worker.js';
import { storableText } from '../definitions/storable-text.js';
import { encodeArgs, storableJson } from './args-json.js';
import { MAX_DELAY_MS } from '../definitions/limits.js';

/**
 * Per-insert options; each overrides the worker's default.
 *
 * @example
 * ```ts
 * await queue.insert(sendEmail, args, { delay: 60_000, priority: -1, tags: ['welcome'] });
 * await pool.query('BEGIN'); await queue.insert(sendEmail, args, { tx: client }); await pool.query('COMMIT');
 * ```
 */
export interface InsertOptions {
  /** Lower runs first (-32768..32767). */
  readonly priority?: number;
  /** Run no earlier than this time. Mutually exclusive with `delay`. */
  readonly scheduledAt?: Date;
  /** Run no earlier than this many ms from now, by the database clock. */
  readonly delay?: number;
  readonly maxAttempts?: number;
  /** Added to the worker's tags. */
  readonly tags?: readonly string[];
  /**
   * Stored with every job of the call as `job.meta` (a JSON object, at most 64 KiB): what is
   * about the job rather than its work, e.g. a request id. Middleware may add to it
   * (docket/opentelemetry writes `traceparent`); the Cron plugin writes `cron`.
   */
  readonly meta?: Readonly<Record<string, unknown>>;
  /**
   * The host's transaction: a `pg` client inside BEGIN, or the `tx` of postgres.js's
   * `sql.begin(tx => ...)`. The job exists, and workers wake for it, only if that commits.
   */
  readonly tx?: unknown;
  /** Only in {@link UniqueInsertOptions} (the insert then returns `{ job, duplicate }`). */
  readonly unique?: undefined;
}

/**
 * Insert options with `unique`: the insert then returns `{ job, duplicate }`.
 *
 * @example
 * ```ts
 * const { job, duplicate } = await queue.insert(syncAccount, { accountId }, { unique: { by: ['worker', ['accountId']] } });
 * ```
 */
export interface UniqueInsertOptions extends Omit<InsertOptions, 'unique'> {
  /** At most one such job in the given states; see {@link UniqueOptions}. */
  readonly unique: UniqueOptions;
}

/** Validates args against the worker's schema; returns the parsed (possibly transformed) value. */
export function parseArgs(worker: Worker, args: unknown, index?: number): unknown {
  const parsed = worker.args.safeParse(args);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({
    path: issue.path.map((p) => (typeof p === 'symbol' ? p.toString() : p)),
    message: issue.message,
  }));
  throw new ArgsValidationError(worker.name, issues, index);
}

/** How args are encoded: the byte limit, and whether errors name the item (insertMany). */
export interface ArgsEncoding {
  readonly maxBytes: number;
  readonly indexed: boolean;
}

/** Builds the batch for jobs of one worker sharing one set of options; args encoded and checked. */
export function buildBatch(worker: Worker, args: readonly unknown[], options: Omit<InsertOptions, 'unique'>, encoding: ArgsEncoding): InsertBatch {
  const where = `insert into "${worker.name}"`;
  if (options.scheduledAt !== undefined && options.delay !== undefined) {
    throw new ConfigError(`${where}: give either scheduledAt or delay, not both`);
  }
  let scheduledAt: string | null = null;
  if (options.scheduledAt !== undefined) {
    const time = options.scheduledAt instanceof Date ? options.scheduledAt.getTime() : Number.NaN;
    if (Number.isNaN(time) || time < MIN_SCHEDULED_AT || time > MAX_SCHEDULED_AT) {
      throw new ConfigError(`${where}: scheduledAt must be a valid Date between the years 1 and 9999, got ${describeDate(options.scheduledAt)}`);
    }
    scheduledAt = options.scheduledAt.toISOString();
  }
  let delay = 0;
  if (options.delay !== undefined) {
    if (typeof options.delay !== 'number' || !Number.isFinite(options.delay) || options.delay < 0 || options.delay > MAX_DELAY_MS) {
      throw new ConfigError(`${where}: delay must be a number of ms from 0 to ${MAX_DELAY_MS} (100 years), got ${String(options.delay)}`);
    }
    delay = options.delay;
  }
  const tags = checkTags(options.tags, where);
  const meta = options.meta === undefined ? undefined : copyMeta(options.meta, where);
  return {
    meta,
    meta_json: meta === undefined ? '{}' : encodeMeta(meta, where),
    queue: worker.queue,
    worker: worker.name,
    args,
    args_json: encodeArgs(worker.name, args, encoding.maxBytes, encoding.indexed),
    tags: [...new Set([...worker.tags, ...tags])],
    priority: options.priority === undefined ? worker.priority : checkInt(options.priority, -32768, 32767, `${where}: priority`),
    max_attempts:
      options.maxAttempts === undefined ? worker.maxAttempts : checkInt(options.maxAttempts, 1, 32767, `${where}: maxAttempts`),
    scheduled_at: scheduledAt,
    delay_ms: delay,
  };
}

// scheduledAt within the years 1..9999: toISOString() writes other years in a form
// (e.g. +275760-09-13) that PostgreSQL does not read.
const MIN_SCHEDULED_AT = new Date('0001-01-01T00:00:00.000Z').getTime();
const MAX_SCHEDULED_AT = new Date('9999-12-31T23:59:59.999Z').getTime();

function describeDate(value: unknown): string {
  if (!(value instanceof Date)) return typeof value;
  return Number.isNaN(value.getTime()) ? 'an Invalid Date' : `${value.getTime()} ms since 1970`;
}

/** The most bytes of JSON a job's meta may take. */
export const MAX_META_BYTES = 64 * 1024;

/** A shallow copy of a meta option, refused (ConfigError naming `where`) unless a plain object. */
export function copyMeta(meta: unknown, where: string): Record<string, unknown> {
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) {
    throw new ConfigError(`${where}: meta must be a plain object of JSON values, got ${Array.isArray(meta) ? 'an array' : meta === null ? 'null' : typeof meta}`);
  }
  return { ...(meta as Record<string, unknown>) };
}

/** Encodes meta as stored: a JSON object of storable text, at most MAX_META_BYTES; a ConfigError naming `where` otherwise. */
export function encodeMeta(meta: Readonly<Record<string, unknown>>, where: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(meta);
  } catch (error) {
    throw new ConfigError(`${where}: meta cannot be stored as JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (text === undefined || !text.startsWith('{')) throw new ConfigError(`${where}: meta must be a plain object of JSON values`);
  if (!storableJson(text)) throw new ConfigError(`${where}: meta holds a NUL character or a lone surrogate, which PostgreSQL cannot store`);
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_META_BYTES) throw new ConfigError(`${where}: meta is ${bytes} bytes of JSON, over the limit of ${MAX_META_BYTES}`);
  return text;
}

/** Checks tags given to an insert (or a workflow): undefined is none; a ConfigError naming `where` otherwise. */
export function checkTags(tags: unknown, where: string): string[] {
  if (tags === undefined) return [];
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string' || t.length === 0 || t.length > 255 || !storableText(t))) {
    throw new ConfigError(`${where}: tags must be an array of non-empty strings (at most 255 characters, no NUL or lone surrogates)`);
  }
  return tags as string[];
}

/** The hint for a batch. A scheduledAt in the past is due at once, so the queue is always named. */
export function notifyHint(batch: InsertBatch): string {
  return hintPayload([batch.queue], batch.scheduled_at !== null || batch.delay_ms > 0);
}
