/**
 * `docket/testing`: run and inspect jobs inside the host's own test suite (`drain`,
 * `assertEnqueued`, `refuteEnqueued`, `allEnqueued`).
 *
 * @module docket/testing
 */
// docket/testing: helpers for the host's own test suites, against their real database. A Queue
// created with `testing: 'manual'` runs jobs only when the test calls drain(); with 'inline',
// each insert runs its jobs before it returns. The matchers read what is enqueued.
//
// This entry is bundled apart from the main one, so it holds no runtime code of docket: it
// reaches the queue through a registered symbol and its public methods only.
import { AssertionError } from 'node:assert';
import { isDeepStrictEqual } from 'node:util';
import type { Job, JobState } from '../definitions/job.js';
import type { QueueApi } from '../queue-api.js';
import type { DrainOptions, DrainResult } from '../runtime/inline-runner.js';

export type { DrainOptions, DrainResult, DrainedJob } from '../runtime/inline-runner.js';

interface TestingHook {
  readonly mode: 'inline' | 'manual' | undefined;
  drain(options: DrainOptions): Promise<DrainResult>;
}

function hook(queue: QueueApi): TestingHook {
  const found = (queue as unknown as Record<symbol, TestingHook | undefined>)[Symbol.for('docket.testing')];
  if (found === undefined) throw new TypeError('docket/testing: expected a docket Queue');
  return found;
}

/**
 * Runs every available job of the queue's queues, one at a time, until none is left, and
 * returns how each attempt ended. Needs a Queue created with `testing: 'manual'` (or 'inline').
 *
 * @example
 * ```ts
 * const queue = new Queue({ connection: pool, workers: [sendEmail], testing: 'manual' });
 * await signUp('ada@example.org'); // inserts a sendEmail job
 * const { completed } = await drain(queue);
 * expect(completed).toBe(1);
 * ```
 */
export function drain(queue: QueueApi, options: DrainOptions = {}): Promise<DrainResult> {
  return hook(queue).drain(options);
}

/**
 * What to look for among enqueued jobs. `args` matches partially: every key given must be
 * equal (deeply); keys not given are ignored.
 *
 * @example
 * ```ts
 * const match: EnqueuedMatch = { worker: 'send-email', args: { to: 'ada@example.org' } };
 * ```
 */
export interface EnqueuedMatch {
  /** A Worker or a worker name. */
  readonly worker?: { readonly name: string } | string;
  readonly queue?: string;
  readonly args?: unknown;
  /** The job carries all of these tags. */
  readonly tags?: readonly string[];
  readonly priority?: number;
  /** Default: `available`, `scheduled` and `retryable` (jobs waiting to run). */
  readonly state?: JobState | readonly JobState[];
}

const WAITING: readonly JobState[] = ['available', 'scheduled', 'retryable'];

function partialMatch(actual: unknown, expected: unknown): boolean {
  if (expected !== null && typeof expected === 'object' && !Array.isArray(expected)) {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    return Object.entries(expected as Record<string, unknown>).every(([key, value]) =>
      partialMatch((actual as Record<string, unknown>)[key], value),
    );
  }
  return isDeepStrictEqual(actual, expected);
}

function describe(match: EnqueuedMatch): string {
  const worker = typeof match.worker === 'object' ? match.worker.name : match.worker;
  return JSON.stringify({ ...match, worker });
}

/**
 * Every enqueued job matching `match`, oldest first.
 *
 * @example
 * ```ts
 * const jobs = await allEnqueued(queue, { worker: sendEmail });
 * expect(jobs.map((j) => j.args)).toEqual([{ to: 'ada@example.org' }]);
 * ```
 */
export async function allEnqueued(queue: QueueApi, match: EnqueuedMatch = {}): Promise<Job[]> {
  const worker = typeof match.worker === 'object' ? match.worker.name : match.worker;
  const out: Job[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await queue.listJobs({
      order: 'asc',
      limit: 1000,
      state: match.state ?? WAITING,
      ...(worker === undefined ? {} : { worker }),
      ...(match.queue === undefined ? {} : { queue: match.queue }),
      ...(match.tags === undefined ? {} : { tags: match.tags }),
      ...(after === undefined ? {} : { after }),
    });
    for (const job of page.jobs) {
      if (match.priority !== undefined && job.priority !== match.priority) continue;
      if (match.args !== undefined && !partialMatch(job.args, match.args)) continue;
      out.push(job);
    }
    if (page.next === null) return out;
    after = page.next;
  }
}

/**
 * Asserts that at least one enqueued job matches; returns the first. The failure lists what
 * was enqueued instead.
 *
 * @example
 * ```ts
 * await assertEnqueued(queue, { worker: sendEmail, args: { to: 'ada@example.org' } });
 * ```
 */
export async function assertEnqueued(queue: QueueApi, match: EnqueuedMatch = {}): Promise<Job> {
  const [first] = await allEnqueued(queue, match);
  if (first !== undefined) return first;
  const nearby = await allEnqueued(queue, { ...(match.worker === undefined ? {} : { worker: match.worker }), state: match.state ?? WAITING });
  throw new AssertionError({
    message: `Expected a job matching ${describe(match)} to be enqueued; found ${
      nearby.length === 0 ? 'none of that worker' : nearby.map((j) => `${j.worker}#${j.id} ${JSON.stringify(j.args)}`).join(', ')
    }`,
    actual: nearby.map((j) => ({ worker: j.worker, queue: j.queue, args: j.args, state: j.state })),
    expected: match,
    operator: 'assertEnqueued',
  });
}

/**
 * Asserts that no enqueued job matches.
 *
 * @example
 * ```ts
 * await refuteEnqueued(queue, { worker: sendEmail, args: { to: 'banned@example.org' } });
 * ```
 */
export async function refuteEnqueued(queue: QueueApi, match: EnqueuedMatch = {}): Promise<void> {
  const found = await allEnqueued(queue, match);
  if (found.length === 0) return;
  throw new AssertionError({
    message: `Expected no job matching ${describe(match)} to be enqueued; found ${found.map((j) => `${j.worker}#${j.id}`).join(', ')}`,
    actual: found.map((j) => ({ worker: j.worker, queue: j.queue, args: j.args, state: j.state })),
    expected: [],
    operator: 'refuteEnqueued',
  });
}
