// Unique jobs: the options users pass, and the key a job's identity hashes to. The database
// enforces uniqueness (a partial unique index and INSERT ... ON CONFLICT); this module only
// decides what "the same job" means.
import { createHash } from 'node:crypto';
import { ConfigError } from '../definitions/errors.js';
import type { Job, JobState } from '../definitions/job.js';
import { JOB_STATES } from '../definitions/job.js';

/**
 * What makes two jobs "the same": `'worker'`, `'queue'`, `'args'` (all of them), or a list of
 * arg keys (only those args).
 *
 * @example
 * ```ts
 * const by: UniqueBy = ['worker', ['userId']]; // one job per worker and user, whatever the other args
 * ```
 */
export type UniqueBy = readonly ('worker' | 'queue' | 'args' | readonly string[])[];

/**
 * Insert option `unique`: at most one job with the same identity in the given states.
 *
 * @example
 * ```ts
 * const { job, duplicate } = await queue.insert(sendDigest, { userId }, {
 *   unique: { by: ['worker', ['userId']], period: 3600 },
 * });
 * ```
 */
export interface UniqueOptions {
  /** Default `['worker', 'queue', 'args']`. */
  readonly by?: UniqueBy;
  /**
   * Seconds: the identity holds within one window of this length (windows are aligned to the
   * epoch, by the database clock), or `'infinity'` (default) for as long as a job is in `states`.
   */
  readonly period?: number | 'infinity';
  /**
   * States in which an existing job blocks a new one. Default: every state but `completed`,
   * `discarded` and `cancelled`. Must include `available`, `scheduled`, `executing` and
   * `retryable`, so a job's own retries never collide with a newer copy.
   */
  readonly states?: readonly JobState[];
}

/**
 * What a unique insert returns: the job, and whether it already existed (then `job` is the
 * existing one, in whatever state it is, `executing` included).
 *
 * @example
 * ```ts
 * const { job, duplicate } = await queue.insert(worker, args, { unique: {} });
 * if (duplicate) log.info(`already queued as ${job.id}`);
 * ```
 */
export interface UniqueInsert<Args = unknown> {
  readonly job: Job<Args>;
  readonly duplicate: boolean;
}

const REQUIRED: readonly JobState[] = ['available', 'scheduled', 'executing', 'retryable'];
const DEFAULT_STATES: readonly JobState[] = REQUIRED;
const DEFAULT_BY: UniqueBy = ['worker', 'queue', 'args'];

/** Checked unique options. */
export interface ResolvedUnique {
  readonly by: UniqueBy;
  /** Window length in seconds, or null for no window. */
  readonly period: number | null;
  readonly states: readonly JobState[];
}

/** Validates `unique`; throws ConfigError naming the problem. */
export function resolveUnique(options: UniqueOptions, where: string): ResolvedUnique {
  if (typeof options !== 'object' || options === null) throw new ConfigError(`${where}: unique must be an object`);
  const by = options.by ?? DEFAULT_BY;
  if (!Array.isArray(by) || by.length === 0) {
    throw new ConfigError(`${where}: unique.by must be a non-empty array of 'worker', 'queue', 'args' or a list of arg keys`);
  }
  for (const part of by) {
    const ok =
      part === 'worker' ||
      part === 'queue' ||
      part === 'args' ||
      (Array.isArray(part) && part.length > 0 && part.every((k) => typeof k === 'string' && k.length > 0));
    if (!ok) {
      throw new ConfigError(`${where}: unique.by has ${JSON.stringify(part)}; use 'worker', 'queue', 'args' or a non-empty list of arg keys`);
    }
  }
  let period: number | null = null;
  if (options.period !== undefined && options.period !== 'infinity') {
    if (typeof options.period !== 'number' || !Number.isInteger(options.period) || options.period < 1) {
      throw new ConfigError(`${where}: unique.period must be a whole number of seconds >= 1 or 'infinity', got ${String(options.period)}`);
    }
    period = options.period;
  }
  const states = options.states ?? DEFAULT_STATES;
  if (!Array.isArray(states) || states.some((s) => !(JOB_STATES as readonly string[]).includes(s))) {
    throw new ConfigError(`${where}: unique.states must list job states (${JOB_STATES.join(', ')})`);
  }
  const missing = REQUIRED.filter((s) => !states.includes(s));
  if (missing.length > 0) {
    throw new ConfigError(`${where}: unique.states must include ${missing.join(', ')} (a job in those states is still pending)`);
  }
  return { by, period, states: [...new Set(states)].sort() };
}

// JSON with object keys sorted at every depth, so {a,b} and {b,a} are the same job.
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * The identity of one job, hashed. The window (period) is appended by the database, whose
 * clock decides which window a job falls in.
 */
export function uniqueKey(unique: ResolvedUnique, worker: string, queue: string, args: unknown): string {
  const parts: unknown[] = [];
  for (const part of unique.by) {
    if (part === 'worker') parts.push(['w', worker]);
    else if (part === 'queue') parts.push(['q', queue]);
    else if (part === 'args') parts.push(['a', args]);
    else {
      const source = (typeof args === 'object' && args !== null ? args : {}) as Record<string, unknown>;
      parts.push(['k', part.map((k) => [k, source[k] ?? null])]);
    }
  }
  // The states are part of the identity: jobs unique in different states never block each other.
  parts.push(['s', unique.states]);
  return createHash('sha256').update(canonical(parts)).digest('hex');
}
