// The sharp side of image jobs, shared by process-image and the media workflow's resize step:
// auto-orient, resize to fit a box (never enlarging), convert to the requested format (optimized
// or not), and render the main image plus one thumbnail per requested width (smallest first),
// each handed to `write` as soon as it is made. A source that fails to decode fails the same way
// every time, so it comes back as a discard; memory trouble and aborts are thrown (retried).
import sharp from 'sharp';
import { WorkerResults } from 'docket';
import type { ImageJobArgs } from '../jobs/schemas.js';
import { messageOf } from './common.js';
import { MAX_INPUT_PIXELS, type Refused } from './image-source.js';

export type ImageOperations = ImageJobArgs['operations'];
export type ImageFormat = ImageOperations['format'];

export interface ImageFile {
  name: string;
  width: number;
  height: number;
  bytes: number;
  format: ImageFormat;
}

export const EXTENSION: Record<ImageFormat, string> = { jpeg: 'jpg', png: 'png', webp: 'webp', avif: 'avif' };

export interface RenderHooks {
  /** Stores one output file; returns its size. */
  write(name: string, data: Buffer): Promise<{ bytes: number }>;
  /** Called after each file, with how many of how many are done. */
  progress(done: number, of: number, name: string): Promise<void>;
  signal: AbortSignal;
}

/** Renders `image.<ext>` (resized to operations.resize) and `thumb-<width>.<ext>` per thumbnail width. */
export async function renderImages(input: Buffer, operations: ImageOperations, hooks: RenderHooks): Promise<{ files: ImageFile[] } | Refused> {
  const { signal } = hooks;
  const files: ImageFile[] = [];
  const ext = EXTENSION[operations.format];
  const widths = [...new Set(operations.thumbnails)].sort((a, b) => a - b);
  const steps = 1 + widths.length;
  const render = async (name: string, box: { width: number; height?: number } | undefined) => {
    const { data, info } = await encode(input, operations.format, operations.optimize, box);
    signal.throwIfAborted();
    const { bytes } = await hooks.write(name, data);
    files.push({ name, width: info.width, height: info.height, bytes, format: operations.format });
    await hooks.progress(files.length, steps, name);
  };
  try {
    await render(`image.${ext}`, operations.resize);
    for (const width of widths) await render(`thumb-${width}.${ext}`, { width });
  } catch (error) {
    // The same bytes fail the same way every time (a truncated or corrupt body passes the
    // header check and fails only when decoded in full): no point retrying, unless the
    // machine itself was short of memory or files, or the attempt was aborted.
    if (error instanceof DecodeError && !signal.aborted && !/memory|EMFILE|ENFILE/i.test(error.message)) {
      return { refused: WorkerResults.discard(`source image could not be processed: ${error.message}`) };
    }
    throw error instanceof DecodeError ? (error.cause ?? error) : error;
  }
  return { files };
}

/** sharp failed on the source (as opposed to storage failing to write the output). */
export class DecodeError extends Error {
  constructor(cause: unknown) {
    super(messageOf(cause), { cause });
    this.name = 'DecodeError';
  }
}

/** Orient, resize to fit (never enlarge), convert. @throws DecodeError */
export async function encode(input: Buffer, format: ImageFormat, optimize: boolean, box: { width: number; height?: number } | undefined) {
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
