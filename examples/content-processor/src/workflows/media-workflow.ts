// The media workflow, as one docket DAG inserted in one statement:
//
//   source ──┬── resize ─────────┬── notify ── (deliver, added by notify)
//            └── contact-sheet ──┘
//
// source fetches (or takes the upload of) the image and stores it; resize (thumbnails, sharp)
// and contact-sheet (PDF, pdfkit) then run in parallel; notify runs when both finished, even if
// one failed (it reports the failure), and adds the webhook or email delivery. If source fails,
// resize and contact-sheet are cancelled and notify reports that. Every step is tagged with the
// tenant and `workflow:media`, and its args carry the tenantId, so tenants' partitions apply.
import type { InsertedWorkflow, Queue } from 'docket';
import type { ImageJobArgs } from '../jobs/schemas.js';
import type { NotifyTarget } from '../jobs/media-schemas.js';
import { MEDIA_WORKFLOW, STEP, mediaTags } from '../jobs/media-schemas.js';
import type { Workers } from '../docket.js';

export interface MediaRequest {
  imageId: string;
  tenantId: string;
  /** Where the image comes from: a URL the source step fetches, or an upload already stored. */
  source: { sourceUrl: string } | { uploadPath: string };
  operations: ImageJobArgs['operations'];
  /** The contact sheet's title (default: "Contact sheet: <imageId>"). */
  title?: string | undefined;
  notify: NotifyTarget;
}

/** Inserts the workflow (in the host's transaction when `tx` is given). */
export function startMediaWorkflow(queue: Queue, workers: Workers, request: MediaRequest, options: { tx?: unknown } = {}): Promise<InsertedWorkflow> {
  const { imageId, tenantId, operations } = request;
  return queue
    .workflow(MEDIA_WORKFLOW, { tags: mediaTags(tenantId) })
    .add(STEP.source, workers.mediaSource, { imageId, tenantId, ...request.source })
    .add(STEP.resize, workers.mediaResize, { imageId, tenantId, operations }, { deps: [STEP.source] })
    .add(
      STEP.contactSheet,
      workers.contactSheet,
      { imageId, tenantId, thumbnails: operations.thumbnails, ...(request.title === undefined ? {} : { title: request.title }) },
      { deps: [STEP.source] },
    )
    .add(STEP.notify, workers.mediaNotify, { imageId, tenantId, notify: request.notify }, { deps: [STEP.resize, STEP.contactSheet], ignoreDependencyFailure: true })
    .insert(options.tx === undefined ? {} : { tx: options.tx });
}
