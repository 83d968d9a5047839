// The errors Storage throws on purpose: a name that may not touch a path, a folder that is not
// a plain folder under the root (a symlink on its way), an upload over its size limit.

/** A tenant id, job id, file name or upload path that is not allowed. */
export class UnsafeNameError extends Error {
  readonly code = 'EUNSAFENAME';
  constructor(what: string, value: string) {
    super(`unsafe ${what}: ${JSON.stringify(value.slice(0, 200))}`);
    this.name = 'UnsafeNameError';
  }
}

/** A folder under the root that is not a plain folder (a symlink somewhere on its way): nothing is written through it. */
export class UnsafePathError extends Error {
  readonly code = 'EUNSAFEPATH';
  constructor(relative: string) {
    super(`${relative} is not a plain folder under the storage root (a symlink?): refusing to write there`);
    this.name = 'UnsafePathError';
  }
}

/** An upload bigger than the limit (the partial file is removed). */
export class UploadTooLargeError extends Error {
  readonly code = 'EUPLOADTOOLARGE';
  readonly maxBytes: number;
  constructor(maxBytes: number) {
    super(`upload exceeds the limit of ${maxBytes} bytes`);
    this.name = 'UploadTooLargeError';
    this.maxBytes = maxBytes;
  }
}
