// The queue gauges: figures of every queue (limits, state, counts by state, the oldest wait),
// from queue.queueStats() at scrape time. Each gauge fills itself in its prom-client `collect`
// callback from one shared, cached read; when a read fails the gauges keep their last values
// and queue_stats_errors_total says so.
import { Counter, Gauge } from 'prom-client';
import type { QueueStats } from '../index.js';
import type { ResolvedOptions } from './options.js';
import { queueStateCode } from './queue-state.js';
import { createStatsReader } from './stats-reader.js';

type Fill = (gauge: Gauge<string>, stats: readonly QueueStats[]) => void;

/** Registers the queue gauges and the read-error counter in the registry. */
export function registerQueueGauges(options: ResolvedOptions): void {
  const { queue, registry, prefix } = options;
  const errors = new Counter({
    name: `${prefix}queue_stats_errors_total`,
    help: 'Failed reads of the queue statistics (the queue gauges then keep their last values)',
    registers: [registry],
    // Waits for the read of this scrape, so that its failure is counted in the same scrape.
    async collect() {
      await read();
    },
  });
  const read = createStatsReader(queue, options.statsCacheMs, () => errors.inc());

  const gauge = (name: string, help: string, labelNames: readonly string[], fill: Fill): Gauge<string> =>
    new Gauge({
      name: `${prefix}${name}`,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        const stats = await read();
        if (stats === undefined) return;
        // Reset first: a queue that no longer exists (its last jobs pruned) leaves the output.
        this.reset();
        fill(this, stats);
      },
    });

  const each = (value: (q: QueueStats) => number): Fill => (g, stats) => {
    for (const q of stats) g.set({ queue: q.name }, value(q));
  };
  gauge('queue_limit', "Concurrency limit per node (the scaled limit when set, else this node's)", ['queue'], each((q) => q.concurrency ?? q.localConcurrency ?? 0));
  gauge('queue_running', 'Jobs executing now, on all nodes', ['queue'], each((q) => q.counts.executing));
  gauge('queue_state', 'Queue state: 0 stopped on this node, 1 running, 2 paused', ['queue'], each((q) => queueStateCode(q, queue.running)));
  gauge('queue_depth', 'Jobs waiting to run now (available)', ['queue'], each((q) => q.counts.available));
  gauge('queue_jobs', 'Jobs by state', ['queue', 'state'], (g, stats) => {
    for (const q of stats) for (const [state, n] of Object.entries(q.counts)) g.set({ queue: q.name, state }, n);
  });
  gauge('queue_oldest_available_seconds', 'How long the oldest available job has waited since it was due (0 when none)', ['queue'], each((q) => (q.oldestAvailableMs ?? 0) / 1000));
}
