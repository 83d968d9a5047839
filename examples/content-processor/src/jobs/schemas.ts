// The args of every job the API enqueues: one zod schema per worker, shared by the routes
// (request validation, OpenAPI) and the workers (docket validates args at insert with them).
import { z } from 'zod';

/** A tenant id: letters, digits, dashes; used for partitions and metrics labels. */
export const tenantId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'tenantId: 1-64 letters, digits, _ or -');

/** The tag every job and workflow of a tenant carries: what routes, exports and the sweeper go by. */
export const TENANT_TAG_PREFIX = 'tenant:';
export const tenantTag = (tenant: string): string => `${TENANT_TAG_PREFIX}${tenant}`;

/**
 * The tenantId of a request body: optional, because a tenant API key decides it (a body may only
 * repeat the key's tenant); required only without a key (development mode, the admin key).
 */
export const requestTenantId = tenantId
  .optional()
  .describe("The tenant: leave it out when sending a tenant API key (the key decides); required without one (development mode, the admin key)");

export const imageOperations = z
  .object({
    resize: z.object({ width: z.number().int().min(1).max(8000), height: z.number().int().min(1).max(8000).optional() }).optional(),
    format: z.enum(['jpeg', 'png', 'webp', 'avif']).default('webp'),
    optimize: z.boolean().default(true),
    thumbnails: z.array(z.number().int().min(16).max(2048)).max(8).default([]),
  })
  .default({ format: 'webp', optimize: true, thumbnails: [] });

/** Image job: the source is a URL fetched by the worker, or an upload already stored under uploadPath. */
export const imageJobArgs = z
  .object({
    imageId: z.string().min(1).max(128),
    sourceUrl: z.string().url().optional(),
    uploadPath: z.string().min(1).optional(),
    operations: imageOperations,
    tenantId,
  })
  .refine((a) => (a.sourceUrl === undefined) !== (a.uploadPath === undefined), 'give exactly one of sourceUrl or an uploaded file');

export const documentJobArgs = z.object({
  documentId: z.string().min(1).max(128),
  title: z.string().min(1).max(200),
  /** Paragraphs of the PDF to generate. */
  paragraphs: z.array(z.string().max(10_000)).min(1).max(500),
  tenantId,
});

const emailFields = z.object({
  to: z.string().email(),
  subject: z.string().min(1).max(300),
  html: z.string().max(200_000).optional(),
  text: z.string().max(200_000).optional(),
  tenantId,
});
const htmlOrText = (a: { html?: string | undefined; text?: string | undefined }): boolean => a.html !== undefined || a.text !== undefined;
export const emailJobArgs = emailFields.refine(htmlOrText, 'give html or text');
/** POST /jobs/emails: the args with the tenant left to the API key. */
export const emailRequest = emailFields.extend({ tenantId: requestTenantId }).refine(htmlOrText, 'give html or text');

export const webhookJobArgs = z.object({
  url: z.string().url(),
  event: z.string().min(1).max(100),
  payload: z.record(z.string(), z.unknown()),
  tenantId,
});

export const exportJobArgs = z.object({
  format: z.enum(['csv', 'json']),
  /** Which jobs to export. */
  filter: z
    .object({
      queue: z.string().optional(),
      state: z.enum(['available', 'scheduled', 'executing', 'retryable', 'completed', 'discarded', 'cancelled']).optional(),
    })
    .default({}),
  tenantId,
});

export type ImageJobArgs = z.output<typeof imageJobArgs>;
export type DocumentJobArgs = z.output<typeof documentJobArgs>;
export type EmailJobArgs = z.output<typeof emailJobArgs>;
export type WebhookJobArgs = z.output<typeof webhookJobArgs>;
export type ExportJobArgs = z.output<typeof exportJobArgs>;

/** Queue names of the spec. */
export const QUEUES = ['images', 'documents', 'emails', 'webhooks', 'exports', 'default'] as const;
export type QueueName = (typeof QUEUES)[number];
