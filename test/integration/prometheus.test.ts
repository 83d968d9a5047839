// docket/prometheus on a real database: real jobs (completed, failed and retried, discarded,
// snoozed, cancelled) and workflows are counted from this node's events, and the queue gauges
// match the database at scrape time (one cached read, one in flight at most, last values kept
// when a read fails). Closing and isolation: prometheus-lifecycle.test.ts.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Worker, WorkerResults } from '../../src/index.js';
import { METRIC_NAMES, createPrometheusMetrics } from '../../src/prometheus/index.js';
import { createPgPool } from '../support/db.js';
import { endings, scrape, valueOf } from '../support/prometheus.js';
import { useSchema, waitFor } from '../support/queue.js';

const db = useSchema('prometheus');
const Args = z.object({ n: z.number() });

describe('job metrics from the events of this node', () => {
  const Q = 'prom';
  const snoozed = new Set<string>();
  const ok = new Worker({ name: 'prom-ok', queue: Q, args: Args, perform: (job) => job.args.n });
  const flaky = new Worker({
    name: 'prom-flaky',
    queue: Q,
    args: Args,
    backoff: () => 10,
    perform: (job) => {
      if (job.attempt === 1) throw new Error('the first attempt fails');
      return 'second time lucky';
    },
  });
  const doomed = new Worker({
    name: 'prom-doomed',
    queue: Q,
    args: Args,
    maxAttempts: 2,
    backoff: () => 10,
    perform: () => {
      throw new Error('always fails');
    },
  });
  const refuse = new Worker({ name: 'prom-refuse', queue: Q, args: Args, perform: () => WorkerResults.discard('not for us') });
  const cancel = new Worker({ name: 'prom-cancel', queue: Q, args: Args, perform: () => WorkerResults.cancel('changed our mind') });
  const sleepy = new Worker({
    name: 'prom-sleepy',
    queue: Q,
    args: Args,
    perform: (job) => {
      if (snoozed.has(job.id)) return 'awake';
      snoozed.add(job.id);
      return WorkerResults.snooze(10);
    },
  });

  it('counts every attempt by outcome, times them in the histograms, and matches the database', async () => {
    const queue = await db.queue({ workers: [ok, flaky, doomed, refuse, cancel, sleepy], queues: { [Q]: 3 } });
    const registry = new Registry();
    const metrics = createPrometheusMetrics({ queue, registry, statsCacheMs: 0 });
    expect(metrics.names).toEqual([...METRIC_NAMES]);
    expect(registry.getMetricsAsArray().map((m) => m.name)).toEqual([...METRIC_NAMES]);
    const ended = endings(queue);
    await queue.start();
    for (let n = 0; n < 3; n++) await queue.insert(ok, { n });
    await queue.insertMany(flaky, [{ n: 1 }, { n: 2 }]);
    await queue.insert(doomed, { n: 1 });
    await queue.insert(refuse, { n: 1 });
    await queue.insert(cancel, { n: 1 });
    await queue.insert(sleepy, { n: 1 });
    await waitFor(() => ended.count() === 9, 'the 9 jobs to end');

    const samples = await scrape(registry);
    const expected: [worker: string, outcome: string, attempts: number][] = [
      ['prom-ok', 'completed', 3],
      ['prom-flaky', 'error', 2],
      ['prom-flaky', 'completed', 2],
      ['prom-doomed', 'error', 2],
      ['prom-refuse', 'discarded', 1],
      ['prom-cancel', 'cancelled', 1],
      ['prom-sleepy', 'snoozed', 1],
      ['prom-sleepy', 'completed', 1],
    ];
    const finished = samples.filter((s) => s.name === 'jobs_finished_total');
    expect(finished.map((s) => [s.labels.worker, s.labels.outcome, s.value]).sort()).toEqual(expected.map((e) => [...e]).sort());
    for (const [worker, outcome, attempts] of expected) {
      const labels = { queue: Q, worker, outcome };
      expect(valueOf(samples, 'job_duration_seconds_count', labels), `${worker} ${outcome}`).toBe(attempts);
      expect(valueOf(samples, 'job_duration_seconds_bucket', { ...labels, le: '+Inf' })).toBe(attempts);
      expect(valueOf(samples, 'job_duration_seconds_sum', labels)).toBeGreaterThanOrEqual(0);
    }
    // The last failed attempt of prom-doomed is an error, not also a discard.
    expect(valueOf(samples, 'jobs_finished_total', { queue: Q, worker: 'prom-doomed', outcome: 'discarded' })).toBeUndefined();

    // The database: each attempt that counts is one observation of the queue time (a snooze does
    // not use an attempt: prom-sleepy ran twice on one attempt).
    const { rows } = await db.pool.query<{ worker: string; attempts: number }>(
      `SELECT worker, sum(attempt)::int AS attempts FROM "${db.schema}".jobs WHERE queue = $1 GROUP BY worker`,
      [Q],
    );
    const stored = Object.fromEntries(rows.map((r) => [r.worker, r.attempts]));
    expect(stored).toEqual({ 'prom-ok': 3, 'prom-flaky': 4, 'prom-doomed': 2, 'prom-refuse': 1, 'prom-cancel': 1, 'prom-sleepy': 1 });
    for (const [worker, attempts] of Object.entries(stored)) {
      const runs = attempts + (worker === 'prom-sleepy' ? 1 : 0);
      expect(valueOf(samples, 'job_queue_time_seconds_count', { queue: Q, worker }), worker).toBe(runs);
      const counted = finished.filter((s) => s.labels.worker === worker).reduce((sum, s) => sum + s.value, 0);
      expect(counted, worker).toBe(runs);
    }

    // The queue gauges, read at this scrape: the counts by state are the database's.
    const { rows: states } = await db.pool.query<{ state: string; n: number }>(
      `SELECT state, count(*)::int AS n FROM "${db.schema}".jobs WHERE queue = $1 GROUP BY state`,
      [Q],
    );
    const byState = Object.fromEntries(states.map((r) => [r.state, r.n]));
    expect(byState).toEqual({ completed: 6, discarded: 2, cancelled: 1 });
    const jobs = samples.filter((s) => s.name === 'queue_jobs' && s.labels.queue === Q);
    expect(jobs.length).toBeGreaterThanOrEqual(7);
    for (const s of jobs) expect(s.value, s.labels.state).toBe(byState[s.labels.state!] ?? 0);
    expect(valueOf(samples, 'queue_limit', { queue: Q })).toBe(3);
    expect(valueOf(samples, 'queue_state', { queue: Q })).toBe(1);
    expect(valueOf(samples, 'queue_depth', { queue: Q })).toBe(0);
    expect(valueOf(samples, 'queue_running', { queue: Q })).toBe(0);
    expect(valueOf(samples, 'queue_oldest_available_seconds', { queue: Q })).toBe(0);
    expect(valueOf(samples, 'queue_stats_errors_total')).toBe(0);
    metrics.close();
    await queue.stop();
  });

  it('counts the workflows this node finished, by name and end state', async () => {
    const W = 'prom-wf';
    const step = new Worker({ name: 'prom-wf-step', queue: W, args: Args, perform: (job) => job.args.n });
    const breaks = new Worker({
      name: 'prom-wf-breaks',
      queue: W,
      args: Args,
      maxAttempts: 1,
      perform: () => {
        throw new Error('broken step');
      },
    });
    const queue = await db.queue({ workers: [step, breaks], queues: { [W]: 2 } });
    const registry = new Registry();
    const metrics = createPrometheusMetrics({ queue, registry });
    let ended = 0;
    queue.on('workflow:complete', () => ended++);
    queue.on('workflow:fail', () => ended++);
    await queue.start();
    for (let i = 0; i < 2; i++) {
      await queue.workflow('prom-media').add('a', step, { n: 1 }).add('b', step, { n: 2 }, { deps: ['a'] }).insert();
    }
    await queue.workflow('prom-media').add('a', breaks, { n: 1 }).add('b', step, { n: 2 }, { deps: ['a'] }).insert();
    await waitFor(() => ended === 3, 'the 3 workflows to end');
    const samples = await scrape(registry);
    expect(samples.filter((s) => s.name === 'workflows_finished_total').map((s) => [s.labels, s.value])).toEqual(
      expect.arrayContaining([
        [{ name: 'prom-media', state: 'completed' }, 2],
        [{ name: 'prom-media', state: 'failed' }, 1],
      ]),
    );
    expect(valueOf(samples, 'jobs_finished_total', { queue: W, worker: 'prom-wf-step', outcome: 'completed' })).toBe(4);
    metrics.close();
    await queue.stop();
  });
});

