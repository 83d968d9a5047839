// The messages between a Queue's thread pool and its threads, and how what `perform` returned or
// threw crosses the thread boundary. Structured clone alone would not do: a result is sent as
// JSON text made in the thread (so `toJSON`, dropped functions and the "not JSON" failure behave
// exactly as in-process), a WorkerResult by its kind (its brand is a symbol, which a copy loses),
// and an error by its message, name, stack and JSON-able own properties (a copy keeps only
// built-in error names and drops properties such as `code`).
import type { Job } from '../../definitions/job.js';
import { WorkerResults, isWorkerResult } from '../../definitions/worker.js';
import { readThrown } from '../../definitions/thrown.js';

/** A job as sent to a thread: its data, and the names of its methods the thread may call back. */
export interface RunRequest {
  readonly type: 'run';
  /** Names this attempt within its thread's conversation. */
  readonly id: number;
  /** File URL of the module that exports the worker. */
  readonly module: string;
  /** The worker's name, to find it among the module's exports. */
  readonly worker: string;
  /** The job's data fields (no functions). */
  readonly job: Readonly<Record<string, unknown>>;
  /** Methods of the job (e.g. `progress`) the thread forwards to the main thread. */
  readonly methods: readonly string[];
}

/** The main thread's answer to a {@link MethodCall}. */
export interface MethodReturn {
  readonly type: 'return';
  readonly call: number;
  readonly ok: boolean;
  readonly value?: unknown;
  readonly error?: EncodedError;
}

/** Main thread → pool thread. */
export type ToThread = RunRequest | MethodReturn;

/** The attempt `id` is over: what perform returned or threw. */
export interface Done {
  readonly type: 'done';
  readonly id: number;
  readonly reply: Reply;
}

/** perform called a method of its job (e.g. `job.progress(50)`), to run on the main thread. */
export interface MethodCall {
  readonly type: 'call';
  readonly id: number;
  readonly call: number;
  readonly method: string;
  readonly args: readonly unknown[];
}

/** Pool thread → main thread. */
export type FromThread = Done | MethodCall;

/** An error (or any thrown value) in a form that survives the copy between threads. */
export type EncodedError =
  | {
      readonly error: true;
      readonly message: string;
      readonly name: string;
      readonly stack?: string;
      readonly props?: Readonly<Record<string, unknown>>;
    }
  | { readonly error: false; readonly value: unknown };

/** What one attempt in a thread came to. */
export type Reply =
  | { readonly kind: 'ok'; readonly json: string | undefined }
  | { readonly kind: 'error'; readonly error: EncodedError; readonly delayMs?: number; readonly thrown: boolean }
  | { readonly kind: 'snooze'; readonly delayMs: number }
  | { readonly kind: 'cancel'; readonly reason: string }
  | { readonly kind: 'discard'; readonly reason: string };

/** A JSON copy of `value`, or undefined when JSON has no value for it; throws when it is not JSON. */
function jsonCopy(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? undefined : (JSON.parse(text) as unknown);
}

/** Thread side: an error or thrown value, ready to be copied to the main thread. */
export function encodeError(error: unknown): EncodedError {
  try {
    return encodeReadable(error);
  } catch {
    // A value on which access throws (a Proxy, a throwing getter): what can be read of it.
    const { message, name } = readThrown(error);
    return { error: true, message, name: name ?? 'Error' };
  }
}

function encodeReadable(error: unknown): EncodedError {
  if (error instanceof Error) {
    const props: Record<string, unknown> = {};
    for (const key of Object.keys(error)) {
      if (key === 'message' || key === 'name' || key === 'stack') continue;
      try {
        props[key] = jsonCopy((error as unknown as Record<string, unknown>)[key]);
      } catch {
        // Not JSON (a bigint, a cycle): the property stays behind.
      }
    }
    return {
      error: true,
      message: String(error.message),
      name: String(error.name),
      ...(typeof error.stack === 'string' ? { stack: error.stack } : {}),
      ...(Object.keys(props).length > 0 ? { props } : {}),
    };
  }
  if (typeof error === 'string') return { error: false, value: error };
  try {
    return { error: false, value: jsonCopy(error) };
  } catch {
    return { error: false, value: String(error) };
  }
}

/** Main side: the error a thread sent, rebuilt as an Error with the same message, name and stack. */
export function decodeError(encoded: EncodedError): unknown {
  if (!encoded.error) return encoded.value;
  const error = new Error(encoded.message);
  Object.assign(error, encoded.props);
  error.name = encoded.name;
  error.stack = encoded.stack ?? `${encoded.name}: ${encoded.message}`;
  return error;
}

/** Thread side: what perform returned (a plain value or a WorkerResult). */
export function encodeReturn(value: unknown): Reply {
  if (isWorkerResult(value)) {
    switch (value.kind) {
      case 'ok':
        return encodeValue(value.value);
      case 'error':
        return value.delayMs === undefined
          ? { kind: 'error', error: encodeError(value.error), thrown: false }
          : { kind: 'error', error: encodeError(value.error), delayMs: value.delayMs, thrown: false };
      case 'snooze':
        return { kind: 'snooze', delayMs: value.delayMs };
      case 'cancel':
        return { kind: 'cancel', reason: String(value.reason) };
      case 'discard':
        return { kind: 'discard', reason: String(value.reason) };
    }
  }
  return encodeValue(value);
}

function encodeValue(value: unknown): Reply {
  try {
    return { kind: 'ok', json: JSON.stringify(value) };
  } catch (error) {
    // The same failure the main thread records for a value that is not JSON.
    return encodeThrow(new Error(`perform returned a value that is not JSON: ${(error as Error).message}`));
  }
}

/** Thread side: what perform threw (or how it could not even start). */
export function encodeThrow(error: unknown): Reply {
  return { kind: 'error', error: encodeError(error), thrown: true };
}

/**
 * Main side: the reply as perform's settlement in the main thread: `{ ok: true, value }` to
 * resolve with (a plain value or a rebuilt WorkerResult), `{ ok: false, error }` to reject with.
 */
export function decodeReply(reply: Reply): { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown } {
  switch (reply.kind) {
    case 'ok':
      return { ok: true, value: reply.json === undefined ? undefined : (JSON.parse(reply.json) as unknown) };
    case 'error': {
      const error = decodeError(reply.error);
      if (reply.thrown) return { ok: false, error };
      return { ok: true, value: WorkerResults.error(error, reply.delayMs) };
    }
    case 'snooze':
      return { ok: true, value: WorkerResults.snooze(reply.delayMs) };
    case 'cancel':
      return { ok: true, value: WorkerResults.cancel(reply.reason) };
    case 'discard':
      return { ok: true, value: WorkerResults.discard(reply.reason) };
  }
}

/** Main side: a job split into what can be copied to a thread and the names of its methods. */
export function splitJob(job: Job): { readonly data: Record<string, unknown>; readonly methods: string[] } {
  const data: Record<string, unknown> = {};
  const methods: string[] = [];
  // for...in: own and inherited enumerable keys, so a job built on a prototype splits alike.
  for (const key in job) {
    const value = (job as unknown as Record<string, unknown>)[key];
    if (typeof value === 'function') methods.push(key);
    else data[key] = value;
  }
  return { data, methods };
}
