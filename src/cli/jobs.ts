// `docket jobs list|get|retry|cancel|discard|delete`: find jobs by filter with keyset paging,
// read one, and act on one (by id) or on many (by filter). A bulk action needs at least one
// filter or an explicit --all, so that no slip of the keyboard touches every job.
import { JOB_STATES } from '../index.js';
import type { Job, JobFilter, JobState, Queue } from '../index.js';
import type { OptionSpecs, Values } from './args.js';
import { choiceValue, idArgument, intValue, listValue, stringValue } from './args.js';
import type { Action, Command } from './command.js';
import { CliError, EXIT, UsageError } from './exit.js';
import { JOB_COLUMNS, jobRow, printJob } from './job-view.js';

const FILTER_OPTIONS: OptionSpecs = {
  queue: { type: 'string', multiple: true, value: '<name>', help: 'jobs of this queue (repeat or comma-separate for any of several)' },
  state: { type: 'string', multiple: true, value: '<state>', help: `jobs in this state: ${JOB_STATES.join(', ')} (repeat or comma-separate)` },
  worker: { type: 'string', multiple: true, value: '<name>', help: 'jobs of this worker (repeat or comma-separate)' },
  tag: { type: 'string', multiple: true, value: '<tag>', help: 'jobs carrying this tag (repeat: all of them)' },
  id: { type: 'string', multiple: true, value: '<id>', help: 'jobs with this id (repeat or comma-separate)' },
};

/** The JobFilter the filter options describe; `{}` when none was given. */
function filterFrom(values: Values): JobFilter {
  const queue = listValue(values, 'queue');
  const worker = listValue(values, 'worker');
  const tags = listValue(values, 'tag', false);
  const ids = listValue(values, 'id').map((id) => idArgument(id, '--id: job'));
  const state = listValue(values, 'state');
  const bad = state.find((s) => !(JOB_STATES as readonly string[]).includes(s));
  if (bad !== undefined) throw new UsageError(`--state must be one of ${JOB_STATES.join(', ')}, got "${bad}"`);
  return {
    ...(queue.length > 0 ? { queue } : {}),
    ...(state.length > 0 ? { state: state as JobState[] } : {}),
    ...(worker.length > 0 ? { worker } : {}),
    ...(tags.length > 0 ? { tags } : {}),
    ...(ids.length > 0 ? { ids } : {}),
  };
}

const list: Command = {
  words: ['jobs', 'list'],
  summary: 'list jobs, newest first, filtered, one page at a time',
  arity: [0, 0],
  options: {
    ...FILTER_OPTIONS,
    limit: { type: 'string', value: '<n>', help: 'jobs per page, 1-1000 (default 50)' },
    after: { type: 'string', value: '<cursor>', help: 'the page after this cursor (printed under the previous page)' },
    order: { type: 'string', value: 'desc|asc', help: 'newest first (desc, the default) or oldest first' },
  },
  details: [
    'Example: docket jobs list --queue emails --state discarded,retryable --limit 20',
    'JSON: { jobs: Job[], next: cursor | null } (see queue.listJobs()).',
  ].join('\n'),
  prepare(values) {
    const filter = filterFrom(values);
    const limit = intValue(values, 'limit', 1, 1000) ?? 50;
    const after = stringValue(values, 'after');
    if (after !== undefined && !/^[1-9][0-9]{0,18}$/.test(after)) {
      throw new UsageError(`--after must be the cursor printed under a previous page (a job id), got "${after}"`);
    }
    const order = choiceValue(values, 'order', ['desc', 'asc'] as const) ?? 'desc';
    return async ({ queue, out, json, now }) => {
      const page = await queue.listJobs({ ...filter, limit, order, ...(after === undefined ? {} : { after }) });
      if (json) return out.json({ jobs: page.jobs, next: page.next });
      if (page.jobs.length === 0) {
        out.line(after === undefined ? 'no jobs match' : 'no more jobs');
        return;
      }
      out.table(JOB_COLUMNS, page.jobs.map((job) => jobRow(out, job, now)));
      if (page.next !== null) out.line(out.paint('dim', `next page: --after ${page.next}`));
    };
  },
};

const get: Command = {
  words: ['jobs', 'get'],
  summary: "one job: its fields, args, result, errors and progress",
  args: '<id>',
  arity: [1, 1],
  options: {},
  details: 'JSON: the Job (see queue.getJob()). Exit 1 when there is no such job.',
  prepare(_values, [text]) {
    const id = idArgument(text, 'job');
    return async ({ queue, out, json, now }) => {
      const job = await queue.getJob(id);
      if (job === null) throw new CliError(EXIT.failed, `job ${id} not found`);
      if (json) out.json(job);
      else printJob(out, job, now);
    };
  },
};

