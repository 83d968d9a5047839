// The decompression-bomb guard of every image we decode: at most MAX_INPUT_PIXELS pixels. A
// small file can claim a huge size (a 50000×50000 PNG of one colour compresses to a few KiB),
// so the size is read from the header first (sharp's metadata decodes no pixels) and refused
// with a message naming the limit: by the upload route as a 400, by the image workers (process-
// image, the media workflow's source step) as the discard reason, in the same words.

/** At most this many pixels (width × height) in an image we decode: 100 megapixels. */
export const MAX_INPUT_PIXELS = 100_000_000;

/** Why an image of this size is refused, or undefined when it is within the limit. */
export function overPixelLimit(width: number, height: number): string | undefined {
  if (width * height <= MAX_INPUT_PIXELS) return undefined;
  return `the image is ${width}×${height} pixels, over the limit of ${MAX_INPUT_PIXELS / 1_000_000} megapixels`;
}
