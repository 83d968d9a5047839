// fetch-media-source (queue images): the first step of the media workflow. Gets the image the
// way process-image does (a URL through the SSRF-guarded fetch, or an upload from storage),
// checks it is an image we decode, and stores the original bytes as source.<ext> among its own
// job's files. Its result tells the next steps (resize, contact-sheet) where to read it. What
// can never work is discarded at once (and the workflow's failure policy takes over); network
// trouble and 5xx are retried.
import { Worker } from 'docket';
import { mediaSourceArgs, mediaSourceResult } from '../jobs/media-schemas.js';
import type { WorkerDeps } from './common.js';
import { inspectImage, orientedSize, readImageSource } from './image-source.js';

/** File extension of the stored original, by sharp's format name. */
const SOURCE_EXTENSION: Record<string, string> = { jpeg: 'jpg', png: 'png', webp: 'webp', avif: 'avif', gif: 'gif', tiff: 'tiff', heif: 'heif' };

export function createMediaSourceWorker(deps: WorkerDeps) {
  const { config, storage, logger } = deps;
  return new Worker({
    name: 'fetch-media-source',
    queue: 'images',
    args: mediaSourceArgs,
    result: mediaSourceResult,
    maxAttempts: 5,
    timeout: config.timeouts.images,
    partition: { by: (args) => args.tenantId, limit: config.tenantConcurrency },
    perform: async (job, { signal }) => {
      const source = await readImageSource(deps, job.args, signal);
      if ('refused' in source) return source.refused;
      await job.progress(50, { stage: 'source', bytes: source.bytes.length });

      const inspected = await inspectImage(source.bytes);
      if ('refused' in inspected) return inspected.refused;
      const { meta } = inspected;
      signal.throwIfAborted();

      const file = `source.${SOURCE_EXTENSION[meta.format] ?? 'img'}`;
      const { bytes } = await storage.forTenant(job.args.tenantId).write(job.id, file, source.bytes, { signal });
      logger.info('media source stored', { jobId: job.id, workflowId: job.workflow?.id, tenantId: job.args.tenantId, format: meta.format, bytes });
      return { jobId: job.id, file, format: meta.format, ...orientedSize(meta), bytes };
    },
  });
}

export type MediaSourceWorker = ReturnType<typeof createMediaSourceWorker>;
