// The dashboard's JSON API, reads only (GET never changes anything): queues with their counts,
// finished jobs per minute, jobs (filtered, one keyset page at a time), one job in full, one
// workflow, schedules and nodes. Each route maps to one public Queue method.
import type { Job, QueueApi } from '../index.js';
import { HttpError } from './http.js';
import { checkId, intParam, listParams, queueParam } from './params.js';

/** What a matched route runs with. */
export interface RouteInput {
  readonly query: URLSearchParams;
  /** Reads the JSON body (actions only). */
  body(): Promise<unknown>;
}

/** A matched route: the one method it answers, and what it does. */
export interface Route {
  readonly method: 'GET' | 'POST';
  run(input: RouteInput): Promise<unknown>;
}

/** A job as listed: what a row of the table shows, without its args, result or stacks. */
export interface JobSummary {
  readonly id: string;
  readonly worker: string;
  readonly queue: string;
  readonly state: string;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly priority: number;
  readonly tags: readonly string[];
  readonly attemptedBy: string | null;
  readonly insertedAt: Date;
  readonly scheduledAt: Date;
  readonly completedAt: Date | null;
  readonly progress: number | null;
  readonly lastError: string | null;
  readonly workflow: Job['workflow'];
}

/** A listed job. */
export function summary(job: Job): JobSummary {
  const last = job.errors[job.errors.length - 1];
  return {
    id: job.id,
    worker: job.worker,
    queue: job.queue,
    state: job.state,
    attempt: job.attempt,
    maxAttempts: job.maxAttempts,
    priority: job.priority,
    tags: job.tags,
    attemptedBy: job.attemptedBy,
    insertedAt: job.insertedAt,
    scheduledAt: job.scheduledAt,
    completedAt: job.completedAt,
    progress: job.lastProgress?.percent ?? null,
    lastError: last === undefined ? null : `${last.name ? `${last.name}: ` : ''}${last.message}`.slice(0, 500),
    workflow: job.workflow,
  };
}

function get(run: (input: RouteInput) => Promise<unknown>): Route {
  return { method: 'GET', run };
}

function notFound(what: string): HttpError {
  return new HttpError(404, `No ${what}`);
}

/** The read route for `segments` (the path after `api/`), or undefined when there is none. */
export function readRoute(queue: QueueApi, segments: readonly string[]): Route | undefined {
  const [first, second, ...rest] = segments;
  if (rest.length > 0) return undefined;
  if (second === undefined) {
    switch (first) {
      case 'queues':
        return get(async () => ({ queues: await queue.queueStats() }));
      case 'throughput':
        return get(async ({ query }) => {
          const name = queueParam(query);
          const minutes = intParam(query, 'minutes', 1, 1440, 60);
          return { minutes: await queue.throughput({ minutes, ...(name === undefined ? {} : { queue: name }) }) };
        });
      case 'jobs':
        return get(async ({ query }) => {
          const page = await queue.listJobs(listParams(query));
          return { jobs: page.jobs.map(summary), next: page.next };
        });
      case 'schedules':
        return get(async () => ({ schedules: await queue.schedules.list() }));
      case 'nodes':
        return get(async () => ({ nodes: await queue.nodes() }));
      default:
        return undefined;
    }
  }
  if (first === 'jobs') {
    return get(async () => {
      const job = await queue.getJob(checkId(second, 'job id'));
      if (job === null) throw notFound(`job ${second}`);
      return { job };
    });
  }
  if (first === 'workflows') {
    return get(async () => {
      const workflow = await queue.getWorkflow(checkId(second, 'workflow id'));
      if (workflow === null) throw notFound(`workflow ${second}`);
      return { workflow };
    });
  }
  return undefined;
}
