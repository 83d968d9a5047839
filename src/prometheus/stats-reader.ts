// Reads queue.queueStats() for the queue gauges: one aggregate over the jobs table serves every
// gauge of a scrape (and every scrape within the cache time), and never more than one read is in
// flight, so a busy scraper or many of them cannot pile queries onto the database.
import type { QueueApi, QueueStats } from '../index.js';

/** Reads the stats, or `undefined` when the read failed (reported through `onError`). */
export type StatsReader = () => Promise<readonly QueueStats[] | undefined>;

/**
 * A cached reader of `queue.queueStats()`: a read younger than `cacheMs` is served again; callers
 * arriving while a read is in flight share it. A failed read is not cached: the next scrape tries
 * again.
 */
export function createStatsReader(queue: QueueApi, cacheMs: number, onError: (error: unknown) => void): StatsReader {
  let cached: { at: number; stats: readonly QueueStats[] } | undefined;
  let inFlight: Promise<readonly QueueStats[] | undefined> | undefined;
  return () => {
    if (cached !== undefined && Date.now() - cached.at < cacheMs) return Promise.resolve(cached.stats);
    inFlight ??= queue.queueStats().then(
      (stats) => {
        cached = { at: Date.now(), stats };
        inFlight = undefined;
        return stats;
      },
      (error: unknown) => {
        inFlight = undefined;
        onError(error);
        return undefined;
      },
    );
    return inFlight;
  };
}
