// Admin routes, all behind the admin API key (auth.ts): queue status, pause/resume/scale (every
// node obeys within a moment: docket persists the control and NOTIFYs the cluster), recent
// jobs, retry/cancel one job, a manual prune (the pruned jobs' files go too) and a manual
// rescue. app.ts registers this plugin only when a key is configured, or INSECURE_DEV opens it.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Job, QueueStats } from 'docket';
import { JOB_STATES } from 'docket';
import type { AdminAccess } from '../auth.js';
import { requireApiKey } from '../auth.js';
import { QUEUES } from '../jobs/schemas.js';
import { queueStateCode } from '../metrics.js';
import type { AppDeps, RouteOptions } from './common.js';
import { FINAL_STATES, errors, jobIdParams, jobState, jobView, notFound, toJobView } from './common.js';

const STATE_NAMES = ['stopped', 'running', 'paused'] as const;

export const queueView = z
  .object({
    name: z.string(),
    state: z.enum(STATE_NAMES).describe('paused on every node, running here, or stopped here'),
    paused: z.boolean(),
    limit: z.number().int().describe('Effective per-node limit: the scaled one when set, else this node\'s'),
    concurrency: z.number().int().nullable().describe('Per-node limit set with scale (null: each node\'s own)'),
    localConcurrency: z.number().int().nullable().describe('This node\'s limit (null: this node does not run the queue)'),
    configuredLimit: z.number().int().nullable().describe('QUEUE_<NAME>_LIMIT of this node'),
    counts: z.record(z.enum(JOB_STATES), z.number().int()),
    total: z.number().int(),
    oldestAvailableMs: z.number().nullable(),
  })
  .describe('A queue');
export type QueueView = z.infer<typeof queueView>;

const queueParams = z.object({ name: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'must be a queue name') });
const STALE_NODE_MS = 10_000;
const PAGE = 1000;

