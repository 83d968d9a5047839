// The media workflow's vocabulary: its name and tag, its step names, and one zod schema per
// step for the args (checked by docket at insert) and for the result (read by the steps after
// it with stepResult, which types and checks it). The DAG itself is built in
// workflows/media-workflow.ts.
import { z } from 'zod';
import { imageOperations, tenantId, tenantTag } from './schemas.js';

/** The name every media workflow is inserted under. */
export const MEDIA_WORKFLOW = 'media';
/** On every media workflow and so on each of its steps: how the dashboard finds them. */
export const MEDIA_TAG = 'workflow:media';

/** Step names, in the order they run. `deliver` is added by `notify` while it runs. */
export const STEP = {
  source: 'source',
  resize: 'resize',
  contactSheet: 'contact-sheet',
  notify: 'notify',
  deliver: 'deliver',
} as const;

/** The tags of a media workflow (and of each step): its tenant's, as every job has, and the workflow's. */
export function mediaTags(tenant: string): string[] {
  return [tenantTag(tenant), MEDIA_TAG];
}

const imageId = z.string().min(1).max(128);
const jobId = z.string().regex(/^[1-9][0-9]{0,18}$/);

/** Who hears that the workflow ended: a signed webhook, or an email. */
export const notifyTarget = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('webhook'),
    url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2048),
  }),
  z.strictObject({
    type: z.literal('email'),
    to: z.string().email(),
    subject: z.string().min(1).max(300).optional(),
  }),
]);
export type NotifyTarget = z.output<typeof notifyTarget>;

// --- source: fetch or take the upload, check it, store it as the workflow's original ---------

export const mediaSourceArgs = z
  .object({ imageId, sourceUrl: z.string().url().optional(), uploadPath: z.string().min(1).optional(), tenantId })
  .refine((a) => (a.sourceUrl === undefined) !== (a.uploadPath === undefined), 'give exactly one of sourceUrl or an uploaded file');

export const mediaSourceResult = z.object({
  /** The source step's job: the original is stored among its files. */
  jobId,
  file: z.string(),
  format: z.string(),
  width: z.number().int(),
  height: z.number().int(),
  bytes: z.number().int(),
});

// --- resize: the resized image and its thumbnails ------------------------------------------

export const mediaResizeArgs = z.object({ imageId, operations: imageOperations, tenantId });

export const mediaResizeResult = z.object({
  jobId,
  files: z.array(
    z.object({
      name: z.string(),
      width: z.number().int(),
      height: z.number().int(),
      bytes: z.number().int(),
      format: z.enum(['jpeg', 'png', 'webp', 'avif']),
    }),
  ),
});

// --- contact-sheet: a one-page PDF of the image and its sizes ------------------------------

export const contactSheetArgs = z.object({
  imageId,
  title: z.string().min(1).max(200).optional(),
  /** Tile widths in pixels (the thumbnails asked for); a default set when empty. */
  thumbnails: z.array(z.number().int().min(16).max(2048)).max(8).default([]),
  tenantId,
});

export const contactSheetResult = z.object({
  jobId,
  pdf: z.object({ name: z.string(), bytes: z.number().int(), pages: z.number().int() }),
  tiles: z.number().int(),
});

// --- notify: compose the message, add the delivery step --------------------------------------

export const mediaNotifyArgs = z.object({ imageId, notify: notifyTarget, tenantId });

/** What a receiver gets (the webhook payload; the email says the same in words). */
export interface MediaSummary {
  workflowId: string;
  imageId: string;
  tenantId: string;
  /** `completed` when both branches completed; `failed` when one did not. */
  outcome: 'completed' | 'failed';
  /** Paths on this API. */
  links: { workflow: string };
  files: { step: string; name: string; bytes: number; url: string; width?: number; height?: number }[];
  /** Dependencies of notify that did not complete. */
  failedSteps: string[];
}

export type MediaSourceArgs = z.output<typeof mediaSourceArgs>;
export type MediaResizeArgs = z.output<typeof mediaResizeArgs>;
export type ContactSheetArgs = z.output<typeof contactSheetArgs>;
export type MediaNotifyArgs = z.output<typeof mediaNotifyArgs>;
