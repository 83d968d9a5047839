// docket/dashboard mounted the ways README.md shows: in Fastify (a scope that leaves the body to
// the dashboard and routes that hand request.raw / reply.raw over after reply.hijack()), and
// Express-style, `app.use('/dashboard', handler)`, where the framework strips the mount path and
// may have parsed the body already (express.json() leaves it on req.body). Each serves the page
// and the API, and an action through it really changes the job's row.
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify from 'fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Worker } from '../../src/index.js';
import type { Queue } from '../../src/index.js';
import { createDashboard } from '../../src/dashboard/index.js';
import { call, csrfTokenOf, serve } from '../support/dashboard.js';
import { useSchema } from '../support/queue.js';

const db = useSchema('dashboard_mounts');
const parked = new Worker({ name: 'parked', queue: 'parked', args: z.object({}), perform: async () => undefined });
const authorization = 'Bearer mounts-token';
let queue: Queue;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  queue = await db.queue({ workers: [parked] });
});
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const state = async (id: string): Promise<string> =>
  (await db.pool.query<{ state: string }>(`SELECT state::text FROM "${db.schema}".jobs WHERE id = $1`, [id])).rows[0]!.state;

/** Loads the page at `pageUrl`, then cancels a fresh job through `apiBase` with its token. */
async function cancelThrough(pageUrl: string, apiBase: string, origin: string): Promise<void> {
  const page = await call(pageUrl, { headers: { authorization } });
  expect(page.status).toBe(200);
  expect(page.headers['content-security-policy']).toMatch(/default-src 'none'/);
  const queues = await call(`${apiBase}/api/queues`, { headers: { authorization } });
  expect(queues.json<{ queues: { name: string }[] }>().queues.map((q) => q.name)).toContain('parked');
  const job = await queue.insert(parked, {});
  const res = await call(`${apiBase}/api/jobs/${job.id}/cancel`, {
    method: 'POST',
    body: { reason: 'through the framework' },
    headers: { authorization, 'content-type': 'application/json', origin, 'sec-fetch-site': 'same-origin', 'x-docket-csrf': csrfTokenOf(page.text) },
  });
  expect(res.status, res.text).toBe(200);
  expect(await state(job.id)).toBe('cancelled');
  expect((await queue.getJob(job.id))?.errors.at(-1)?.message).toContain('through the framework');
  expect((await call(`${apiBase}/api/queues`)).status).toBe(401);
}

describe('mounted in Fastify', () => {
  it('serves the page, the API and actions next to the app’s own routes, whose JSON bodies still parse', async () => {
    const dashboard = createDashboard({ queue, basePath: '/dashboard', auth: (req) => req.headers.authorization === authorization });
    const app = Fastify();
    cleanups.push(() => app.close());
    app.post('/echo', async (request) => ({ got: request.body }));
    await app.register(async (scope) => {
      // The dashboard reads its own (small, checked) bodies: this scope leaves them unparsed.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
      const handle = (request: FastifyRequest, reply: FastifyReply): void => {
        reply.hijack();
        dashboard(request.raw, reply.raw);
      };
      scope.all('/dashboard', handle);
      scope.all('/dashboard/*', handle);
    });
    const origin = await app.listen({ port: 0, host: '127.0.0.1' });
    await cancelThrough(`${origin}/dashboard`, `${origin}/dashboard`, origin);
    const echo = await call(`${origin}/echo`, { method: 'POST', body: { a: 1 }, headers: { 'content-type': 'application/json' } });
    expect(echo.json()).toEqual({ got: { a: 1 } });
  });
});

describe('mounted Express-style', () => {
  it('works under a mount path the framework strips, with a body it already parsed', async () => {
    const dashboard = createDashboard({ queue, auth: (req) => req.headers.authorization === authorization });
    // What app.use(express.json(), ...) and app.use('/admin/queue', dashboard) do to a request.
    const mount = '/admin/queue';
    const app = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      const notFound = (): void => {
        res.statusCode = 404;
        res.end('app 404');
      };
      const url = req.url ?? '/';
      if (url !== mount && !url.startsWith(`${mount}/`) && !url.startsWith(`${mount}?`)) return notFound();
      if (req.headers['content-type'] === 'application/json') {
        const chunks: Buffer[] = [];
        for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
        (req as IncomingMessage & { body?: unknown }).body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      }
      req.url = url.slice(mount.length) || '/';
      dashboard(req, res, notFound);
    };
    const server = await serve((req, res) => void app(req, res));
    cleanups.push(server.close);
    await cancelThrough(`${server.origin}${mount}`, `${server.origin}${mount}`, server.origin);
    expect((await call(`${server.origin}/elsewhere`, { headers: { authorization } })).text).toBe('app 404');
  });
});
