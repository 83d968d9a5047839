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

/**
 * A job's file not written because its tenant is at its storage quota: the attempt fails and
 * docket retries it later (with backoff), when retention may have freed space.
 */
export class StorageQuotaError extends Error {
  readonly code = 'ESTORAGEQUOTA';
  constructor(tenant: string, quota: number, used: number) {
    super(`tenant ${tenant} is at its storage quota of ${quota} bytes (using ${used}): the file is not written; the job is retried once files are removed`);
    this.name = 'StorageQuotaError';
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
