// Which jobs a bulk action or a listing applies to: the filter users pass, checked, and turned
// into the five array parameters the control statements expect (NULL meaning "any").
import { ConfigError } from '../definitions/errors.js';
import type { Job, JobState } from '../definitions/job.js';
import { JOB_STATES } from '../definitions/job.js';
import { storableText } from '../definitions/storable-text.js';

/**
 * Selects jobs by id, queue, state, worker and tags. Every field set must match (tags: the job
 * carries all of them); a field left out matches anything. Lists match any of their values.
 *
 * @example
 * ```ts
 * await queue.cancelJobs({ queue: 'emails', state: ['available', 'scheduled'], tags: ['campaign-42'] });
 * ```
 */
export interface JobFilter {
  readonly ids?: readonly (string | number | bigint)[];
  readonly queue?: string | readonly string[];
  readonly state?: JobState | readonly JobState[];
  readonly worker?: string | readonly string[];
  readonly tags?: readonly string[];
}

/**
 * Options of {@link Queue.listJobs}: a filter, and keyset pagination by id.
 *
 * @example
 * ```ts
 * let page = await queue.listJobs({ queue: 'images', state: 'discarded', limit: 50 });
 * while (page.next) page = await queue.listJobs({ queue: 'images', state: 'discarded', limit: 50, after: page.next });
 * ```
 */
export interface ListJobsOptions extends JobFilter {
  /** The `next` cursor of the previous page. */
  readonly after?: string;
  /** Page size, 1–1000. Default 100. */
  readonly limit?: number;
  /** `'desc'` (default): newest first; `'asc'`: oldest first. */
  readonly order?: 'asc' | 'desc';
}

/**
 * One page of {@link Queue.listJobs}.
 *
 * @example
 * ```ts
 * const { jobs, next } = await queue.listJobs({ limit: 20 });
 * ```
 */
export interface JobPage<Args = unknown> {
  readonly jobs: readonly Job<Args>[];
  /** Pass as `after` for the next page; `null` on the last page. */
  readonly next: string | null;
}

const ID_RE = /^[1-9][0-9]{0,18}$/;
const MAX_ID = 9223372036854775807n;

/** Checks a job id; returns it as a decimal string. */
export function checkJobId(id: unknown, where = 'Job id'): string {
  const text = typeof id === 'string' || typeof id === 'number' || typeof id === 'bigint' ? String(id) : '';
  if (!ID_RE.test(text) || BigInt(text) > MAX_ID) throw new ConfigError(`${where}: invalid job id ${JSON.stringify(String(id))}`);
  return text;
}

/**
 * Values as a PostgreSQL array literal, every element quoted. The literal travels as a plain
 * string, which the server parses as the array type the statement casts it to: a JS array would
 * be sent by postgres.js without `fetch_types` as "a,b", which is no array at all.
 */
function arrayLiteral(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`;
}

function list(value: string | readonly string[] | undefined, what: string, check?: (v: string) => boolean): string | null {
  if (value === undefined) return null;
  const values = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(values) || values.some((v) => typeof v !== 'string' || (check !== undefined && !check(v)))) {
    throw new ConfigError(`Job filter: ${what} must be a string or an array of strings${check ? ' (valid values only)' : ''}`);
  }
  // PostgreSQL text holds neither: a NUL would fail the statement with a raw error, and a lone
  // surrogate would reach the server as U+FFFD and match other text.
  if (values.some((v) => !storableText(v))) throw new ConfigError(`Job filter: ${what} holds a NUL character or a lone surrogate, which PostgreSQL cannot store`);
  return arrayLiteral(values);
}

/** The filter as the five statement parameters; refuses an empty filter unless `allowAll`. */
export function filterParams(filter: JobFilter, allowAll: boolean): (string | null)[] {
  if (typeof filter !== 'object' || filter === null) throw new ConfigError('Job filter must be an object');
  const ids = filter.ids === undefined ? null : arrayLiteral(filter.ids.map((id) => checkJobId(id, 'Job filter ids')));
  const params = [
    ids,
    list(filter.queue, 'queue'),
    list(filter.state, 'state', (s) => (JOB_STATES as readonly string[]).includes(s)),
    list(filter.worker, 'worker'),
    list(filter.tags, 'tags'),
  ];
  if (!allowAll && params.every((p) => p === null)) {
    throw new ConfigError('Job filter is empty: name ids, queue, state, worker or tags (a bulk action on every job is refused)');
  }
  return params;
}
