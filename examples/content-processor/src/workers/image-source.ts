// Where an image job's bytes come from, and whether they are an image we decode: a URL fetched
// through the SSRF-guarded fetch (same rules as every outbound request), or an upload from
// storage. Shared by process-image and the media workflow's source step. Inputs that can never
// work (a refused URL, a 4xx, an unsafe or missing upload, not an image, a format we refuse)
// come back as `{ refused }`, the outcome to return at once; network trouble and 5xx throw or
// ask for a retry, as failedStatus decides.
import sharp, { type Metadata } from 'sharp';
import type { WorkerResult } from 'docket';
import { WorkerResults } from 'docket';
import { overPixelLimit } from '../security/pixel-limit.js';
import { BlockedTargetError, ResponseTooLargeError, safeFetch } from '../security/ssrf.js';
import { UnsafeNameError, UploadTooLargeError } from '../storage.js';
import { failedStatus, messageOf, type WorkerDeps } from './common.js';

/** Decoders we accept. SVG (which can reference other resources) and PDF are refused on purpose. */
export const INPUT_FORMATS = new Set(['jpeg', 'png', 'webp', 'avif', 'gif', 'tiff', 'heif']);
/** Decompression-bomb guard (security/pixel-limit.ts), re-exported for the decoding workers. */
export { MAX_INPUT_PIXELS } from '../security/pixel-limit.js';

/** The outcome of a job whose input can never work (or that should be retried later). */
export interface Refused {
  readonly refused: WorkerResult;
}

/** Exactly one of the two is set (the job schemas check it); an upload is the tenant's. */
export interface ImageSourceRef {
  readonly sourceUrl?: string | undefined;
  readonly uploadPath?: string | undefined;
  readonly tenantId: string;
}

/** The source bytes: fetched from `sourceUrl`, or read from the tenant's upload at `uploadPath`. */
export async function readImageSource(deps: Pick<WorkerDeps, 'config' | 'storage'>, ref: ImageSourceRef, signal: AbortSignal): Promise<{ bytes: Buffer } | Refused> {
  const { config, storage } = deps;
  if (ref.sourceUrl !== undefined) {
    try {
      const response = await safeFetch(ref.sourceUrl, {
        allowPrivate: config.allowPrivateTargets,
        timeoutMs: config.fetch.timeoutMs,
        maxBytes: config.fetch.maxBytes,
        signal,
      });
      if (response.status !== 200) return { refused: failedStatus(response.status, response.headers, 'image source') };
      return { bytes: response.body };
    } catch (error) {
      if (error instanceof BlockedTargetError || error instanceof ResponseTooLargeError) return { refused: WorkerResults.discard(error.message) };
      throw error;
    }
  }
  try {
    return { bytes: await storage.forTenant(ref.tenantId).readUpload(ref.uploadPath!, config.uploadLimit) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (error instanceof UnsafeNameError || error instanceof UploadTooLargeError || code === 'ENOENT') {
      return { refused: WorkerResults.discard(`upload ${ref.uploadPath}: ${messageOf(error)}`) };
    }
    throw error;
  }
}

/** The image's metadata, when it is an image we decode and not too large. */
export async function inspectImage(bytes: Buffer): Promise<{ meta: Metadata } | Refused> {
  let meta: Metadata;
  try {
    // No pixel limit here: metadata reads the header only, and the size is checked (and named) below.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error) {
    return { refused: WorkerResults.discard(`source is not a readable image: ${messageOf(error)}`) };
  }
  if (!INPUT_FORMATS.has(meta.format)) return { refused: WorkerResults.discard(`source format ${meta.format} is not accepted (${[...INPUT_FORMATS].join(', ')})`) };
  const over = overPixelLimit(meta.width, meta.height);
  if (over !== undefined) return { refused: WorkerResults.discard(`source: ${over}`) };
  return { meta };
}

/** Width and height as displayed (after EXIF orientation). */
export function orientedSize(meta: Metadata): { width: number; height: number } {
  return { width: meta.autoOrient?.width ?? meta.width, height: meta.autoOrient?.height ?? meta.height };
}
