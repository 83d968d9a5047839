// Per-queue figures for dashboards and admin APIs: persisted controls, this node's limit, and
// job counts by state, merged from the stats and controls statements.
import type { JobState } from '../definitions/job.js';
import { JOB_STATES } from '../definitions/job.js';
import type { QueueControlRow, StatsRow } from '../engine/types.js';

/**
 * One queue's state and counts, from {@link Queue.queueStats}.
 *
 * @example
 * ```ts
 * const [emails] = (await queue.queueStats()).filter((q) => q.name === 'emails');
 * if (emails.paused) console.log(`${emails.counts.available} emails wait`);
 * ```
 */
export interface QueueStats {
  readonly name: string;
  /** Paused on every node (see `pauseQueue`). */
  readonly paused: boolean;
  /** Per-node limit set by `scaleQueue`; `null`: each node uses its own configured concurrency. */
  readonly concurrency: number | null;
  /** The limit on the node that asked, when it runs this queue; otherwise `null`. */
  readonly localConcurrency: number | null;
  /** Jobs by state (every state present, 0 when none). */
  readonly counts: Readonly<Record<JobState, number>>;
  /** All jobs of the queue. */
  readonly total: number;
  /** How long (ms) the oldest available job has waited since it was due; `null` when none is. */
  readonly oldestAvailableMs: number | null;
}

function zeroCounts(): Record<JobState, number> {
  return Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
}

/** Merges the statements' rows with this node's limits into one entry per queue, by name. */
export function buildStats(
  rows: readonly StatsRow[],
  controls: readonly QueueControlRow[],
  local: ReadonlyMap<string, number>,
): QueueStats[] {
  const names = new Set<string>([...rows.map((r) => r.queue), ...controls.map((c) => c.name), ...local.keys()]);
  const byControl = new Map(controls.map((c) => [c.name, c]));
  return [...names].sort().map((name) => {
    const counts = zeroCounts();
    let oldest: number | null = null;
    for (const row of rows) {
      if (row.queue !== name) continue;
      counts[row.state as JobState] = Number(row.n);
      if (row.state === 'available' && row.oldest_ms !== null) oldest = Math.max(0, Math.round(Number(row.oldest_ms)));
    }
    const control = byControl.get(name);
    return {
      name,
      paused: control?.paused ?? false,
      concurrency: control?.concurrency ?? null,
      localConcurrency: local.get(name) ?? null,
      counts,
      total: Object.values(counts).reduce((a, b) => a + b, 0),
      oldestAvailableMs: oldest,
    };
  });
}
