// /dashboard: docket's own dashboard (docket/dashboard) mounted in this Fastify app: queues with
// counts and a throughput chart, jobs with filters and paging, a job's args, result, errors and
// progress, workflows, schedules, nodes; retry, cancel, discard, pause, resume and scale.
//
// Its auth hook is the admin key: in x-api-key, as a Bearer token, or as the password of HTTP
// Basic auth, which the dashboard asks a browser for (the 401 carries a Basic challenge) and the
// browser then sends with every request of the page (any user name). Under INSECURE_DEV without
// a key it is open (`insecure: true`). Its CSRF tokens are signed with a key derived from the admin
// key's hash, so a page served by one instance works against any other.
//
// Mounting: the dashboard reads its own request bodies, so its routes live in a scope with no
// body parser, and hand the raw request and response over after reply.hijack().
import { createHmac } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'docket';
import { createDashboard } from 'docket/dashboard';
import type { AdminAccess } from '../auth.js';
import { keyMatches, presentedKey } from '../auth.js';
import type { RouteOptions } from './common.js';

export const DASHBOARD_PATH = '/dashboard';

export const dashboardRoutes: FastifyPluginAsync<RouteOptions & { access: AdminAccess; logger: Logger }> = async (app, options) => {
  const { access } = options;
  const dashboard = createDashboard({
    queue: options.queue,
    basePath: DASHBOARD_PATH,
    logger: options.logger,
    ...(access.mode === 'key'
      ? {
          auth: (req) => {
            const key = presentedKey(req.headers, { basic: true });
            return key !== undefined && keyMatches(key, access.hash);
          },
          challenge: 'Basic realm="content-processor admin", charset="UTF-8"',
          csrfSecret: createHmac('sha256', access.hash).update('content-processor dashboard csrf').digest(),
        }
      : { insecure: true }),
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  const handle = (request: FastifyRequest, reply: FastifyReply): void => {
    reply.hijack();
    dashboard(request.raw, reply.raw);
  };
  // Left out of the OpenAPI document: the dashboard's API is its page's, not this app's.
  app.all(DASHBOARD_PATH, { schema: { hide: true } }, handle);
  app.all(`${DASHBOARD_PATH}/*`, { schema: { hide: true } }, handle);
};
