// GET /jobs/:id/events: Server-Sent Events for one job, on every instance whichever node runs
// the job. The stream sends the job at once (`event: state`), then follows it with docket's
// queue.watch(): every instance runs with `jobEvents` on, so the node running the job announces
// its start, progress reports and end through PostgreSQL, and this instance hears them on one
// LISTEN connection shared by all its streams (no polling; a watch reads the job itself only
// when nothing was heard for a while, or to confirm an end). `state` is sent when the job's
// state or attempt changes (read once per change), `progress` for each progress report, and
// the stream ends with `event: end` once the job is final (or deleted). A comment line every
// 15 s keeps proxies from closing an idle stream. A stream needs the same credentials as the
// job (another tenant's job is a 404), and each caller (a tenant's key, the admin key) holds at
// most config.eventStreamsPerTenant streams on an instance (429 beyond), out of MAX_STREAMS.
// A stream opened with a tenant key checks the key every KEY_RECHECK_MS and ends with
// `event: end` ({ reason: 'revoked' }) once it is revoked: on the instance that revoked it
// within KEY_RECHECK_MS, on others within that plus the key cache's 5 s.
//
// Every stream owns one keep-alive timer and one watch, and ends both when it closes, whichever
// way: the job ended, the client went away (fastify destroys the stream), or the app is closing
// (preClose ends every open stream so close() is not held up).
import { PassThrough } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Job, JobProgress } from 'docket';
import type { RouteOptions } from './common.js';
import { presentedKey } from '../auth.js';
import { callerOf, keyTenant, tenantOfJob, visibleJob } from '../tenancy/request-tenant.js';
import { HttpError, errors, isFinal, jobIdParams, notFound, toJobView } from './common.js';

export const KEEPALIVE_MS = 15_000;
/** Open streams per app instance (they share one LISTEN connection); each tenant may hold config.eventStreamsPerTenant of them. */
export const MAX_STREAMS = 100;
/** How long a watch waits for an announcement before it reads the job itself. */
export const RECHECK_MS = 5_000;
/** How often a stream opened with a tenant key checks that the key still holds. */
export const KEY_RECHECK_MS = 5_000;

export const eventRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { queue, metrics, config, tenants }) => {
  const open = new Set<(reason?: string) => void>();
  const perTenant = new Map<string, number>();
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
          'Events: `state` (the job, on every state or attempt change), `progress` ({ percent, data, at }), `end` ({ state }) when the job is final; then the stream closes. Works on every instance, whichever node runs the job.',
        params: jobIdParams,
        response: { 200: z.unknown().describe('text/event-stream'), ...errors(400, 401, 404, 503) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      // The same credentials as the job itself: another tenant's job is a 404.
      const first = await visibleJob(queue, request, id);
      // Counted against the caller: a tenant's streams never use up another's allowance.
      const tenant = callerOf(request, tenantOfJob(first));
      const held = perTenant.get(tenant) ?? 0;
      if (held >= config.eventStreamsPerTenant) {
        throw new HttpError(429, `Too many open event streams for ${tenant === '(operator)' ? 'the admin key' : `tenant ${tenant}`} (at most ${config.eventStreamsPerTenant} per instance); close one or retry later`);
      }
      if (open.size >= MAX_STREAMS) throw new HttpError(503, `Too many open event streams (${MAX_STREAMS}); retry later`);
      perTenant.set(tenant, held + 1);

      const stream = new PassThrough();
      const watching = new AbortController();
      let seq = 0;
      let closed = false;
      let keepAlive: NodeJS.Timeout | undefined;
      let keyCheck: NodeJS.Timeout | undefined;
      // The key that opened the stream, when it is a tenant's (the admin key and development mode have none to revoke).
      const key = keyTenant(request) !== undefined ? presentedKey(request.headers) : undefined;
      let last: { state: string; attempt: number; progressAt: string | null } | undefined;

      const write = (event: string, data: unknown) => {
        if (!closed) stream.write(`id: ${++seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      };
      const close = (reason?: string) => {
        if (closed) return;
        if (reason !== undefined) write('end', { reason });
        closed = true;
        watching.abort();
        clearInterval(keepAlive);
        clearInterval(keyCheck);
        open.delete(close);
        const left = (perTenant.get(tenant) ?? 1) - 1;
        if (left > 0) perTenant.set(tenant, left);
        else perTenant.delete(tenant);
        metrics.sseClosed();
        stream.end();
      };
      stream.on('close', () => close());
      open.add(close);
      metrics.sseOpened();

      const showProgress = (progress: JobProgress | null) => {
        if (progress === null || progress.at === last?.progressAt) return;
        write('progress', progress);
        if (last !== undefined) last = { ...last, progressAt: progress.at };
      };
      const show = (job: Job) => {
        if (last === undefined || last.state !== job.state || last.attempt !== job.attempt) write('state', toJobView(job));
        const progressAt = last?.progressAt ?? null;
        last = { state: job.state, attempt: job.attempt, progressAt };
        showProgress(job.lastProgress);
      };
      const end = (state: string) => {
        write('end', { state });
        close();
      };

      // Follows the job until it is final; each change of state is read once for the full view.
      const follow = async () => {
        for await (const update of queue.watch(id, { signal: watching.signal, recheckInterval: RECHECK_MS })) {
          if (closed) return;
          if (update.kind === 'progress') {
            showProgress(update.progress);
            continue;
          }
          if (update.state === 'deleted') return end('deleted');
          if (last !== undefined && last.state === update.state && last.attempt === update.attempt) continue;
          const job = await queue.getJob(id);
          if (closed) return;
          if (job === null) return end('deleted');
          show(job);
          if (isFinal(job.state)) return end(job.state);
        }
      };

      stream.write(`retry: 2000\n\n`);
      show(first);
      if (isFinal(first.state)) end(first.state);
      if (!closed) {
        keepAlive = setInterval(() => {
          if (!closed) stream.write(': keep-alive\n\n');
        }, KEEPALIVE_MS);
        if (key !== undefined) {
          keyCheck = setInterval(() => {
            tenants.resolve(key).then(
              (found) => {
                if (found === null) close('revoked');
              },
              // The key store is unreachable: keep the stream (the job's own reads fail the same way), check again later.
              (error: unknown) => request.log.warn({ err: error, jobId: id }, 'event stream: could not check its API key'),
            );
          }, KEY_RECHECK_MS);
        }
        follow().then(
          () => close(),
          (error: unknown) => {
            request.log.warn({ err: error, jobId: id }, 'event stream: following the job failed');
            close('error');
          },
        );
      }
      return reply
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache, no-transform')
        .header('x-accel-buffering', 'no')
        .send(stream);
    },
  );
};
