// DELETE /jobs, bulk cancel by ids, queue, state, worker and tags (every one given must match):
// an operator action, behind the admin key like the admin routes, and registered only when they
// are (app.ts), outside the tenant routes' scope.
import type { FastifyPluginAsyncZod, ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AdminAccess } from '../auth.js';
import { requireApiKey } from '../auth.js';
import { QUEUES } from '../jobs/schemas.js';
import type { RouteOptions } from './common.js';
import { errors } from './common.js';

const CANCELLABLE = ['available', 'scheduled', 'executing', 'retryable'] as const;
const cancelBody = z
  .strictObject({
    ids: z.array(z.string().regex(/^[1-9][0-9]{0,18}$/, 'must be a job id')).min(1).max(1000).optional(),
    queue: z.enum(QUEUES).optional(),
    state: z.union([z.enum(CANCELLABLE), z.array(z.enum(CANCELLABLE)).min(1)]).optional(),
    tags: z.array(z.string().min(1).max(200)).min(1).max(20).optional(),
    worker: z.string().min(1).max(100).optional(),
    reason: z.string().min(1).max(500).optional(),
  })
  .refine((f) => f.ids !== undefined || f.queue !== undefined || f.state !== undefined || f.tags !== undefined || f.worker !== undefined, {
    message: 'give at least one of ids, queue, state, worker or tags (cancelling every job is refused)',
  });

export const bulkCancelRoutes: FastifyPluginAsyncZod<RouteOptions & { access: AdminAccess }> = async (app, options) => {
  const { queue } = options;
  app.addHook('onRequest', requireApiKey(options.access));
  app.withTypeProvider<ZodTypeProvider>().delete(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Cancel jobs in bulk by ids, queue, state, worker and tags (all given must match)',
        security: [{ apiKey: [] }],
        body: cancelBody,
        response: { 200: z.object({ cancelled: z.number().int() }), ...errors(400, 401, 403) },
      },
    },
    async (request) => {
      const { reason, ...filter } = request.body;
      return { cancelled: await queue.cancelJobs(filter, reason ?? 'cancelled through the API') };
    },
  );
};
