// Job routes: create one job per kind (POST /jobs/images, /documents, /emails, /webhooks,
// /exports → 201 with the job), many at once (POST /jobs/batch, one insertMany per worker, in
// one transaction when a pool is given), read a job (GET /jobs/:id), its result files
// (GET /jobs/:id/files[/:name]), follow it live (GET /jobs/:id/events, see events.ts), and
// cancel jobs in bulk (DELETE /jobs: bulk-cancel.ts, an admin route).
//
// Every route acts for the caller's tenant (its API key, see tenancy/): new jobs are the key's
// tenant's whatever the body says, and another tenant's job, its files and its events answer
// 404, exactly as a job that does not exist.
//
// Bodies are validated by zod before anything is written: a bad request gets a 400 naming each
// bad field and enqueues nothing. URLs a worker will fetch or post to are checked against the
// SSRF rules here too (the workers check again when they run), so a refused target is a 400
// now rather than a discarded job later.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { InsertOptions, Job } from 'docket';
import { ArgsValidationError } from 'docket';
import { documentJobArgs, emailRequest, exportJobArgs, imageOperations, requestTenantId, tenantTag, webhookJobArgs } from '../jobs/schemas.js';
import { BlockedTargetError, assertPublicTarget } from '../security/ssrf.js';
import { isSafeFileName } from '../storage.js';
import type { AppDeps, RouteOptions } from './common.js';
import { HttpError, badRequest, errors, jobIdParams, jobView, notFound, toJobView } from './common.js';
import { tenantOfJob, visibleJob, withTenant } from '../tenancy/request-tenant.js';
import { eventRoutes } from './events.js';
import { discardFailedUpload, readUpload, uploadOf } from './upload.js';

/** An image job as a client sends it: a sourceUrl here, or a multipart `file` (never an uploadPath). */
export const imageRequest = z.strictObject({
  imageId: z.string().min(1).max(128),
  sourceUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2048).optional(),
  operations: imageOperations,
  tenantId: requestTenantId,
});
const imageByUrl = imageRequest.extend({ sourceUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2048) });

// Request bodies: the workers' args with the tenant left to the API key (see requestTenantId).
const tenantless = { tenantId: requestTenantId };
const documentRequest = documentJobArgs.extend(tenantless);
const webhookRequest = webhookJobArgs.extend(tenantless);
const exportRequest = exportJobArgs.extend(tenantless);

const batchItem = z.discriminatedUnion('type', [
  z.object({ type: z.literal('image'), args: imageByUrl }),
  z.object({ type: z.literal('document'), args: documentRequest }),
  z.object({ type: z.literal('email'), args: emailRequest }),
  z.object({ type: z.literal('webhook'), args: webhookRequest }),
  z.object({ type: z.literal('export'), args: exportRequest }),
]);
export const MAX_BATCH = 500;
const batchBody = z.strictObject({ jobs: z.array(batchItem).min(1).max(MAX_BATCH) });

const fileView = z.object({ name: z.string(), bytes: z.number().int(), modifiedAt: z.string(), url: z.string() });

const CONTENT_TYPES: Record<string, string> = {
  webp: 'image/webp',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  avif: 'image/avif',
  gif: 'image/gif',
  pdf: 'application/pdf',
  txt: 'text/plain; charset=utf-8',
  eml: 'message/rfc822',
  csv: 'text/csv; charset=utf-8',
  json: 'application/json',
};

/** Tags every job gets, so operators can select a tenant's jobs (DELETE /jobs { tags }). */
const tagsFor = (args: { tenantId: string }) => [tenantTag(args.tenantId)];

/** 400 when a URL a worker would fetch is refused by the SSRF rules; DNS trouble is left to the worker. */
export async function checkTarget(url: string, field: string, allowPrivate: boolean): Promise<void> {
  try {
    await assertPublicTarget(url, { allowPrivate, signal: AbortSignal.timeout(2000) });
  } catch (error) {
    if (error instanceof BlockedTargetError) throw badRequest(field, error.message);
  }
}

