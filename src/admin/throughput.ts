// How much work got done, minute by minute: the options of Queue.throughput, checked, and the
// history's per-minute counts as the public shape. Read from the finished-jobs history, so a
// queue with `retention: 'none'` (completed jobs deleted at once) shows discards and cancels only.
import { ConfigError } from '../definitions/errors.js';
import { checkInt, checkQueueName } from '../definitions/worker.js';
import type { ThroughputRow } from '../engine/sql/insights.js';

/**
 * Options of {@link Queue.throughput}.
 *
 * @example
 * ```ts
 * const lastDay = await queue.throughput({ minutes: 24 * 60, queue: 'emails' });
 * ```
 */
export interface ThroughputOptions {
  /** How many minutes back, the current one included: 1–1440. Default 60. */
  readonly minutes?: number;
  /** Only this queue's jobs. Default: every queue. */
  readonly queue?: string;
}

/**
 * The jobs that finished in one minute, by how they ended, from {@link Queue.throughput}.
 *
 * @example
 * ```ts
 * const minutes = await queue.throughput();
 * const perMinute = minutes.reduce((n, m) => n + m.completed, 0) / minutes.length;
 * ```
 */
export interface ThroughputMinute {
  /** The minute's start, by the database clock. */
  readonly at: Date;
  readonly completed: number;
  readonly discarded: number;
  readonly cancelled: number;
}

/** The checked options, as the engine takes them. */
export function throughputParams(options: ThroughputOptions): { minutes: number; queue: string | null } {
  if (typeof options !== 'object' || options === null) throw new ConfigError('throughput: options must be an object');
  const minutes = checkInt(options.minutes ?? 60, 1, 1440, 'throughput: minutes');
  const queue = options.queue === undefined ? null : checkQueueName(options.queue, 'throughput');
  return { minutes, queue };
}

/** An engine row as the public shape. */
export function rowToMinute(row: ThroughputRow): ThroughputMinute {
  return { at: new Date(row.minute), completed: row.completed, discarded: row.discarded, cancelled: row.cancelled };
}
