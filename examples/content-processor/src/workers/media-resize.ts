// resize-media (queue images): a media workflow step run once the source step completed. Reads
// the stored original and renders the resized image and its thumbnails with the same sharp code
// as process-image (image-render.ts), each written among its own job's files. Runs beside the
// contact-sheet step; notify waits for both.
import { Worker } from 'docket';
import { mediaResizeArgs, mediaResizeResult } from '../jobs/media-schemas.js';
import type { WorkerDeps } from './common.js';
import { renderImages } from './image-render.js';
import type { MediaSourceWorker } from './media-source.js';
import { readSourceImage } from './step-input.js';

export function createMediaResizeWorker(deps: WorkerDeps, sourceWorker: MediaSourceWorker) {
  const { config, storage, logger } = deps;
  return new Worker({
    name: 'resize-media',
    queue: 'images',
    args: mediaResizeArgs,
    result: mediaResizeResult,
    maxAttempts: 5,
    timeout: config.timeouts.images,
    partition: { by: (args) => args.tenantId, limit: config.tenantConcurrency },
    perform: async (job, { signal }) => {
      const source = await readSourceImage(job, storage.forTenant(job.args.tenantId), sourceWorker);
      if ('refused' in source) return source.refused;
      await job.progress(10, { stage: 'source', bytes: source.bytes.length });

      const rendered = await renderImages(source.bytes, job.args.operations, {
        signal,
        write: (name, data) => storage.forTenant(job.args.tenantId).write(job.id, name, data, { signal }),
        progress: (done, of, name) => job.progress(10 + Math.round((done / of) * 90), { stage: name, files: done, of }),
      });
      if ('refused' in rendered) return rendered.refused;

      logger.info('media resized', { jobId: job.id, workflowId: job.workflow?.id, tenantId: job.args.tenantId, files: rendered.files.length });
      return { jobId: job.id, files: rendered.files };
    },
  });
}

export type MediaResizeWorker = ReturnType<typeof createMediaResizeWorker>;