export const jobRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, options) => {
  const { queue, workers, storage, config, pool } = options;
  const allowPrivate = config.allowPrivateTargets;
  const created = { 201: jobView, ...errors(400, 413, 415) };

  app.post(
    '/jobs/images',
    {
      config: { multipart: true },
      preValidation: readUpload(storage, config),
      onError: discardFailedUpload(storage),
      schema: {
        tags: ['jobs'],
        summary: 'Create an image processing job',
        description:
          'JSON with a sourceUrl, or multipart/form-data with the image as the `file` part and the other fields as parts (`operations` as JSON text).',
        body: imageRequest,
        response: created,
      },
    },
    async (request, reply) => {
      const upload = uploadOf(request);
      const { sourceUrl, ...rest } = request.body;
      if (upload !== undefined && sourceUrl !== undefined) throw badRequest('body.sourceUrl', 'give either a sourceUrl or an uploaded file, not both');
      if (upload === undefined && sourceUrl === undefined) {
        throw badRequest('body.sourceUrl', 'required: give a sourceUrl, or upload the image as the `file` part of a multipart/form-data request');
      }
      if (sourceUrl !== undefined) await checkTarget(sourceUrl, 'body.sourceUrl', allowPrivate);
      const fields = withTenant(request, rest);
      const args = upload !== undefined ? { ...fields, uploadPath: upload.uploadPath } : { ...fields, sourceUrl: sourceUrl! };
      const job = await queue.insert(workers.image, args, { tags: tagsFor(args) });
      return reply.code(201).send(toJobView(job));
    },
  );

  app.post(
    '/jobs/documents',
    { schema: { tags: ['jobs'], summary: 'Create a PDF generation job', body: documentRequest, response: created } },
    async (request, reply) => {
      const args = withTenant(request, request.body);
      return reply.code(201).send(toJobView(await queue.insert(workers.document, args, { tags: tagsFor(args) })));
    },
  );

  app.post(
    '/jobs/emails',
    { schema: { tags: ['jobs'], summary: 'Create an email job', body: emailRequest, response: created } },
    async (request, reply) => {
      const args = withTenant(request, request.body);
      return reply.code(201).send(toJobView(await queue.insert(workers.email, args, { tags: tagsFor(args) })));
    },
  );

  app.post(
    '/jobs/webhooks',
    { schema: { tags: ['jobs'], summary: 'Create a webhook delivery job', body: webhookRequest, response: created } },
    async (request, reply) => {
      const args = withTenant(request, request.body);
      await checkTarget(args.url, 'body.url', allowPrivate);
      return reply.code(201).send(toJobView(await queue.insert(workers.webhook, args, { tags: tagsFor(args) })));
    },
  );

  app.post(
    '/jobs/exports',
    {
      schema: {
        tags: ['jobs'],
        summary: "Create a data export job (of the caller's tenant's jobs only)",
        body: exportRequest,
        response: created,
      },
    },
    async (request, reply) => {
      const args = withTenant(request, request.body);
      return reply.code(201).send(toJobView(await queue.insert(workers.exporter, args, { tags: tagsFor(args) })));
    },
  );

  app.post(
    '/jobs/batch',
    {
      schema: {
        tags: ['jobs'],
        summary: `Create up to ${MAX_BATCH} jobs at once`,
        description: 'All items are validated before anything is written; one insert per worker, in one transaction.',
        body: batchBody,
        response: { 201: z.object({ jobs: z.array(jobView) }), ...errors(400, 413, 415) },
      },
    },
    async (request, reply) => {
      const items = request.body.jobs.map((item, i) => ({ ...item, args: withTenant(request, item.args, `body.jobs.${i}.args.tenantId`) }) as BatchItem);
      await Promise.all(
        items.map((item, i) =>
          item.type === 'image'
            ? checkTarget(item.args.sourceUrl, `body.jobs.${i}.args.sourceUrl`, allowPrivate)
            : item.type === 'webhook'
              ? checkTarget(item.args.url, `body.jobs.${i}.args.url`, allowPrivate)
              : undefined,
        ),
      );
      const jobs = await insertBatch({ queue, workers, pool }, items);
      return reply.code(201).send({ jobs: jobs.map(toJobView) });
    },
  );

  app.get(
    '/jobs/:id',
    { schema: { tags: ['jobs'], summary: 'Get a job', params: jobIdParams, response: { 200: jobView, ...errors(400, 404) } } },
    async (request) => {
      return toJobView(await visibleJob(queue, request, request.params.id));
    },
  );

  app.get(
    '/jobs/:id/files',
    {
      schema: {
        tags: ['jobs'],
        summary: "List a job's result files",
        params: jobIdParams,
        response: { 200: z.object({ jobId: z.string(), files: z.array(fileView) }), ...errors(400, 404) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const owner = storage.ofTenant(tenantOfJob(await visibleJob(queue, request, id)));
      const files = owner === null ? [] : await owner.list(id);
      return {
        jobId: id,
        files: files.map((f) => ({ name: f.name, bytes: f.bytes, modifiedAt: f.modifiedAt.toISOString(), url: `/jobs/${id}/files/${encodeURIComponent(f.name)}` })),
      };
    },
  );

  app.get(
    '/jobs/:id/files/:name',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Download a result file',
        params: jobIdParams.extend({ name: z.string().refine(isSafeFileName, 'must be a plain file name (letters, digits, . _ -)') }),
        response: { 200: z.unknown().describe('The file'), ...errors(400, 404) },
      },
    },
    async (request, reply) => {
      const { id, name } = request.params;
      const owner = storage.ofTenant(tenantOfJob(await visibleJob(queue, request, id)));
      const file = owner === null ? null : await owner.open(id, name);
      if (file === null) throw notFound(`Job ${id} has no file ${name}`);
      const type = CONTENT_TYPES[name.split('.').pop()?.toLowerCase() ?? ''] ?? 'application/octet-stream';
      const disposition = type.startsWith('image/') ? 'inline' : 'attachment';
      return reply
        .type(type)
        .header('content-length', file.bytes)
        .header('content-disposition', `${disposition}; filename="${file.name}"`)
        .send(file.stream);
    },
  );

  await app.register(eventRoutes, options);
};

