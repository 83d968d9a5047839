// process-image (queue images): gets the source (a URL through the SSRF-guarded fetch, or an
// upload from storage; see image-source.ts), then with sharp (image-render.ts): auto-orients,
// resizes to fit the requested box (never enlarging), converts to the requested format
// (optimized or not), and renders one thumbnail per requested width. Every file goes to storage
// under the job's id; the result lists them with their real dimensions and sizes. Inputs that
// can never work (refused URL, 4xx, not an image, a format we do not decode) are discarded at
// once; network trouble and 5xx are retried.
import { Worker } from 'docket';
import { imageJobArgs } from '../jobs/schemas.js';
import type { WorkerDeps } from './common.js';
import { renderImages, type ImageFile } from './image-render.js';
import { inspectImage, orientedSize, readImageSource } from './image-source.js';

export type { ImageFile, ImageFormat } from './image-render.js';

export interface ImageResult {
  files: ImageFile[];
  source: { format: string; width: number; height: number; bytes: number };
}

export function createImageWorker(deps: WorkerDeps) {
  const { config, storage, logger } = deps;
  return new Worker({
    name: 'process-image',
    queue: 'images',
    args: imageJobArgs,
    maxAttempts: 5,
    timeout: config.timeouts.images,
    partition: { by: (args) => args.tenantId, limit: config.tenantConcurrency },
    perform: async (job, { signal }) => {
      // 1. The source bytes.
      const source = await readImageSource(deps, job.args, signal);
      if ('refused' in source) return source.refused;
      const input = source.bytes;
      await job.progress(10, { stage: 'source', bytes: input.length });

      // 2. Is it an image we decode?
      const inspected = await inspectImage(input);
      if ('refused' in inspected) return inspected.refused;
      const { meta } = inspected;
      signal.throwIfAborted();

      // 3. The main image, then the thumbnails (smallest first), each written as it is made.
      const rendered = await renderImages(input, job.args.operations, {
        signal,
        write: (name, data) => storage.forTenant(job.args.tenantId).write(job.id, name, data, { signal }),
        progress: (done, of, name) => job.progress(10 + Math.round((done / of) * 90), { stage: name, files: done, of }),
      });
      if ('refused' in rendered) return rendered.refused;

      logger.info('image processed', { jobId: job.id, tenantId: job.args.tenantId, files: rendered.files.length });
      const result: ImageResult = { files: rendered.files, source: { format: meta.format, ...orientedSize(meta), bytes: input.length } };
      return result;
    },
  });
}