export const adminRoutes: FastifyPluginAsyncZod<RouteOptions & { access: AdminAccess }> = async (app, options) => {
  const { queue, config } = options;
  app.addHook('onRequest', requireApiKey(options.access));
  const secured = { security: [{ apiKey: [] }], tags: ['admin'] };
  const configured = config.queues as Record<string, number>;

  const view = (q: QueueStats): QueueView => ({
    name: q.name,
    state: STATE_NAMES[queueStateCode(q, queue.running)],
    paused: q.paused,
    limit: q.concurrency ?? q.localConcurrency ?? 0,
    concurrency: q.concurrency,
    localConcurrency: q.localConcurrency,
    configuredLimit: configured[q.name] ?? null,
    counts: { ...q.counts },
    total: q.total,
    oldestAvailableMs: q.oldestAvailableMs,
  });
  const one = async (name: string): Promise<QueueView> => {
    const found = (await queue.queueStats()).find((q) => q.name === name);
    if (found !== undefined) return view(found);
    if (!(QUEUES as readonly string[]).includes(name)) throw notFound(`No queue ${name}`);
    const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as QueueStats['counts'];
    return view({ name, paused: false, concurrency: null, localConcurrency: null, counts, total: 0, oldestAvailableMs: null });
  };
  const known = (name: string) => {
    if (!(QUEUES as readonly string[]).includes(name)) throw notFound(`No queue ${name}: the queues are ${QUEUES.join(', ')}`);
  };

  app.get(
    '/admin/queues',
    { schema: { ...secured, summary: 'Every queue: state, limits, jobs by state', response: { 200: z.object({ queues: z.array(queueView) }), ...errors(401, 403) } } },
    async () => {
      const stats = await queue.queueStats();
      const names = new Set(stats.map((q) => q.name));
      const views = stats.map(view);
      for (const name of QUEUES) if (!names.has(name)) views.push(await one(name));
      return { queues: views.sort((a, b) => a.name.localeCompare(b.name)) };
    },
  );

  app.get(
    '/admin/queues/:name',
    { schema: { ...secured, summary: 'One queue', params: queueParams, response: { 200: queueView, ...errors(400, 401, 403, 404) } } },
    async (request) => one(request.params.name),
  );

  for (const action of ['pause', 'resume'] as const) {
    app.post(
      `/admin/queues/:name/${action}`,
      { schema: { ...secured, summary: `${action === 'pause' ? 'Pause' : 'Resume'} a queue on every node`, params: queueParams, response: { 200: queueView, ...errors(400, 401, 403, 404) } } },
      async (request) => {
        known(request.params.name);
        await (action === 'pause' ? queue.pauseQueue(request.params.name) : queue.resumeQueue(request.params.name));
        request.log.info({ queue: request.params.name }, `queue ${action}d by an operator`);
        return one(request.params.name);
      },
    );
  }

  app.post(
    '/admin/queues/:name/scale',
    {
      schema: {
        ...secured,
        summary: 'Set how many jobs of a queue run at once per node, on every node (null: back to each node\'s own)',
        params: queueParams,
        body: z.strictObject({ limit: z.number().int().min(0).max(10_000).nullable() }),
        response: { 200: queueView, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      known(request.params.name);
      await queue.scaleQueue(request.params.name, request.body.limit);
      request.log.info({ queue: request.params.name, limit: request.body.limit }, 'queue scaled by an operator');
      return one(request.params.name);
    },
  );

  app.get(
    '/admin/jobs/recent',
    {
      schema: {
        ...secured,
        summary: 'Recent jobs, newest first (filter by queue and state; page with `after`)',
        querystring: z.strictObject({
          limit: z.coerce.number().int().min(1).max(200).default(50),
          queue: z.string().min(1).max(100).optional(),
          state: jobState.optional(),
          after: z.string().regex(/^[1-9][0-9]{0,18}$/, 'must be a job id').optional(),
        }),
        response: { 200: z.object({ jobs: z.array(jobView), next: z.string().nullable() }), ...errors(400, 401, 403) },
      },
    },
    async (request) => {
      const { limit, queue: name, state, after } = request.query;
      const page = await queue.listJobs({ limit, ...(name ? { queue: name } : {}), ...(state ? { state } : {}), ...(after ? { after } : {}) });
      return { jobs: page.jobs.map(toJobView), next: page.next };
    },
  );

  for (const action of ['retry', 'cancel'] as const) {
    app.post(
      `/admin/jobs/:id/${action}`,
      { schema: { ...secured, summary: action === 'retry' ? 'Run a job again now' : 'Cancel a job (a running one is aborted on its node)', params: jobIdParams, response: { 200: jobView, ...errors(400, 401, 403, 404) } } },
      async (request) => {
        const job = action === 'retry' ? await queue.retry(request.params.id) : await queue.cancel(request.params.id, 'cancelled by an operator');
        if (job === null) throw notFound(`No job ${request.params.id}`);
        // A job cancelled here is final: its upload goes now (docket emits job:cancel only for a worker's own cancel).
        if (action === 'cancel') await app.storageSweeper.jobFinished(job);
        return toJobView(job);
      },
    );
  }

  app.post(
    '/admin/jobs/prune',
    {
      schema: {
        ...secured,
        summary: 'Delete finished jobs older than a given age (bounded per call)',
        body: z
          .strictObject({
            olderThanSeconds: z.number().int().min(0).max(3650 * 86_400).optional().describe('Default: PRUNER_MAX_AGE'),
            states: z.array(z.enum(FINAL_STATES)).min(1).optional().describe('Default: completed, discarded, cancelled'),
            queue: z.enum(QUEUES).optional(),
            limit: z.number().int().min(1).max(100_000).default(10_000).describe('At most this many deleted per call'),
          })
          .default({ limit: 10_000 }),
        response: { 200: z.object({ deleted: z.number().int(), scanned: z.number().int(), more: z.boolean() }), ...errors(400, 401, 403) },
      },
    },
    async (request) => {
      const b = request.body;
      const result = await prune(options, {
        olderThanMs: (b.olderThanSeconds ?? Math.round(config.prunerMaxAgeMs / 1000)) * 1000,
        states: b.states ?? [...FINAL_STATES],
        ...(b.queue ? { queue: b.queue } : {}),
        limit: b.limit,
        // The pruned jobs' files go with them; a sweep then catches whatever else is left.
        deleted: (jobs) => app.storageSweeper.jobsDeleted(jobs),
      });
      app.storageSweeper.request();
      request.log.info(result, 'jobs pruned by an operator');
      return result;
    },
  );

  app.post(
    '/admin/jobs/rescue',
    {
      schema: {
        ...secured,
        summary: 'Run again the jobs stuck executing on nodes that stopped heartbeating',
        description: `What the Lifeline plugin does on its ticks, now (docket's queue.rescueJobs()): jobs executing on a node that has not sent a heartbeat for ${STALE_NODE_MS / 1000} s, or attempted longer than rescueAfterSeconds ago by a node that left no heartbeat at all, are made retryable (discarded when out of attempts); a late result of the lost attempt is refused. Jobs of live nodes are never touched.`,
        querystring: z.strictObject({ rescueAfterSeconds: z.coerce.number().int().min(1).max(30 * 86_400).optional().describe('Default: LIFELINE_RESCUE_AFTER') }),
        response: { 200: z.object({ rescued: z.array(z.string()) }), ...errors(400, 401, 403) },
      },
    },
    async (request) => {
      const after = request.query.rescueAfterSeconds ?? Math.max(1, Math.round(config.lifelineRescueAfterMs / 1000));
      const jobs = await queue.rescueJobs({ staleAfter: STALE_NODE_MS, rescueAfter: after * 1000 });
      const result = { rescued: jobs.map((j) => j.id) };
      if (result.rescued.length > 0) request.log.warn(result, 'stuck jobs rescued by an operator');
      return result;
    },
  );
};

/** The database clock in ms (the job timestamps come from it), or this process's without a pool. */
async function dbNow(pool: AppDeps['pool']): Promise<number> {
  if (pool === undefined) return Date.now();
  const { rows } = await pool.query<{ now: number }>('SELECT (extract(epoch FROM now()) * 1000)::float8 AS now');
  return Number(rows[0]!.now);
}

/**
 * Deletes finished jobs whose completion is older than the cutoff: pages through them oldest
 * first (a job inserted after the cutoff cannot have finished before it, which ends the scan) and
 * deletes by id, 1000 at a time, re-checking the state so a job retried meanwhile stays.
 */
export async function prune(
  deps: Pick<AppDeps, 'queue' | 'pool'>,
  o: {
    olderThanMs: number;
    states: (typeof FINAL_STATES)[number][];
    queue?: string;
    limit: number;
    /** Told, after each batch, which jobs are gone (so their files can go too). */
    deleted?: (jobs: Job[]) => Promise<unknown>;
  },
): Promise<{ deleted: number; scanned: number; more: boolean }> {
  const { queue } = deps;
  const cutoff = (await dbNow(deps.pool)) - o.olderThanMs;
  let deleted = 0;
  let scanned = 0;
  let after: string | undefined;
  for (;;) {
    const page = await queue.listJobs({ state: o.states, order: 'asc', limit: PAGE, ...(o.queue ? { queue: o.queue } : {}), ...(after ? { after } : {}) });
    scanned += page.jobs.length;
    const ids: string[] = [];
    const candidates: Job[] = [];
    let past = false;
    for (const job of page.jobs) {
      if (job.insertedAt.getTime() > cutoff) {
        past = true;
        break;
      }
      if (job.completedAt !== null && job.completedAt.getTime() < cutoff && deleted + ids.length < o.limit) {
        ids.push(job.id);
        candidates.push(job);
      }
    }
    if (ids.length > 0) {
      deleted += await queue.deleteJobs({ ids, state: o.states });
      if (o.deleted !== undefined) {
        // deleteJobs re-checks the state (a job retried meanwhile stays): ask which are gone.
        const kept = new Set((await queue.listJobs({ ids, limit: PAGE })).jobs.map((j) => j.id));
        await o.deleted(candidates.filter((j) => !kept.has(j.id)));
      }
    }
    if (deleted >= o.limit) return { deleted, scanned, more: !past || page.next !== null };
    if (past || page.next === null) return { deleted, scanned, more: false };
    after = page.next;
  }
}
