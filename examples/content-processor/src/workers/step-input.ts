// How a media workflow step reads the original image the source step stored: the source's
// result (typed and checked by stepResult against fetch-media-source's result schema) names the
// job and file; the bytes come from the step's tenant's storage (`files`). A missing file cannot
// appear by retrying (storage was wiped, or the job's files were removed), so that is a discard.
import { WorkerResults, stepResult } from 'docket';
import type { RunningJob } from 'docket';
import { STEP } from '../jobs/media-schemas.js';
import type { TenantStorage } from '../storage.js';
import type { Refused } from './image-source.js';
import type { MediaSourceWorker } from './media-source.js';

export interface SourceImage {
  bytes: Buffer;
  format: string;
  width: number;
  height: number;
}

/** The original image of this step's workflow, or `{ refused }` when it is gone. */
export async function readSourceImage(job: RunningJob, files: TenantStorage, sourceWorker: MediaSourceWorker): Promise<SourceImage | Refused> {
  const source = stepResult(await job.results(), STEP.source, sourceWorker);
  try {
    const bytes = await files.readFile(source.jobId, source.file);
    return { bytes, format: source.format, width: source.width, height: source.height };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return { refused: WorkerResults.discard(`the source image (job ${source.jobId}, ${source.file}) is no longer in storage`) };
    }
    throw error;
  }
}
