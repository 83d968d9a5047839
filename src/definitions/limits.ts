// docket's fixed bounds on what a job may carry or ask for, shared by the insert checks and the
// runtime: beyond them PostgreSQL would refuse the value (or overflow a timestamp) with a raw error.

/** Longest delay docket stores (100 years): an insert's `delay`, a retry's backoff, a snooze. */
export const MAX_DELAY_MS = 100 * 365 * 24 * 3600 * 1000;

/** Default of the Queue option `maxArgsBytes`: 1 MiB of JSON per job. */
export const DEFAULT_MAX_ARGS_BYTES = 1024 * 1024;

/** Largest `maxArgsBytes`: jsonb holds at most 255 MiB, so a limit beyond it would only move the error. */
export const MAX_ARGS_BYTES_LIMIT = 255 * 1024 * 1024;

/**
 * Largest result docket stores, in bytes of JSON (64 MiB; jsonb's own limit is 255 MiB): a
 * bigger one fails the attempt with an error saying so, rather than an ack the server refuses.
 */
export const MAX_RESULT_BYTES = 64 * 1024 * 1024;

/** Longest message or stack stored for an error, in characters; the rest is cut with a note. */
export const MAX_ERROR_TEXT = 64 * 1024;