describe('queue gauges at scrape time', () => {
  const Q = 'prom-idle';
  const idle = new Worker({ name: 'prom-idle', queue: Q, args: Args, perform: () => null });

  it('reads queueStats once per cache period and once per scrape in flight, and keeps the last values when a read fails', async () => {
    // Its own pool, so the test can end it to make reads fail for real.
    const pool = createPgPool(db.url, 'docket-test-prometheus-admin');
    const admin = await db.queue({ workers: [idle], connection: pool }); // never started: admin calls only
    let reads = 0;
    const read = admin.queueStats.bind(admin);
    admin.queueStats = () => {
      reads++;
      return read();
    };
    const minuteAgo = new Date(Date.now() - 60_000);
    await admin.insert(idle, { n: 1 }, { scheduledAt: minuteAgo });
    await admin.insert(idle, { n: 2 }, { scheduledAt: minuteAgo });
    await admin.insert(idle, { n: 3 }, { delay: 3_600_000 });

    const cachedRegistry = new Registry();
    const cached = createPrometheusMetrics({ queue: admin, registry: cachedRegistry, statsCacheMs: 3_600_000 });
    const first = await Promise.all([scrape(cachedRegistry), scrape(cachedRegistry), scrape(cachedRegistry)]);
    expect(reads).toBe(1);
    for (const samples of first) {
      expect(valueOf(samples, 'queue_depth', { queue: Q })).toBe(2);
      expect(valueOf(samples, 'queue_jobs', { queue: Q, state: 'available' })).toBe(2);
      expect(valueOf(samples, 'queue_jobs', { queue: Q, state: 'scheduled' })).toBe(1);
      expect(valueOf(samples, 'queue_state', { queue: Q })).toBe(0); // not running on this node
      expect(valueOf(samples, 'queue_oldest_available_seconds', { queue: Q })).toBeGreaterThanOrEqual(59);
    }
    await admin.insert(idle, { n: 4 });
    expect(valueOf(await scrape(cachedRegistry), 'queue_depth', { queue: Q })).toBe(2); // the cached read
    expect(reads).toBe(1);
    cached.close();

    const registry = new Registry();
    const metrics = createPrometheusMetrics({ queue: admin, registry, statsCacheMs: 0 });
    reads = 0;
    const concurrent = await Promise.all([scrape(registry), scrape(registry), scrape(registry)]);
    expect(reads).toBe(1);
    expect(concurrent.map((s) => valueOf(s, 'queue_depth', { queue: Q }))).toEqual([3, 3, 3]);
    await admin.pauseQueue(Q);
    const paused = await scrape(registry);
    expect(reads).toBe(2);
    expect(valueOf(paused, 'queue_state', { queue: Q })).toBe(2);

    await pool.end();
    const failed = await scrape(registry);
    expect(reads).toBe(3);
    expect(valueOf(failed, 'queue_stats_errors_total')).toBe(1);
    expect(valueOf(failed, 'queue_state', { queue: Q })).toBe(2);
    expect(valueOf(failed, 'queue_depth', { queue: Q })).toBe(3);
    // A failed read is not cached: the next scrape tries again.
    expect(valueOf(await scrape(registry), 'queue_stats_errors_total')).toBe(2);
    expect(reads).toBe(4);
    metrics.close();
  });
});
