// docket/prometheus's lifecycle on a real database: close() detaches from the queue's events and
// unregisters its metrics (and only them); collectors on two registries, or two prefixes in one,
// do not collide, with nothing in prom-client's global registry; bad options are refused.
import { Gauge, Registry, register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Worker } from '../../src/index.js';
import type { Queue } from '../../src/index.js';
import { METRIC_NAMES, createPrometheusMetrics } from '../../src/prometheus/index.js';
import { endings, listenerCounts, parse, scrape, valueOf } from '../support/prometheus.js';
import type { Sample } from '../support/prometheus.js';
import { nextEvent, useSchema, waitFor } from '../support/queue.js';

const db = useSchema('prometheus-life');
const Args = z.object({ n: z.number() });

describe('lifecycle and isolation', () => {
  const Q = 'prom-life';
  const ok = new Worker({ name: 'prom-life-ok', queue: Q, args: Args, perform: (job) => job.args.n });
  const finishedOk = (samples: readonly Sample[]): number | undefined => valueOf(samples, 'jobs_finished_total', { queue: Q, worker: 'prom-life-ok', outcome: 'completed' });

  it('close() detaches from the events and unregisters its metrics only', async () => {
    const queue = await db.queue({ workers: [ok], queues: { [Q]: 1 } });
    const registry = new Registry();
    const own = new Gauge({ name: 'app_widgets', help: 'The app’s own metric', registers: [registry] });
    own.set(7);
    const before = listenerCounts(queue);
    const metrics = createPrometheusMetrics({ queue, registry });
    expect(listenerCounts(queue)).toEqual(before.map((n) => n + 1));
    await queue.start();
    let done = nextEvent(queue, 'job:complete');
    await queue.insert(ok, { n: 1 });
    await done;
    expect(finishedOk(await scrape(registry))).toBe(1);

    const counter = registry.getSingleMetric('jobs_finished_total')!;
    metrics.close();
    metrics.close(); // idempotent
    expect(listenerCounts(queue)).toEqual(before);
    expect(registry.getMetricsAsArray().map((m) => m.name)).toEqual(['app_widgets']);
    expect(parse(await registry.metrics())).toEqual([{ name: 'app_widgets', labels: {}, value: 7 }]);

    done = nextEvent(queue, 'job:complete');
    await queue.insert(ok, { n: 2 });
    await done;
    expect((await counter.get()).values.map((v) => v.value)).toEqual([1]);
    // The names are free again: a new collector starts from zero.
    const again = createPrometheusMetrics({ queue, registry });
    expect(finishedOk(await scrape(registry))).toBeUndefined();
    again.close();
    await queue.stop();
  });

  it('collectors on two registries, or two prefixes in one, do not collide; none touches the global registry', async () => {
    const queue = await db.queue({ workers: [ok], queues: { [Q]: 2 } });
    const a = new Registry();
    const b = new Registry();
    const globalBefore = globalRegistry.getMetricsAsArray().map((m) => m.name);
    const ma = createPrometheusMetrics({ queue, registry: a });
    const mb = createPrometheusMetrics({ queue, registry: b });
    expect(() => createPrometheusMetrics({ queue, registry: a })).toThrow(/docket\/prometheus: the registry already has "queue_stats_errors_total", "queue_limit".*another `prefix`/);
    const mc = createPrometheusMetrics({ queue, registry: a, prefix: 'docket_' });
    expect(mc.names).toEqual(METRIC_NAMES.map((n) => `docket_${n}`));
    expect(globalRegistry.getMetricsAsArray().map((m) => m.name)).toEqual(globalBefore);

    const ended = endings(queue);
    await queue.start();
    await queue.insertMany(ok, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    await waitFor(() => ended.count() === 3, 'the 3 jobs to end');
    const [sa, sb] = await Promise.all([scrape(a), scrape(b)]);
    expect(finishedOk(sa)).toBe(3);
    expect(finishedOk(sb)).toBe(3);
    expect(valueOf(sa, 'docket_jobs_finished_total', { queue: Q, worker: 'prom-life-ok', outcome: 'completed' })).toBe(3);
    expect(valueOf(sa, 'docket_queue_jobs', { queue: Q, state: 'completed' })).toBe(valueOf(sb, 'queue_jobs', { queue: Q, state: 'completed' }));

    mb.close();
    expect(b.getMetricsAsArray()).toEqual([]);
    expect(finishedOk(await scrape(a))).toBe(3);
    ma.close();
    mc.close();
    expect(a.getMetricsAsArray()).toEqual([]);

    // The global registry only when passed, and close() takes the metrics out of it again.
    const global = createPrometheusMetrics({ queue, registry: globalRegistry, prefix: 'docket_global_test_' });
    expect(globalRegistry.getSingleMetric('docket_global_test_queue_depth')).toBeDefined();
    global.close();
    expect(globalRegistry.getMetricsAsArray().map((m) => m.name)).toEqual(globalBefore);
    await queue.stop();
  });

  it('refuses bad options with an error naming the option, registering nothing', async () => {
    const queue = await db.queue({ workers: [ok] });
    const registry = new Registry();
    const before = listenerCounts(queue);
    const cases: [Parameters<typeof createPrometheusMetrics>[0], RegExp, ErrorConstructor][] = [
      [{ queue: {} as Queue, registry }, /`queue` must be a docket Queue/, TypeError],
      [{ queue, registry: {} as Registry }, /`registry` must be a prom-client Registry/, TypeError],
      [{ queue, registry, prefix: '9lives' }, /`prefix` must be a valid start of a metric name.*"9lives"/, TypeError],
      [{ queue, registry, statsCacheMs: -1 }, /`statsCacheMs` must be a finite number of ms >= 0, got -1/, RangeError],
      [{ queue, registry, buckets: [1, 0.5] }, /`buckets` must be a non-empty list of increasing positive numbers/, RangeError],
    ];
    for (const [options, message, type] of cases) {
      expect(() => createPrometheusMetrics(options)).toThrow(message);
      expect(() => createPrometheusMetrics(options)).toThrow(type);
    }
    expect(registry.getMetricsAsArray()).toEqual([]);
    expect(listenerCounts(queue)).toEqual(before);
  });
});
