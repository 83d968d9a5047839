// The value of the queue_state gauge: one number per queue saying whether it runs on this node,
// is stopped here, or is paused everywhere.
import type { QueueStats } from '../index.js';

/**
 * A queue's `queue_state`: `2` paused (on every node), `1` running on this node (the Queue is
 * started, this node runs the queue and its limit is above 0), else `0` stopped.
 *
 * @param stats - the queue's entry of `queue.queueStats()`
 * @param queueRunning - `queue.running`: whether the Queue is started on this node
 * @example
 * ```ts
 * for (const q of await queue.queueStats()) console.log(q.name, queueStateCode(q, queue.running));
 * ```
 */
export function queueStateCode(stats: QueueStats, queueRunning: boolean): 0 | 1 | 2 {
  if (stats.paused) return 2;
  const limit = stats.concurrency ?? stats.localConcurrency ?? 0;
  return queueRunning && stats.localConcurrency !== null && limit > 0 ? 1 : 0;
}
