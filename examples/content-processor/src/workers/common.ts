// What every worker shares: its dependencies, and how an HTTP answer or an error becomes a
// job outcome (retry with backoff, or stop for good). The rule, for fetches and webhooks alike:
// network trouble, timeouts, 5xx, 408 and 429 are worth retrying; other 4xx, refused targets and
// inputs that can never work are discarded at once, without burning the remaining attempts.
import type { Logger, Queue, WorkerResult } from 'docket';
import { WorkerResults } from 'docket';
import type { AppConfig } from '../config.js';
import type { Storage } from '../storage.js';

export interface WorkerDeps {
  config: AppConfig;
  storage: Storage;
  logger: Logger;
  /** The Queue the workers run on (created after them, hence a function). */
  queue(): Queue;
}

/** A non-2xx HTTP answer. */
export class HttpStatusError extends Error {
  readonly code = 'EHTTPSTATUS';
  readonly status: number;
  constructor(status: number, what: string) {
    super(`${what} answered HTTP ${status}`);
    this.name = 'HttpStatusError';
    this.status = status;
  }
}

/** 4xx other than 408 (timeout) and 429 (slow down): the request itself is wrong, retrying will not help. */
export function isPermanentStatus(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/** Milliseconds a Retry-After header asks for (seconds or an HTTP date), capped at an hour. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === '') return undefined;
  let ms: number;
  if (/^\d+$/.test(value.trim())) ms = Number(value.trim()) * 1000;
  else {
    const at = Date.parse(value);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(Math.max(ms, 0), 3_600_000);
}

/** The outcome for a non-2xx answer: discard when permanent, otherwise a retry (honouring Retry-After). */
export function failedStatus(status: number, headers: Record<string, string | string[] | undefined>, what: string): WorkerResult {
  const error = new HttpStatusError(status, what);
  if (isPermanentStatus(status)) return WorkerResults.discard(error.message);
  const wait = status === 429 || status === 503 ? retryAfterMs(headers['retry-after']) : undefined;
  return wait === undefined ? WorkerResults.error(error) : WorkerResults.error(error, wait);
}

/** An error's message, for results and logs. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
