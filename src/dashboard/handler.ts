// createDashboard: one request handler on bare node:http objects, so node:http, Express and
// Fastify can all mount it. For every request, in order: outside the base path → next (or 404);
// the auth hook (401 for anything, page or API, known path or not); then the page (GET /), or an
// API route: reads are GET, actions POST, and an action is CSRF- and origin-checked before its
// body is even read. Errors become JSON: 400 for bad input (naming it), 404, 409, 503, and 500
// (logged, with nothing of the error sent).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError, QueueStateError, UniqueConflictError } from '../index.js';
import { actionRoute } from './actions.js';
import type { Route } from './api.js';
import { readRoute } from './api.js';
import { HttpError, baseHeaders, readJsonBody, sendError, sendHtml, sendJson } from './http.js';
import type { DashboardOptions, ResolvedOptions } from './options.js';
import { resolveOptions } from './options.js';
import { pageHtml } from './page-html.js';
import { authorized, contentSecurityPolicy, csrfTokens, forgeryProblem, newNonce } from './security.js';
import type { CsrfTokens } from './security.js';

/**
 * The dashboard as a request handler: `(req, res, next?)`, the shape node:http, Express and
 * (through `reply.hijack()`) Fastify use. `next` is called for requests outside `basePath`.
 *
 * @example
 * ```ts
 * const handler: DashboardHandler = createDashboard({ queue, auth });
 * http.createServer((req, res) => handler(req, res, () => { res.statusCode = 404; res.end(); }));
 * ```
 */
export type DashboardHandler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;

/** How large an action's body may be: they carry a reason or a limit, nothing more. */
const BODY_LIMIT = 16 * 1024;

/**
 * Creates the dashboard: a self-contained page (queues with counts and a throughput chart, jobs
 * with filters and paging, a job's args, result, errors and progress, workflows, schedules,
 * nodes and the leader) and its JSON API, with retry, cancel and discard of a job and pause,
 * resume and scale of a queue. Every request goes through `auth` first; actions are POSTs that
 * must carry the page's CSRF token and come from the same origin.
 * @throws ConfigError without `auth` (unless `insecure: true`), or for other bad options
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createDashboard } from 'docket/dashboard';
 *
 * const dashboard = createDashboard({
 *   queue,
 *   basePath: '/dashboard',
 *   auth: (req) => req.headers.authorization === `Bearer ${process.env.ADMIN_TOKEN}`,
 * });
 * createServer((req, res) => dashboard(req, res)).listen(3000, '127.0.0.1');
 * // Express: app.use('/dashboard', createDashboard({ queue, auth }))
 * ```
 */
export function createDashboard(options: DashboardOptions): DashboardHandler {
  const resolved = resolveOptions(options);
  const tokens = csrfTokens(resolved.csrfSecret);
  if (resolved.auth === undefined) {
    resolved.logger.warn('docket dashboard: insecure: true and no auth: anyone who can reach it can see and change every job');
  }
  return (req, res, next) => {
    handle(resolved, tokens, req, res, next).catch((error: unknown) => {
      // handle() answers every failure itself; this is the last resort (a socket that broke).
      resolved.logger.error('docket dashboard: a request failed', { error });
      if (!res.headersSent) sendError(res, new HttpError(500, 'Internal error'));
      else res.destroy();
    });
  };
}

/** The part of the URL below the base path, split in decoded segments; undefined when outside it. */
function segmentsOf(url: string, basePath: string): string[] | undefined {
  if (!url.startsWith(basePath)) return undefined;
  const rest = url.slice(basePath.length);
  if (rest !== '' && !rest.startsWith('/')) return undefined;
  const segments = rest.split('/').filter((s) => s !== '');
  try {
    return segments.map((s) => decodeURIComponent(s));
  } catch {
    throw new HttpError(400, 'The path is not validly percent-encoded');
  }
}

async function handle(
  options: ResolvedOptions,
  tokens: CsrfTokens,
  req: IncomingMessage,
  res: ServerResponse,
  next: ((error?: unknown) => void) | undefined,
): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
  let segments: string[] | undefined;
  try {
    segments = segmentsOf(path, options.basePath);
    if (segments === undefined) {
      if (next !== undefined) return next();
      baseHeaders(res);
      return sendError(res, new HttpError(404, 'Not found'));
    }
    baseHeaders(res);
    let allowed: boolean;
    try {
      allowed = await authorized(options.auth, req);
    } catch (error) {
      options.logger.error('docket dashboard: the auth hook threw', { error });
      throw new HttpError(500, 'Internal error');
    }
    if (!allowed) {
      throw new HttpError(401, 'Not authorized to use the dashboard', options.challenge === undefined ? {} : { 'www-authenticate': options.challenge });
    }
    const method = req.method ?? 'GET';
    if (segments.length === 0) {
      if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `${method} is not allowed here`, { allow: 'GET, HEAD' });
      const nonce = newNonce();
      return sendHtml(res, pageHtml(nonce, tokens.issue()), contentSecurityPolicy(nonce));
    }
    if (segments[0] !== 'api') throw new HttpError(404, 'Not found');
    const rest = segments.slice(1);
    const route: Route | undefined = readRoute(options.queue, rest) ?? actionRoute(options.queue, options.logger, rest);
    if (route === undefined) throw new HttpError(404, `No API route ${path.slice(0, 200)}`);
    if (method !== route.method && !(method === 'HEAD' && route.method === 'GET')) {
      throw new HttpError(405, `${method} is not allowed here: use ${route.method}`, { allow: route.method });
    }
    if (route.method === 'POST') {
      const problem = forgeryProblem(req, tokens);
      if (problem !== null) throw new HttpError(403, problem);
    }
    const body = await route.run({ query, body: () => readJsonBody(req, BODY_LIMIT) });
    sendJson(res, 200, body);
  } catch (error) {
    if (segments === undefined && !(error instanceof HttpError)) throw error;
    if (!res.headersSent) baseHeaders(res);
    sendError(res, toHttpError(error, options));
  }
}

/** What an error becomes: our own as they are, docket's by kind, anything else a logged 500. */
function toHttpError(error: unknown, options: ResolvedOptions): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof ConfigError) return new HttpError(400, error.message);
  if (error instanceof UniqueConflictError) return new HttpError(409, error.message);
  if (error instanceof QueueStateError) return new HttpError(503, 'The queue is not available');
  options.logger.error('docket dashboard: a request failed', { error });
  return new HttpError(500, 'Internal error');
}
