// The dashboard's inputs, checked before they reach the queue: ids, queue and worker names,
// states, page sizes and action bodies. Each refusal is a 400 whose message names the parameter
// and what was wrong with it.
import type { JobState, ListJobsOptions } from '../index.js';
import { JOB_STATES } from '../index.js';
import { HttpError } from './http.js';

const ID_RE = /^[1-9][0-9]{0,18}$/;
const MAX_ID = 9223372036854775807n;
// Queue names as docket accepts them; worker names are free text, only bounded here.
const QUEUE_RE = /^[A-Za-z0-9_.:/-]{1,128}$/;
const MAX_WORKER = 200;
const MAX_REASON = 500;

function bad(message: string): HttpError {
  return new HttpError(400, message);
}

/** A job or workflow id (a positive bigint, as a string). */
export function checkId(value: string, what: string): string {
  if (!ID_RE.test(value) || BigInt(value) > MAX_ID) throw bad(`${what} must be a positive integer id, got ${JSON.stringify(value.slice(0, 40))}`);
  return value;
}

/** A queue name. */
export function checkQueue(value: string, what = 'queue'): string {
  if (!QUEUE_RE.test(value)) throw bad(`${what} must be 1–128 characters of A-Z a-z 0-9 _ . : - /, got ${JSON.stringify(value.slice(0, 140))}`);
  return value;
}

/** One query parameter, at most once; `undefined` when absent or empty. */
function single(query: URLSearchParams, name: string): string | undefined {
  const values = query.getAll(name);
  if (values.length > 1) throw bad(`${name} may be given once, got it ${values.length} times`);
  const value = values[0];
  return value === undefined || value === '' ? undefined : value;
}

/** An integer query parameter within bounds, or its default. */
export function intParam(query: URLSearchParams, name: string, min: number, max: number, fallback: number): number {
  const text = single(query, name);
  if (text === undefined) return fallback;
  const n = /^[0-9]{1,6}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw bad(`${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(text.slice(0, 40))}`);
  return n;
}

/** An optional queue name from the query. */
export function queueParam(query: URLSearchParams): string | undefined {
  const text = single(query, 'queue');
  return text === undefined ? undefined : checkQueue(text);
}

/** The jobs listing's filter and page from the query: queue, state, worker, after, limit, order. */
export function listParams(query: URLSearchParams): ListJobsOptions {
  const queue = queueParam(query);
  const state = single(query, 'state');
  if (state !== undefined && !(JOB_STATES as readonly string[]).includes(state)) {
    throw bad(`state must be one of ${JOB_STATES.join(', ')}, got ${JSON.stringify(state.slice(0, 40))}`);
  }
  const worker = single(query, 'worker');
  if (worker !== undefined && worker.length > MAX_WORKER) throw bad(`worker must be at most ${MAX_WORKER} characters`);
  const after = single(query, 'after');
  const order = single(query, 'order') ?? 'desc';
  if (order !== 'asc' && order !== 'desc') throw bad(`order must be asc or desc, got ${JSON.stringify(order.slice(0, 40))}`);
  return {
    ...(queue === undefined ? {} : { queue }),
    ...(state === undefined ? {} : { state: state as JobState }),
    ...(worker === undefined ? {} : { worker }),
    ...(after === undefined ? {} : { after: checkId(after, 'after') }),
    limit: intParam(query, 'limit', 1, 200, 50),
    order,
  };
}

function asObject(body: unknown): Record<string, unknown> {
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('The body must be a JSON object');
  return body as Record<string, unknown>;
}

/** The optional `reason` of a cancel or discard. */
export function reasonOf(body: unknown, fallback: string): string {
  const { reason } = asObject(body);
  if (reason === undefined || reason === null || reason === '') return fallback;
  if (typeof reason !== 'string' || reason.length > MAX_REASON) throw bad(`reason must be a string of at most ${MAX_REASON} characters`);
  return reason;
}

/** The `limit` of a scale: an integer 0–10,000, or null for each node's own setting. */
export function scaleLimitOf(body: unknown): number | null {
  const object = asObject(body);
  if (!('limit' in object)) throw bad('limit is required: an integer 0–10000, or null for each node’s own concurrency');
  const { limit } = object;
  if (limit === null) return null;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0 || limit > 10_000) {
    throw bad(`limit must be an integer 0–10000 or null, got ${JSON.stringify(limit)?.slice(0, 40) ?? String(limit)}`);
  }
  return limit;
}
