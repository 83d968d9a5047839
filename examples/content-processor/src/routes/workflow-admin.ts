// GET /admin/workflows/recent: the most recent media workflows with the state of each step, for
// the dashboard (behind the admin key like every /admin route). docket reads workflows by id; to
// find recent ones, this pages through the newest jobs tagged `workflow:media` (every step of a
// media workflow carries the tag), collects their workflow ids, newest first, and reads those.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Queue, WorkflowDetails } from 'docket';
import type { AdminAccess } from '../auth.js';
import { requireApiKey } from '../auth.js';
import { MEDIA_TAG } from '../jobs/media-schemas.js';
import type { RouteOptions } from './common.js';
import { errors } from './common.js';
import { toWorkflowSummary, workflowSummaryView } from './workflow-view.js';

/** Jobs read per page, and pages at most, when looking for workflow ids. */
const PAGE = 200;
const MAX_PAGES = 5;

/** The newest `limit` media workflows (by id, newest first). */
export async function recentWorkflows(queue: Queue, limit: number): Promise<WorkflowDetails[]> {
  const ids = new Set<string>();
  let after: string | undefined;
  for (let page = 0; page < MAX_PAGES && ids.size < limit; page++) {
    const { jobs, next } = await queue.listJobs({ tags: [MEDIA_TAG], limit: PAGE, ...(after === undefined ? {} : { after }) });
    for (const job of jobs) if (job.workflow !== null) ids.add(job.workflow.id);
    if (next === null) break;
    after = next;
  }
  const newest = [...ids].sort((a, b) => (BigInt(b) > BigInt(a) ? 1 : BigInt(b) < BigInt(a) ? -1 : 0)).slice(0, limit);
  const found = await Promise.all(newest.map((id) => queue.getWorkflow(id)));
  return found.filter((wf): wf is WorkflowDetails => wf !== null);
}

export const workflowAdminRoutes: FastifyPluginAsyncZod<RouteOptions & { access: AdminAccess }> = async (app, options) => {
  const { queue } = options;
  app.addHook('onRequest', requireApiKey(options.access));
  app.get(
    '/admin/workflows/recent',
    {
      schema: {
        tags: ['admin'],
        security: [{ apiKey: [] }],
        summary: 'Recent media workflows, newest first, with the state of each step',
        querystring: z.strictObject({ limit: z.coerce.number().int().min(1).max(50).default(10) }),
        response: { 200: z.object({ workflows: z.array(workflowSummaryView) }), ...errors(400, 401, 403) },
      },
    },
    async (request) => ({ workflows: (await recentWorkflows(queue, request.query.limit)).map(toWorkflowSummary) }),
  );
};
