// Turns what `perform` did (returned, threw, timed out, was stopped) into the ack docket stores
// and the event it emits once the ack is durable. Pure: no I/O, so it is unit-testable.
import type { JobState } from '../definitions/job.js';
import type { Job } from '../definitions/job.js';
import type { Worker } from '../definitions/worker.js';
import { defaultBackoff, isWorkerResult } from '../definitions/worker.js';
import { MAX_DELAY_MS, MAX_ERROR_TEXT, MAX_RESULT_BYTES } from '../definitions/limits.js';
import { readThrown } from '../definitions/thrown.js';
import { toStorableText } from '../definitions/storable-text.js';

/** What happened to one attempt. */
export type Outcome =
  | { readonly kind: 'ok'; readonly value: unknown }
  | { readonly kind: 'error'; readonly error: unknown; readonly delayMs?: number }
  | { readonly kind: 'snooze'; readonly delayMs: number }
  | { readonly kind: 'cancel'; readonly reason: string }
  | { readonly kind: 'discard'; readonly reason: string }
  | { readonly kind: 'shutdown'; readonly error: unknown }
  /** Claimed (prefetched) but never started: handed back untouched. */
  | { readonly kind: 'release' }
  /** The row moved on while the attempt ran (cancelled, deleted...): nothing to write. */
  | { readonly kind: 'moved'; readonly error: unknown };

/** Every outcome but `moved`, which writes nothing. */
export type AckableOutcome = Exclude<Outcome, { kind: 'moved' }>;

/** The event to emit after the ack lands. */
export type AckEvent =
  | { readonly type: 'complete' }
  | { readonly type: 'retry'; readonly delay: number }
  | { readonly type: 'discard'; readonly reason: string; readonly failed: boolean }
  | { readonly type: 'snooze'; readonly delay: number }
  | { readonly type: 'cancel'; readonly reason: string }
  | { readonly type: 'shutdown' }
  | { readonly type: 'release' };

/** An outcome ready to be acked: its JSON record for the batch and what to emit afterwards. */
export interface PendingAck {
  readonly job: Job;
  /** The claim this attempt ran under; the ack only lands while the row still carries it. */
  readonly claim: string;
  readonly state: JobState;
  readonly json: string;
  readonly event: AckEvent;
  /** The result as JSON text, for completed jobs. */
  readonly resultJson: string | null;
  readonly queueTime: number;
  readonly runTime: number;
  /** Set on the plain failure that replaces an outcome the database refused. */
  readonly fallback?: boolean;
}

/** Maps a value returned by perform (plain or WorkerResult) to an Outcome. */
export function outcomeOf(value: unknown): AckableOutcome {
  if (!isWorkerResult(value)) return { kind: 'ok', value };
  switch (value.kind) {
    case 'ok':
      return { kind: 'ok', value: value.value };
    case 'error':
      return value.delayMs === undefined
        ? { kind: 'error', error: value.error }
        : { kind: 'error', error: value.error, delayMs: value.delayMs };
    case 'snooze':
      return { kind: 'snooze', delayMs: value.delayMs };
    case 'cancel':
      return { kind: 'cancel', reason: value.reason };
    case 'discard':
      return { kind: 'discard', reason: value.reason };
  }
}

// jsonb cannot hold U+0000 or a lone surrogate, which real error messages do contain (JSON.parse
// of binary input, a string cut in the middle of an emoji).
function clean(text: string): string {
  return toStorableText(text);
}


function clampDelay(ms: number): number {
  return Math.min(Math.max(0, ms), MAX_DELAY_MS);
}

/** The stored form of an error: message, name and stack (the attempt and time are added in SQL). */
export function errorRecord(error: unknown, attempt: number): { attempt: number; message: string; name?: string; stack?: string } {
  const { message, name, stack } = readThrown(error);
  return {
    attempt,
    message: storable(message),
    ...(name === undefined ? {} : { name: storable(name) }),
    ...(stack === undefined ? {} : { stack: storable(stack) }),
  };
}

