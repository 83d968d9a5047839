// Rows to Jobs for what the engine returns: a claimed row (with its claim token and wait), and
// the Job an insert produced from its batch and what the database assigned.
import type { Job, JobError, JobProgress, JobRow, JobState, RunningWorkflow } from '../definitions/job.js';
import { NO_ERRORS, NO_META, NO_TAGS, metaOf, rowToJob } from '../definitions/job.js';
import type { FetchedJob, InsertBatch } from './types.js';

/** A row claimed by a fetch, as the runtime takes it (`workflow_ref`: see workflowRef in sql/columns.ts). */
export function fetchedJob(row: JobRow & { claim: string; queue_ms: number; workflow_ref: string | null }): FetchedJob {
  const job = rowToJob(row);
  const ref = row.workflow_ref === null ? null : (JSON.parse(row.workflow_ref) as [string, string, string]);
  return { job: ref === null ? job : { ...job, workflow: runningWorkflow(ref) }, claim: row.claim, queueMs: Math.max(0, Number(row.queue_ms)) };
}

/** A claimed step's workflow: what perform sees as `job.workflow` (the name travels with it). */
function runningWorkflow(ref: [string, string, string] | null): RunningWorkflow | null {
  return ref === null ? null : { id: ref[0], name: ref[1], step: ref[2] };
}

/** A claimed row packed by packedClaim (sql/columns.ts), as the runtime takes it. */
export function packedFetchedJob(packed: string, queue: string, nodeId: string): FetchedJob {
  const [id, claim, worker, args, tags, priority, attempt, maxAttempts, errors, result, progress, insertedAt, scheduledAt, attemptedAt, queueMs, wf, meta] =
    JSON.parse(packed) as [string, string, string, unknown, string[], number, number, number, JobError[], unknown, JobProgress | null, number, number, number, number, [string, string, string] | null, Record<string, unknown>];
  const job: Job = {
    id,
    worker,
    queue,
    state: 'executing',
    args,
    tags: tags.length === 0 ? NO_TAGS : tags,
    priority,
    attempt,
    maxAttempts,
    errors: errors.length === 0 ? NO_ERRORS : errors,
    result,
    attemptedBy: nodeId,
    lastProgress: progress,
    insertedAt: new Date(insertedAt),
    scheduledAt: new Date(scheduledAt),
    attemptedAt: new Date(attemptedAt),
    completedAt: null,
    workflow: runningWorkflow(wf),
    meta: metaOf(meta),
  };
  return { job, claim, queueMs: Math.max(0, queueMs) };
}

/** A job just inserted from `batch` (or a workflow step's row), as the database assigned its id, state and times (ms). */
export function insertedJob(
  batch: Pick<InsertBatch, 'queue' | 'worker' | 'tags' | 'priority' | 'max_attempts' | 'meta'>,
  id: string,
  args: unknown,
  state: JobState,
  insertedAt: number,
  scheduledAt: number,
): Job {
  return {
    id,
    worker: batch.worker,
    queue: batch.queue,
    state,
    args,
    tags: batch.tags,
    priority: batch.priority,
    attempt: 0,
    maxAttempts: batch.max_attempts,
    errors: [],
    result: null,
    attemptedBy: null,
    lastProgress: null,
    insertedAt: new Date(insertedAt),
    scheduledAt: new Date(scheduledAt),
    attemptedAt: null,
    completedAt: null,
    workflow: null,
    meta: batch.meta ?? NO_META,
  };
}

/** Parameters $1..$10 shared by the insert statements (plain and keyed); `rowsJson` is $3. */
export function insertParams(batch: InsertBatch, rowsJson: string, channel: string, notify: string | null): unknown[] {
  return [
    batch.queue,
    batch.worker,
    rowsJson,
    JSON.stringify(batch.tags),
    batch.priority,
    batch.max_attempts,
    batch.scheduled_at,
    batch.delay_ms,
    channel,
    notify,
  ];
}