/** A batch item whose tenant is decided (see withTenant). */
type BatchItem = z.output<typeof batchItem> & { args: { tenantId: string } };

/**
 * Inserts a validated batch: one insertMany per worker and tenant (tags are per insert, and every
 * job carries its tenant's tag), in one transaction when a pool is given, so a batch is written
 * whole or not at all. Answers in the request's order.
 */
async function insertBatch(deps: Pick<AppDeps, 'queue' | 'workers' | 'pool'>, items: readonly BatchItem[]): Promise<Job[]> {
  const { queue, workers, pool } = deps;
  const groups = new Map<string, number[]>();
  items.forEach((item, i) => {
    const key = `${item.type}\u0000${item.args.tenantId}`;
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  const workerOf = { image: workers.image, document: workers.document, email: workers.email, webhook: workers.webhook, export: workers.exporter };
  const out = new Array<Job>(items.length);
  const run = async (tx: unknown) => {
    for (const indexes of groups.values()) {
      const first = items[indexes[0]!]!;
      const options: InsertOptions = tx === undefined ? { tags: tagsFor(first.args) } : { tags: tagsFor(first.args), tx };
      const list = indexes.map((i) => items[i]!.args);
      // Args were checked by the route's schema; insertMany checks them again by the worker's,
      // and names the refused item by its index in this group: answer with its index in the batch.
      const jobs = await queue.insertMany(workerOf[first.type].name, list, options).catch((error: unknown) => {
        if (!(error instanceof ArgsValidationError) || error.index === undefined) throw error;
        const at = `body.jobs.${indexes[error.index]!}.args`;
        const issues = error.issues.map((i) => ({ path: [at, ...i.path].join('.'), message: i.message }));
        throw new HttpError(400, issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues);
      });
      indexes.forEach((i, k) => (out[i] = jobs[k]!));
    }
  };
  if (pool === undefined) {
    await run(undefined);
    return out;
  }
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await run(client);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
  return out;
}