// Cut to MAX_ERROR_TEXT characters (an error message can be a whole response body), and without
// NUL or lone surrogates, which jsonb cannot hold.
function storable(text: string): string {
  const cut = text.length > MAX_ERROR_TEXT ? `${text.slice(0, MAX_ERROR_TEXT)}… (${text.length - MAX_ERROR_TEXT} more characters cut)` : text;
  return clean(cut);
}

function retryDelay(worker: Worker | undefined, attempt: number, error: unknown, override?: number): number {
  if (override !== undefined) return override;
  const backoff = worker?.backoff ?? defaultBackoff;
  try {
    const ms = backoff(attempt, error);
    if (Number.isFinite(ms) && ms >= 0) return Math.round(ms);
  } catch {
    // A broken backoff must not lose the job: fall back to the default.
  }
  return defaultBackoff(attempt, error);
}

interface Timing {
  readonly queueTime: number;
  readonly runTime: number;
}

/** Builds the ack for an attempt of `job` that ended with `outcome`. */
export function buildAck(
  job: Job,
  claim: string,
  worker: Worker | undefined,
  outcome: AckableOutcome,
  timing: Timing,
): PendingAck {
  const make = (state: JobState, extra: Record<string, unknown>, event: AckEvent): PendingAck => ({
    job,
    claim,
    state,
    json: JSON.stringify({ id: job.id, claim, state, ...extra }),
    event,
    resultJson: null,
    queueTime: timing.queueTime,
    runTime: timing.runTime,
  });
  switch (outcome.kind) {
    case 'ok': {
      // The hot path: the result is serialized once and spliced into the ack record.
      let resultJson: string | undefined;
      try {
        resultJson = JSON.stringify(outcome.value === undefined ? null : outcome.value);
      } catch (error) {
        return buildAck(job, claim, worker, { kind: 'error', error: new Error(`perform returned a value that is not JSON: ${(error as Error).message}`) }, timing);
      }
      if (resultJson === undefined) resultJson = 'null'; // e.g. a function: JSON has no value for it
      // UTF-8 takes at most 3 bytes per UTF-16 unit: only a long result needs its bytes counted.
      const bytes = resultJson.length * 3 > MAX_RESULT_BYTES ? Buffer.byteLength(resultJson, 'utf8') : 0;
      if (bytes > MAX_RESULT_BYTES) {
        return buildAck(job, claim, worker, { kind: 'error', error: new Error(`perform returned ${bytes} bytes of JSON, over docket's limit of ${MAX_RESULT_BYTES} for a result: store large output elsewhere and return its key`) }, timing);
      }
      return {
        job,
        claim,
        state: 'completed',
        json: `{"id":"${job.id}","claim":"${claim}","state":"completed","result":${resultJson}}`,
        event: { type: 'complete' },
        resultJson,
        queueTime: timing.queueTime,
        runTime: timing.runTime,
      };
    }
    case 'error': {
      const error = errorRecord(outcome.error, job.attempt);
      if (job.attempt >= job.maxAttempts) {
        return make('discarded', { error }, { type: 'discard', reason: `attempts exhausted (${job.maxAttempts})`, failed: true });
      }
      const delay = retryDelay(worker, job.attempt, outcome.error, outcome.delayMs);
      return make('retryable', { error, delay_ms: clampDelay(delay) }, { type: 'retry', delay });
    }
    case 'snooze':
      return make('scheduled', { delay_ms: clampDelay(outcome.delayMs), refund: true }, { type: 'snooze', delay: outcome.delayMs });
    case 'cancel':
      return make('cancelled', { error: { attempt: job.attempt, message: clean(outcome.reason), name: 'Cancelled' } }, { type: 'cancel', reason: outcome.reason });
    case 'discard':
      return make('discarded', { error: { attempt: job.attempt, message: clean(outcome.reason), name: 'Discarded' } }, { type: 'discard', reason: outcome.reason, failed: false });
    case 'shutdown':
      // Not the job's fault: back to the queue at once, and the attempt does not count.
      return make('retryable', { error: errorRecord(outcome.error, job.attempt), delay_ms: 0, refund: true }, { type: 'shutdown' });
    case 'release':
      return make('available', { refund: true }, { type: 'release' });
  }
}
