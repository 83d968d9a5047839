// How each queue claims jobs: the lock-free SKIP LOCKED fetch, or, for queues with partitions or
// a rate limit, the serialized fetch that honours them (see docs/control.md).
import type { ResolvedConfig } from '../config/config.js';
import type { Engine } from '../engine/engine.js';
import type { Fetcher } from './producer.js';

/** Whether a queue's fetch must be serialized: a partition (of a worker or the queue) or a rate limit. */
export function isLimited(config: ResolvedConfig, queue: string): boolean {
  const settings = config.queueSettings.get(queue);
  if (settings?.rateLimit !== undefined || settings?.partition !== undefined) return true;
  for (const worker of config.workers.values()) if (worker.queue === queue && worker.partition !== undefined) return true;
  return false;
}

/** The fetch function of one queue on this node. */
export function fetcherFor(config: ResolvedConfig, engine: Engine, queue: string): Fetcher {
  const nodeId = config.nodeId;
  if (!isLimited(config, queue)) {
    return async (demand) => ({ jobs: await engine.fetchJobs({ queue, limit: demand, nodeId }), waitMs: null });
  }
  const settings = config.queueSettings.get(queue);
  const rate = settings?.rateLimit;
  // Jobs without a key can only exist when some worker of the queue has no partition of its own
  // and the queue has none either.
  const unkeyed =
    settings?.partition === undefined && [...config.workers.values()].some((w) => w.queue === queue && w.partition === undefined);
  return async (demand) => {
    const { jobs, rateWaitMs } = await engine.fetchLimited({ queue, limit: demand, nodeId, rate, unkeyed });
    return { jobs, waitMs: rateWaitMs };
  };
}
