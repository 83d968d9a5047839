// Cron schedules (admin key required): list, read, create (POST, 409 when the name is taken),
// create-or-replace (PUT), delete. Stored by docket (queue.schedules) and turned into jobs by the
// Cron plugin on the cluster's leader; a schedule's args are checked against its worker's zod
// schema before anything is stored, and a bad expression, zone or args is a 400 naming the field.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Schedule, ScheduleDefinition } from 'docket';
import { ArgsValidationError, ConfigError } from 'docket';
import type { AdminAccess } from '../auth.js';
import { requireApiKey } from '../auth.js';
import { TENANT_TAG_PREFIX, tenantTag } from '../jobs/schemas.js';
import type { RouteOptions } from './common.js';
import { HttpError, WORKER_NAMES, badRequest, errors, notFound } from './common.js';

const scheduleName = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'must be 1-128 letters, digits, _ . : or -');
const timezone = z
  .string()
  .min(1)
  .max(100)
  .refine((zone) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      return true;
    } catch {
      return false;
    }
  }, 'must be an IANA time zone such as Europe/London');

const definition = z.strictObject({
  expression: z.string().min(1).max(200).describe("Cron expression: 5 fields (minute hour day month weekday) or 6 with seconds first, e.g. '0 9 * * MON-FRI'"),
  worker: z.enum(WORKER_NAMES),
  args: z.record(z.string(), z.unknown()).default({}).describe("The job's args, checked by the worker's schema"),
  timezone: timezone.default('UTC'),
  opts: z
    .strictObject({
      priority: z.number().int().min(-32768).max(32767).optional(),
      maxAttempts: z.number().int().min(1).max(32767).optional(),
      tags: z.array(z.string().min(1).max(200)).max(20).optional(),
    })
    .default({}),
  missed: z.enum(['skip', 'last']).default('skip').describe('Ticks missed while no node ran: skip them, or enqueue the last one'),
});

export const scheduleView = z
  .object({
    name: z.string(),
    expression: z.string(),
    timezone: z.string(),
    worker: z.string(),
    args: z.unknown(),
    opts: z.object({ priority: z.number().optional(), maxAttempts: z.number().optional(), tags: z.array(z.string()).optional() }),
    missed: z.enum(['skip', 'last']),
    nextAt: z.string().nullable(),
    lastAt: z.string().nullable(),
  })
  .describe('A cron schedule');

function toView(s: Schedule): z.infer<typeof scheduleView> {
  return {
    name: s.name,
    expression: s.expression,
    timezone: s.timezone,
    worker: s.worker,
    args: s.args,
    opts: { ...s.opts, tags: s.opts.tags ? [...s.opts.tags] : undefined },
    missed: s.missed,
    nextAt: s.nextAt?.toISOString() ?? null,
    lastAt: s.lastAt?.toISOString() ?? null,
  };
}

/** docket's refusals, as 400s naming the field. */
function refused(error: unknown): never {
  if (error instanceof ArgsValidationError) {
    const issues = error.issues.map((i) => ({ path: ['body', 'args', ...i.path].join('.'), message: i.message }));
    throw new HttpError(400, issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues);
  }
  if (error instanceof ConfigError) {
    const field = /expression/.test(error.message) ? 'body.expression' : /zone/.test(error.message) ? 'body.timezone' : /opts/.test(error.message) ? 'body.opts' : 'body';
    throw badRequest(field, error.message);
  }
  throw error;
}

export const scheduleRoutes: FastifyPluginAsyncZod<RouteOptions & { access: AdminAccess }> = async (app, options) => {
  const { queue } = options;
  app.addHook('onRequest', requireApiKey(options.access));
  const secured = { security: [{ apiKey: [] }], tags: ['schedules'] };
  const params = z.object({ name: scheduleName });

  // A job a schedule enqueues belongs to the tenant its args name, as every job the API creates:
  // it carries that tenant's tag, which the tenant routes and exports go by.
  const store = async (name: string, def: z.output<typeof definition>): Promise<Schedule> => {
    const tenant = typeof def.args.tenantId === 'string' ? def.args.tenantId : undefined;
    const given = def.opts.tags ?? [];
    const own = tenant === undefined ? undefined : tenantTag(tenant);
    const other = given.find((t) => t.startsWith(TENANT_TAG_PREFIX) && t !== own);
    if (other !== undefined) throw badRequest('body.opts.tags', `${other} does not match args.tenantId (the tenant tag is set from args.tenantId)`);
    const tags = own === undefined || given.includes(own) ? def.opts.tags : [...given, own];
    const full: ScheduleDefinition = { name, ...def, opts: { ...def.opts, ...(tags === undefined ? {} : { tags }) } };
    try {
      return await queue.schedules.set(full);
    } catch (error) {
      return refused(error);
    }
  };

  app.get(
    '/admin/schedules',
    { schema: { ...secured, summary: 'Every cron schedule', response: { 200: z.object({ schedules: z.array(scheduleView) }), ...errors(401, 403) } } },
    async () => ({ schedules: (await queue.schedules.list()).map(toView) }),
  );

  app.get(
    '/admin/schedules/:name',
    { schema: { ...secured, summary: 'One schedule', params, response: { 200: scheduleView, ...errors(400, 401, 403, 404) } } },
    async (request) => {
      const found = await queue.schedules.get(request.params.name);
      if (found === null) throw notFound(`No schedule ${request.params.name}`);
      return toView(found);
    },
  );

  app.post(
    '/admin/schedules',
    {
      schema: {
        ...secured,
        summary: 'Create a schedule (409 when the name is taken; PUT replaces)',
        body: definition.extend({ name: scheduleName }),
        response: { 201: scheduleView, ...errors(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const { name, ...def } = request.body;
      if ((await queue.schedules.get(name)) !== null) throw new HttpError(409, `A schedule named ${name} exists; PUT /admin/schedules/${name} replaces it`);
      return reply.code(201).send(toView(await store(name, def)));
    },
  );

  app.put(
    '/admin/schedules/:name',
    { schema: { ...secured, summary: 'Create or replace a schedule', params, body: definition, response: { 200: scheduleView, ...errors(400, 401, 403) } } },
    async (request) => toView(await store(request.params.name, request.body)),
  );

  app.delete(
    '/admin/schedules/:name',
    { schema: { ...secured, summary: 'Delete a schedule (jobs it already enqueued stay)', params, response: { 204: z.null().describe('Deleted'), ...errors(400, 401, 403, 404) } } },
    async (request, reply) => {
      if (!(await queue.schedules.remove(request.params.name))) throw notFound(`No schedule ${request.params.name}`);
      return reply.code(204).send(null);
    },
  );
};
