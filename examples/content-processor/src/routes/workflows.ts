// Workflow routes. POST /workflows/media starts the media workflow (workflows/media-workflow.ts)
// for an image given by `sourceUrl` (JSON) or uploaded as the `file` part (multipart, as on
// POST /jobs/images, with `operations` and `notify` as JSON text parts), and answers 202 with
// the workflow's id and its link. GET /workflows/:id shows it: state, every step's state,
// result and errors, and the files each step wrote (served by GET /jobs/:id/files/:name).
//
// As on the job routes: the body is validated by zod before anything is written (400 naming the
// field, nothing enqueued), URLs a step will fetch or post to are checked against the SSRF rules
// now (the workers check again when they run), and reads are by id, the way GET /jobs/:id reads
// a job. The tenant is the caller's API key's (tenancy/), on every step (args, tags,
// partitions) and shown in the view; another tenant's workflow answers 404.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { notifyTarget } from '../jobs/media-schemas.js';
import { imageOperations, requestTenantId } from '../jobs/schemas.js';
import { keyTenant, tenantFor } from '../tenancy/request-tenant.js';
import { startMediaWorkflow } from '../workflows/media-workflow.js';
import type { RouteOptions } from './common.js';
import { badRequest, errors, jobState, notFound } from './common.js';
import { checkTarget } from './jobs.js';
import { discardFailedUpload, readUpload, uploadOf } from './upload.js';
import { WORKFLOW_STATES, tenantOfTags, toWorkflowView, workflowView } from './workflow-view.js';

/** The body of POST /workflows/media (JSON, or the fields of a multipart request). */
export const mediaRequest = z.strictObject({
  imageId: z.string().min(1).max(128),
  sourceUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2048).optional(),
  operations: imageOperations,
  title: z.string().min(1).max(200).optional().describe('Title of the contact sheet'),
  notify: notifyTarget.describe('Who is told when the workflow ends: { type: "webhook", url } or { type: "email", to, subject? }'),
  tenantId: requestTenantId,
});

/** A workflow id: a positive bigint. The range is checked here too, so 2^63 is a 400 rather than a database error. */
const workflowParams = z.object({
  id: z
    .string()
    .regex(/^[1-9][0-9]{0,18}$/, 'must be a workflow id (a positive whole number)')
    .refine((v) => !/^[0-9]+$/.test(v) || BigInt(v) <= 9223372036854775807n, 'must be a workflow id (at most 2^63-1)'),
});

const started = z
  .object({
    id: z.string(),
    name: z.string(),
    state: z.enum(WORKFLOW_STATES),
    tenantId: z.string().nullable(),
    insertedAt: z.string(),
    steps: z.array(z.object({ name: z.string(), jobId: z.string(), state: jobState })),
    links: z.object({ self: z.string() }),
  })
  .describe('A workflow just started');

export const workflowRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, options) => {
  const { queue, workers, storage, config } = options;

  app.post(
    '/workflows/media',
    {
      config: { multipart: true },
      preValidation: readUpload(storage, config, ['operations', 'notify']),
      onError: discardFailedUpload(storage),
      schema: {
        tags: ['workflows'],
        summary: 'Start a media workflow: source → resize + thumbnails and a PDF contact sheet in parallel → a webhook or email notification',
        description:
          'JSON with a sourceUrl, or multipart/form-data with the image as the `file` part and the other fields as parts (`operations` and `notify` as JSON text). Answers 202; follow the workflow at links.self.',
        body: mediaRequest,
        response: { 202: started, ...errors(400, 413, 415) },
      },
    },
    async (request, reply) => {
      const upload = uploadOf(request);
      const { sourceUrl, imageId, operations, title, notify } = request.body;
      const tenantId = tenantFor(request, request.body.tenantId);
      if (upload !== undefined && sourceUrl !== undefined) throw badRequest('body.sourceUrl', 'give either a sourceUrl or an uploaded file, not both');
      if (upload === undefined && sourceUrl === undefined) {
        throw badRequest('body.sourceUrl', 'required: give a sourceUrl, or upload the image as the `file` part of a multipart/form-data request');
      }
      await Promise.all([
        sourceUrl === undefined ? undefined : checkTarget(sourceUrl, 'body.sourceUrl', config.allowPrivateTargets),
        notify.type === 'webhook' ? checkTarget(notify.url, 'body.notify.url', config.allowPrivateTargets) : undefined,
      ]);
      const source = upload !== undefined ? { uploadPath: upload.uploadPath } : { sourceUrl: sourceUrl! };
      const run = await startMediaWorkflow(queue, workers, { imageId, tenantId, source, operations, title, notify });
      request.log.info({ workflowId: run.id, tenantId, notify: notify.type }, 'media workflow started');
      const self = `/workflows/${run.id}`;
      return reply
        .code(202)
        .header('location', self)
        .send({
          id: run.id,
          name: run.name,
          state: run.state,
          tenantId: tenantOfTags(run.tags),
          insertedAt: run.insertedAt.toISOString(),
          steps: Object.entries(run.steps).map(([name, job]) => ({ name, jobId: job.id, state: job.state })),
          links: { self },
        });
    },
  );

  app.get(
    '/workflows/:id',
    {
      schema: {
        tags: ['workflows'],
        summary: 'Get a workflow: its state, and every step with its state, result, errors and result files',
        params: workflowParams,
        response: { 200: workflowView, ...errors(400, 404) },
      },
    },
    async (request) => {
      const wf = await queue.getWorkflow(request.params.id);
      // Another tenant's workflow answers as if there were none.
      const caller = keyTenant(request);
      if (wf === null || (caller !== undefined && tenantOfTags(wf.tags) !== caller)) throw notFound(`No workflow ${request.params.id}`);
      return toWorkflowView(wf, storage);
    },
  );
};
