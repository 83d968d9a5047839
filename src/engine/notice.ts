// The notices on a schema's NOTIFY channel, written and read here and nowhere else: wake-up hints
// from inserts, staging, retries and rescues (queues to wake; "scheduled": re-check when the
// next scheduled job is due), and the control notices (queue controls changed; a job that may be
// running was taken away; the leader lease was released). The SQL statements embed the texts
// and builders below. Anyone who can reach the database can NOTIFY the channel, so parsing never
// throws and a notice only ever makes a node look at the database, never act on its word alone.
// Notices never carry args. Job updates (`jobEvents`) go on a channel of their own, so nodes that
// do not watch jobs never read them.

import type { JobUpdate } from '../definitions/job-update.js';

/** What a notice asks of a node. */
export interface Notice {
  /** Queues that have new available jobs. */
  readonly queues: readonly string[];
  /** A scheduled job was inserted: re-check when the next one is due. */
  readonly scheduled: boolean;
  /** Queue controls (pause, scale) changed: re-read them. */
  readonly controls: boolean;
  /** A job was cancelled, discarded or deleted: check the attempts running here. */
  readonly abort: boolean;
  /** The leader released its lease: try to take it. */
  readonly leaseReleased: boolean;
}

/** Fixed notices, as SQL string literals for the statements that send them. */
export const NOTICE_SQL = {
  /** A job that may be running was cancelled, discarded or deleted. */
  abort: `'{"abort":true}'`,
  /** Queue controls changed. */
  controls: `'{"control":"queues"}'`,
  /** The leader lease was released. */
  leaseReleased: `'{"lease":"released"}'`,
  /** Jobs became due later (a rescue made them retryable): re-check the schedule. */
  scheduled: `'{"queues":[],"scheduled":true}'`,
  /** The wake-up for the queues in a SQL text[] expression. */
  queues: (arrayExpression: string): string => `json_build_object('queues', ${arrayExpression})::text`,
} as const;

/** A wake-up hint for `queues`; `scheduled` asks nodes to re-check when the next scheduled job is due. */
export function hintPayload(queues: Iterable<string>, scheduled: boolean): string {
  return JSON.stringify(scheduled ? { queues: [...queues], scheduled: true } : { queues: [...queues] });
}

/** Parses a notice; undefined when it is not one of ours. */
export function parseNotice(payload: string): Notice | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { queues, scheduled, control, abort, lease } = value as Record<string, unknown>;
  return {
    queues: Array.isArray(queues) ? queues.filter((q): q is string => typeof q === 'string') : [],
    scheduled: scheduled === true,
    controls: control === 'queues',
    abort: abort === true,
    leaseReleased: lease === 'released',
  };
}

/** The job updates' channel is the schema's channel with this suffix (62 bytes at most, see identifier.ts). */
export const JOB_UPDATES_SUFFIX = ':jobs';

// NOTIFY payloads must stay under 8000 bytes; an update bigger than this alone loses its
// progress data and has its error cut.
const MAX_PAYLOAD = 7_500;
const MAX_ERROR = 500;

type WireUpdate = [string, string, string, string, number, string, string | null, JobUpdate['progress'], string | null];

function wire(u: JobUpdate): string {
  const entry: WireUpdate = [u.id, u.queue, u.worker, u.state, u.attempt, u.kind, u.nodeId, u.progress, u.error];
  let text = JSON.stringify(entry);
  if (text.length > MAX_PAYLOAD - 12) {
    const progress = u.progress === null ? null : { ...u.progress, data: null };
    text = JSON.stringify([u.id, u.queue, u.worker, u.state, u.attempt, u.kind, u.nodeId, progress, u.error?.slice(0, MAX_ERROR) ?? null]);
  }
  return text;
}

/** Job updates as NOTIFY payloads (`{"u":[...]}`), as few as fit under the payload limit. */
export function encodeJobUpdates(updates: readonly JobUpdate[]): string[] {
  const payloads: string[] = [];
  let parts: string[] = [];
  let size = 0;
  for (const u of updates) {
    const text = wire(u);
    if (parts.length > 0 && size + text.length + 1 > MAX_PAYLOAD - 8) {
      payloads.push(`{"u":[${parts.join(',')}]}`);
      parts = [];
      size = 0;
    }
    parts.push(text);
    size += text.length + 1;
  }
  if (parts.length > 0) payloads.push(`{"u":[${parts.join(',')}]}`);
  return payloads;
}

const KINDS = new Set(['snapshot', 'start', 'progress', 'complete', 'retry', 'snooze', 'cancel', 'discard', 'rescue', 'retried', 'deleted']);

/** The updates in a payload of the job updates' channel; entries that are not well formed are skipped, nothing throws. */
export function parseJobUpdates(payload: string): JobUpdate[] {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return [];
  }
  const list = (value as { u?: unknown } | null)?.u;
  if (!Array.isArray(list)) return [];
  const out: JobUpdate[] = [];
  for (const e of list) {
    if (!Array.isArray(e) || e.length !== 9) continue;
    const [id, queue, worker, state, attempt, kind, nodeId, progress, error] = e as unknown[];
    if (typeof id !== 'string' || typeof queue !== 'string' || typeof worker !== 'string' || typeof state !== 'string') continue;
    if (typeof attempt !== 'number' || typeof kind !== 'string' || !KINDS.has(kind)) continue;
    const p = progress as JobUpdate['progress'];
    out.push({
      id,
      queue,
      worker,
      state: state as JobUpdate['state'],
      attempt,
      kind: kind as JobUpdate['kind'],
      nodeId: typeof nodeId === 'string' ? nodeId : null,
      progress: p !== null && typeof p === 'object' && typeof p.percent === 'number' ? p : null,
      error: typeof error === 'string' ? error : null,
    });
  }
  return out;
}