interface ActionSpec {
  readonly verb: 'retry' | 'cancel' | 'discard' | 'delete';
  readonly past: string;
  readonly summary: string;
  /** The state the job is in once the action worked; undefined for delete. */
  readonly target?: JobState;
  readonly one: (queue: Queue, id: string, reason: string | undefined) => Promise<Job | null>;
  readonly many: (queue: Queue, filter: JobFilter, reason: string | undefined) => Promise<number>;
  readonly reason?: boolean;
}

const ACTIONS: readonly ActionSpec[] = [
  {
    verb: 'retry',
    past: 'retried',
    summary: 'run jobs again now (scheduled, retryable, completed, discarded or cancelled ones)',
    target: 'available',
    one: (queue, id) => queue.retry(id),
    many: (queue, filter) => queue.retryJobs(filter),
  },
  {
    verb: 'cancel',
    past: 'cancelled',
    summary: 'cancel unfinished jobs (a running one is aborted on its node)',
    target: 'cancelled',
    reason: true,
    one: (queue, id, reason) => queue.cancel(id, reason),
    many: (queue, filter, reason) => queue.cancelJobs(filter, reason),
  },
  {
    verb: 'discard',
    past: 'discarded',
    summary: 'discard unfinished jobs (like cancel, but they end discarded)',
    target: 'discarded',
    reason: true,
    one: (queue, id, reason) => queue.discard(id, reason),
    many: (queue, filter, reason) => queue.discardJobs(filter, reason),
  },
  {
    verb: 'delete',
    past: 'deleted',
    summary: 'delete jobs in any state (a running one is aborted on its node)',
    one: (queue, id) => queue.delete(id),
    many: (queue, filter) => queue.deleteJobs(filter),
  },
];

function oneJob(spec: ActionSpec, id: string, reason: string | undefined): Action {
  return async ({ queue, out, json }) => {
    const job = await spec.one(queue, id, reason);
    if (job === null) throw new CliError(EXIT.failed, `job ${id} not found`);
    if (json) out.json(job);
    // The API returns the job as it is now: unchanged when the action did not apply to it.
    if (spec.target !== undefined && job.state !== spec.target) {
      throw new CliError(EXIT.failed, `job ${id} was not ${spec.past}: it is ${job.state}`);
    }
    if (!json) out.line(`job ${id} (${job.worker} on ${job.queue}) ${spec.past}${spec.target === 'available' ? ': available' : ''}`);
  };
}

function actionCommand(spec: ActionSpec): Command {
  return {
    words: ['jobs', spec.verb],
    summary: spec.summary,
    args: '[<id>]',
    arity: [0, 1],
    options: {
      ...FILTER_OPTIONS,
      all: { type: 'boolean', help: `${spec.verb} every job (instead of filters)` },
      ...(spec.reason ? { reason: { type: 'string', value: '<text>', help: 'why, stored in the job\'s errors' } } : {}),
    },
    details: [
      `One job by id, or every job matching the filters: docket jobs ${spec.verb} --queue webhooks --state discarded`,
      'A bulk action needs at least one filter, or --all.',
      `JSON: the Job (by id), or { count } (by filter). Exit 1 when the job is not found${spec.target ? ` or could not be ${spec.past}` : ''}.`,
    ].join('\n'),
    prepare(values, [text]) {
      const filter = filterFrom(values);
      const reason = spec.reason ? stringValue(values, 'reason') : undefined;
      const all = values.all === true;
      const filtered = Object.keys(filter).length > 0;
      if (text !== undefined) {
        if (filtered || all) throw new UsageError('give a job id, or filters or --all, not both');
        return oneJob(spec, idArgument(text, 'job'), reason);
      }
      if (all && filtered) throw new UsageError('--all cannot be combined with filters');
      if (!all && !filtered) {
        throw new UsageError(`"docket jobs ${spec.verb}" needs a job id, a filter (--queue, --state, --worker, --tag, --id) or --all`);
      }
      // The API refuses an empty filter on purpose; every state is the explicit "all jobs".
      const effective: JobFilter = all ? { state: [...JOB_STATES] } : filter;
      return async ({ queue, out, json }) => {
        const count = await spec.many(queue, effective, reason);
        if (json) out.json({ count });
        else out.line(`${spec.past} ${count} job${count === 1 ? '' : 's'}`);
      };
    },
  };
}

/** The `jobs` commands. */
export const jobCommands: readonly Command[] = [list, get, ...ACTIONS.map(actionCommand)];
