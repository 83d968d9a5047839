// process-image (queue images): gets the source (a URL through the SSRF-guarded fetch, or an
// upload from storage), then with sharp: auto-orients, resizes to fit the requested box (never
// enlarging), converts to the requested format (optimized or not), and renders one thumbnail per
// requested width. Every file goes to storage under the job's id; the result lists them with their
// real dimensions and sizes. Inputs that can never work (refused URL, 4xx, not an image, a format
// we do not decode) are discarded at once; network trouble and 5xx are retried.
import sharp, { type Metadata } from 'sharp';
import { Worker, WorkerResults } from '../../../../src/index.js';
import { imageJobArgs, type ImageJobArgs } from '../jobs/schemas.js';
import { BlockedTargetError, ResponseTooLargeError, safeFetch } from '../security/ssrf.js';
import { UnsafeNameError, UploadTooLargeError } from '../storage.js';
import { failedStatus, messageOf, type WorkerDeps } from './common.js';

export type ImageFormat = ImageJobArgs['operations']['format'];

export interface ImageFile {
  name: string;
  width: number;
  height: number;
  bytes: number;
  format: ImageFormat;
}

export interface ImageResult {
  files: ImageFile[];
  source: { format: string; width: number; height: number; bytes: number };
}

/** Decoders we accept. SVG (which can reference other resources) and PDF are refused on purpose. */
const INPUT_FORMATS = new Set(['jpeg', 'png', 'webp', 'avif', 'gif', 'tiff', 'heif']);
const EXTENSION: Record<ImageFormat, string> = { jpeg: 'jpg', png: 'png', webp: 'webp', avif: 'avif' };
/** Decompression-bomb guard: at most ~100 megapixels. */
const MAX_INPUT_PIXELS = 100_000_000;

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
      const { operations } = job.args;

      // 1. The source bytes.
      let input: Buffer;
      if (job.args.sourceUrl !== undefined) {
        try {
          const response = await safeFetch(job.args.sourceUrl, {
            allowPrivate: config.allowPrivateTargets,
            timeoutMs: config.fetch.timeoutMs,
            maxBytes: config.fetch.maxBytes,
            signal,
          });
          if (response.status !== 200) return failedStatus(response.status, response.headers, 'image source');
          input = response.body;
        } catch (error) {
          if (error instanceof BlockedTargetError || error instanceof ResponseTooLargeError) return WorkerResults.discard(error.message);
          throw error;
        }
      } else {
        try {
          input = await storage.readUpload(job.args.uploadPath!, config.uploadLimit);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (error instanceof UnsafeNameError || error instanceof UploadTooLargeError || code === 'ENOENT') {
            return WorkerResults.discard(`upload ${job.args.uploadPath}: ${messageOf(error)}`);
          }
          throw error;
        }
      }
      await job.progress(10, { stage: 'source', bytes: input.length });

      // 2. Is it an image we decode?
      let meta: Metadata;
      try {
        meta = await sharp(input, { limitInputPixels: MAX_INPUT_PIXELS }).metadata();
      } catch (error) {
        return WorkerResults.discard(`source is not a readable image: ${messageOf(error)}`);
      }
      if (!INPUT_FORMATS.has(meta.format)) return WorkerResults.discard(`source format ${meta.format} is not accepted (${[...INPUT_FORMATS].join(', ')})`);
      if (meta.width * meta.height > MAX_INPUT_PIXELS) return WorkerResults.discard(`source is ${meta.width}x${meta.height}, over ${MAX_INPUT_PIXELS} pixels`);
      signal.throwIfAborted();

      // 3. The main image, then the thumbnails (smallest first), each written as it is made.
      const files: ImageFile[] = [];
      const ext = EXTENSION[operations.format];
      const widths = [...new Set(operations.thumbnails)].sort((a, b) => a - b);
      const steps = 1 + widths.length;
      const render = async (name: string, box: { width: number; height?: number } | undefined) => {
        const { data, info } = await encode(input, operations.format, operations.optimize, box);
        signal.throwIfAborted();
        const { bytes } = await storage.write(job.id, name, data, { signal });
        files.push({ name, width: info.width, height: info.height, bytes, format: operations.format });
        await job.progress(10 + Math.round((files.length / steps) * 90), { stage: name, files: files.length, of: steps });
      };
      try {
        await render(`image.${ext}`, operations.resize);
        for (const width of widths) await render(`thumb-${width}.${ext}`, { width });
      } catch (error) {
        // The same bytes fail the same way every time (a truncated or corrupt body passes the
        // header check and fails only when decoded in full): no point retrying, unless the
        // machine itself was short of memory or files, or the attempt was aborted.
        if (error instanceof DecodeError && !signal.aborted && !/memory|EMFILE|ENFILE/i.test(error.message)) {
          return WorkerResults.discard(`source image could not be processed: ${error.message}`);
        }
        throw error instanceof DecodeError ? (error.cause ?? error) : error;
      }

      logger.info('image processed', { jobId: job.id, tenantId: job.args.tenantId, files: files.length });
      const result: ImageResult = {
        files,
        source: { format: meta.format, width: meta.autoOrient?.width ?? meta.width, height: meta.autoOrient?.height ?? meta.height, bytes: input.length },
      };
      return result;
    },
  });
}

/** sharp failed on the source (as opposed to storage failing to write the output). */
class DecodeError extends Error {
  constructor(cause: unknown) {
    super(messageOf(cause), { cause });
    this.name = 'DecodeError';
  }
}

/** Orient, resize to fit (never enlarge), convert. @throws DecodeError */
async function encode(input: Buffer, format: ImageFormat, optimize: boolean, box: { width: number; height?: number } | undefined) {
  let image = sharp(input, { limitInputPixels: MAX_INPUT_PIXELS }).rotate();
  if (box) image = image.resize({ width: box.width, ...(box.height === undefined ? {} : { height: box.height }), fit: 'inside', withoutEnlargement: true });
  switch (format) {
    case 'jpeg':
      image = image.jpeg(optimize ? { quality: 80, mozjpeg: true } : { quality: 92 });
      break;
    case 'png':
      image = image.png(optimize ? { compressionLevel: 9, adaptiveFiltering: true } : { compressionLevel: 6 });
      break;
    case 'webp':
      image = image.webp(optimize ? { quality: 80, effort: 6, smartSubsample: true } : { quality: 90, effort: 4 });
      break;
    case 'avif':
      image = image.avif(optimize ? { quality: 50, effort: 5 } : { quality: 65, effort: 3 });
      break;
  }
  try {
    return await image.toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new DecodeError(error);
  }
}
