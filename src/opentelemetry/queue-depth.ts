// The queue depth gauges: jobs by queue and state, and the age of each queue's oldest available
// job, observed when the app's metric reader collects. One `queue.queueStats()` read (an
// aggregate over the jobs table) serves every collection within `statsCacheMs`, and never more
// than one read is in flight, however many readers collect at once.
import type { BatchObservableCallback } from '@opentelemetry/api';
import type { PluginContext, QueueStats } from '../index.js';
import { JOB_STATES } from '../index.js';
import * as attr from './attributes.js';
import type { Telemetry } from './telemetry.js';

/** Reads queue stats through a cache of `maxAge` ms, one read at a time. */
export class StatsCache {
  readonly #read: () => Promise<QueueStats[]>;
  readonly #maxAge: number;
  #cached: { readonly at: number; readonly stats: QueueStats[] } | undefined;
  #inFlight: Promise<QueueStats[]> | undefined;

  constructor(read: () => Promise<QueueStats[]>, maxAge: number) {
    this.#read = read;
    this.#maxAge = maxAge;
  }

  /** The cached stats when younger than `maxAge`, else the read in flight or a new one. */
  get(): Promise<QueueStats[]> {
    const cached = this.#cached;
    if (cached !== undefined && performance.now() - cached.at < this.#maxAge) return Promise.resolve(cached.stats);
    this.#inFlight ??= this.#read()
      .then((stats) => {
        this.#cached = { at: performance.now(), stats };
        return stats;
      })
      .finally(() => {
        this.#inFlight = undefined;
      });
    return this.#inFlight;
  }
}

/**
 * Observes the depth gauges from `ctx.queue` while the plugin runs; returns the function that
 * stops observing. A failed read is reported (`plugin:error`) and that collection has no points.
 */
export function observeQueueDepth(telemetry: Telemetry, ctx: PluginContext): () => void {
  const { queueDepth, statsCacheMs } = telemetry.options;
  if (queueDepth === false) return () => {};
  const { queueJobs, oldestAvailableAge } = telemetry.instruments;
  const cache = new StatsCache(() => ctx.queue.queueStats(), statsCacheMs);
  const callback: BatchObservableCallback = async (result) => {
    if (queueDepth === 'leader' && !ctx.queue.isLeader) return;
    let stats: QueueStats[];
    try {
      stats = await cache.get();
    } catch (error) {
      ctx.reportError(error);
      return;
    }
    for (const queue of stats) {
      const common = { [attr.MESSAGING_SYSTEM]: attr.SYSTEM, [attr.MESSAGING_DESTINATION_NAME]: queue.name };
      for (const state of JOB_STATES) result.observe(queueJobs, queue.counts[state], { ...common, [attr.DOCKET_JOB_STATE]: state });
      result.observe(oldestAvailableAge, (queue.oldestAvailableMs ?? 0) / 1000, common);
    }
  };
  telemetry.meter.addBatchObservableCallback(callback, [queueJobs, oldestAvailableAge]);
  return () => telemetry.meter.removeBatchObservableCallback(callback, [queueJobs, oldestAvailableAge]);
}
