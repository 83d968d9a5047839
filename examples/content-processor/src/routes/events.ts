// GET /jobs/:id/events: Server-Sent Events for one job. The stream sends the job at once
// (`event: state`), then polls it every 250 ms (so it works whichever node runs the job) and
// sends `state` when its state or attempt changes and `progress` when it reports progress; it
// ends with `event: end` once the job is final (or deleted). A comment line every 15 s keeps
// proxies from closing an idle stream.
//
// Every stream owns exactly two timers (the next poll and the keep-alive) and clears both when
// it closes, whichever way: the job ended, the client went away (fastify destroys the stream),
// or the app is closing (preClose ends every open stream so close() is not held up).
import { PassThrough } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Job } from 'docket';
import type { RouteOptions } from './common.js';
import { HttpError, errors, isFinal, jobIdParams, notFound, toJobView } from './common.js';

export const POLL_MS = 250;
export const KEEPALIVE_MS = 15_000;
/** Open streams per app instance; each polls the database 4 times a second. */
export const MAX_STREAMS = 100;

export const eventRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { queue, metrics }) => {
  const open = new Set<(reason?: string) => void>();
  app.addHook('preClose', async () => {
    for (const close of [...open]) close('shutdown');
  });

  app.get(
    '/jobs/:id/events',
    {
      schema: {
        tags: ['jobs'],
        summary: "Follow a job's state and progress live (text/event-stream)",
        description:
          'Events: `state` (the job, on every state or attempt change), `progress` ({ percent, data, at }), `end` ({ state }) when the job is final; then the stream closes.',
        params: jobIdParams,
        response: { 200: z.unknown().describe('text/event-stream'), ...errors(400, 404, 503) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const first = await queue.getJob(id);
      if (first === null) throw notFound(`No job ${id}`);
      if (open.size >= MAX_STREAMS) throw new HttpError(503, `Too many open event streams (${MAX_STREAMS}); retry later`);

      const stream = new PassThrough();
      let seq = 0;
      let closed = false;
      let poll: NodeJS.Timeout | undefined;
      let keepAlive: NodeJS.Timeout | undefined;
      let last: { state: string; attempt: number; progressAt: string | null } | undefined;

      const write = (event: string, data: unknown) => {
        if (!closed) stream.write(`id: ${++seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      };
      const close = (reason?: string) => {
        if (closed) return;
        if (reason !== undefined) write('end', { reason });
        closed = true;
        clearTimeout(poll);
        clearInterval(keepAlive);
        open.delete(close);
        metrics.sseClosed();
        stream.end();
      };
      stream.on('close', () => close());
      open.add(close);
      metrics.sseOpened();

      const show = (job: Job) => {
        const progressAt = job.lastProgress?.at ?? null;
        if (last === undefined || last.state !== job.state || last.attempt !== job.attempt) write('state', toJobView(job));
        if (job.lastProgress !== null && progressAt !== last?.progressAt) write('progress', job.lastProgress);
        last = { state: job.state, attempt: job.attempt, progressAt };
        if (isFinal(job.state)) {
          write('end', { state: job.state });
          close();
        }
      };
      const next = () => {
        if (!closed) poll = setTimeout(tick, POLL_MS);
      };
      const tick = async () => {
        poll = undefined;
        let job: Job | null;
        try {
          job = await queue.getJob(id);
        } catch (error) {
          request.log.warn({ err: error, jobId: id }, 'event stream: reading the job failed; retrying');
          return next();
        }
        if (closed) return;
        if (job === null) {
          write('end', { state: 'deleted' });
          return close();
        }
        show(job);
        next();
      };

      stream.write(`retry: 2000\n\n`);
      show(first);
      if (!closed) {
        next();
        keepAlive = setInterval(() => {
          if (!closed) stream.write(': keep-alive\n\n');
        }, KEEPALIVE_MS);
      }
      return reply
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache, no-transform')
        .header('x-accel-buffering', 'no')
        .send(stream);
    },
  );
};
