// GET /health: is the database reachable (a cheap round trip, at most 2 s), is the queue running
// on this node, does this node lead the cluster, and the queues it runs. 200 when the database
// answers and the queue runs; 503 otherwise (so a load balancer takes the node out). Not rate
// limited: health checkers poll it.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteOptions } from './common.js';
import { errors } from './common.js';

const health = z
  .object({
    status: z.enum(['ok', 'unavailable']),
    database: z.object({ reachable: z.boolean(), latencyMs: z.number().nullable(), error: z.string().optional() }),
    queue: z.object({ running: z.boolean(), leader: z.boolean(), nodeId: z.string(), schema: z.string() }),
    queues: z.record(z.string(), z.number().int()).describe('Concurrency of each queue on this node'),
    uptimeSeconds: z.number(),
  })
  .describe('Health of this node');

const CHECK_TIMEOUT_MS = 2000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const healthRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { queue, config, pool }) => {
  const started = Date.now();
  app.get(
    '/health',
    {
      config: { rateLimit: false },
      schema: { tags: ['ops'], summary: 'Health check', response: { 200: health, 503: health, ...errors() } },
    },
    async (request, reply) => {
      const t0 = performance.now();
      let database: z.infer<typeof health>['database'];
      try {
        // With a pool: SELECT 1. Without: a primary-key lookup through docket (also proves the schema exists).
        await withTimeout<unknown>(pool ? pool.query('SELECT 1') : queue.getJob('1'), CHECK_TIMEOUT_MS);
        database = { reachable: true, latencyMs: Math.round((performance.now() - t0) * 10) / 10 };
      } catch (error) {
        request.log.warn({ err: error }, 'health: database check failed');
        database = { reachable: false, latencyMs: null, error: 'the database did not answer' };
      }
      const ok = database.reachable && queue.running;
      return reply.code(ok ? 200 : 503).send({
        status: ok ? 'ok' : 'unavailable',
        database,
        queue: { running: queue.running, leader: queue.isLeader, nodeId: queue.nodeId, schema: queue.schema },
        queues: { ...config.queues },
        uptimeSeconds: Math.round((Date.now() - started) / 1000),
      });
    },
  );
};
