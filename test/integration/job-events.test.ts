// Cluster-wide job updates (jobEvents): a Queue that never started, on a pool of its own (an API
// process), follows a job that another node runs: its snapshot, start, progress reports and
// end, with the job's queue and worker and the running node's id. A watch ends at the final
// state even when nothing is announced (it reads the job again), is not ended by a forged
// announcement, sees an operator's cancel and delete, and watchJobs follows a whole queue.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Worker } from '../../src/index.js';
import type { JobUpdate, Queue } from '../../src/index.js';
import { useSchema, waitFor } from '../support/queue.js';

const db = useSchema('job_events');
const gates = new Map<string, () => void>();
// Each test has a queue of its own, so the nodes of earlier tests (still running) never take its jobs.
const stepsOn = (queue: string): Worker =>
  new Worker({
    name: 'steps',
    queue,
    args: z.object({ reports: z.number() }),
    perform: async (job) => {
      for (let i = 1; i <= job.args.reports; i++) await job.progress((i * 100) / job.args.reports, { step: i });
      await new Promise<void>((resolve) => gates.set(job.id, resolve));
      return 'done';
    },
  });
const release = async (id: string): Promise<void> => {
  await waitFor(() => gates.has(id), `job ${id} to reach its gate`);
  gates.get(id)!();
};

async function collect(iterator: AsyncIterable<JobUpdate>, into: JobUpdate[]): Promise<void> {
  for await (const update of iterator) into.push(update);
}

/** A started node running `queue`, and a Queue that never starts on a pool of its own (docket's). */
async function nodes(queue: string, jobEvents: boolean): Promise<{ runner: Queue; observer: Queue; steps: Worker }> {
  const steps = stepsOn(queue);
  const runner = await db.queue({ workers: [steps], queues: { [queue]: 4 }, jobEvents, progressInterval: 0, pollInterval: 50 });
  await runner.start();
  const observer = await db.queue({ connection: db.url, workers: [steps] });
  return { runner, observer, steps };
}

describe('job updates across nodes', () => {
  it('a Queue that never started follows a job another node runs, from snapshot to completion', async () => {
    const { runner, observer, steps } = await nodes('follow', true);
    const job = await runner.insert(steps, { reports: 3 }, { delay: 60_000 });
    const updates: JobUpdate[] = [];
    const watching = collect(observer.watch(job.id), updates);
    await waitFor(() => updates.length === 1, 'the snapshot');
    expect(updates[0]).toMatchObject({ id: job.id, kind: 'snapshot', state: 'scheduled', queue: 'follow', worker: 'steps', nodeId: null });
    await runner.retry(job.id); // due now: an operator's retry of a scheduled job makes it available
    await release(job.id);
    await watching;
    const kinds = updates.map((u) => u.kind);
    expect(kinds[0]).toBe('snapshot');
    // The operator's `retried` and the `start` of the claim it made possible are announced by two
    // paths of the runner at nearly the same moment: they reach the watcher in either order.
    expect(kinds.slice(1).filter((k) => k !== 'retried')).toEqual(['start', 'progress', 'progress', 'progress', 'complete']);
    expect(kinds.filter((k) => k === 'retried')).toHaveLength(1);
    expect(kinds.indexOf('retried')).toBeLessThan(kinds.indexOf('complete'));
    const progress = updates.filter((u) => u.kind === 'progress');
    expect(progress.map((u) => u.progress?.percent)).toEqual([100 / 3, 200 / 3, 100]);
    expect(progress[2]!.progress?.data).toEqual({ step: 3 });
    for (const u of updates.slice(1)) expect(u).toMatchObject({ id: job.id, queue: 'follow', worker: 'steps', nodeId: runner.nodeId });
    expect(updates.at(-1)).toMatchObject({ state: 'completed', attempt: 1 });
  });

  it('ends at the final state when nothing is announced, by reading the job again', async () => {
    const { runner, observer, steps } = await nodes('silent', false);
    const job = await runner.insert(steps, { reports: 1 });
    const updates: JobUpdate[] = [];
    const watching = collect(observer.watch(job.id, { recheckInterval: 200 }), updates);
    await release(job.id);
    await watching;
    expect(updates[0]!.kind).toBe('snapshot');
    expect(updates.at(-1)).toMatchObject({ kind: 'snapshot', state: 'completed' });
    expect(updates.every((u) => u.kind === 'snapshot')).toBe(true);
  });

  it('is not ended by a forged announcement; sees an operator cancel and delete; ends at once for no job', async () => {
    const { runner, observer, steps } = await nodes('operator', true);
    const job = await runner.insert(steps, { reports: 1 }, { delay: 60_000 });
    const updates: JobUpdate[] = [];
    const watching = collect(observer.watch(job.id, { recheckInterval: 60_000 }), updates);
    await waitFor(() => updates.length === 1, 'the snapshot');
    const forged = JSON.stringify({ u: [[job.id, 'operator', 'steps', 'completed', 1, 'complete', 'evil', null, null]] });
    await db.pool.query('SELECT pg_notify($1, $2)', [`docket:${db.schema}:jobs`, forged]);
    // The forgery made the watch read the job: still scheduled, so nothing new is yielded and it goes on.
    const other = await observer.insert(steps, { reports: 1 }, { delay: 60_000 });
    const otherUpdates: JobUpdate[] = [];
    const watchingOther = collect(observer.watch(other.id), otherUpdates);
    await waitFor(() => otherUpdates.length === 1, 'the other snapshot');
    await runner.cancel(job.id, 'no longer needed');
    await watching;
    // The forged end was checked against the database: the watch went on to the real one, the
    // cancel (or, when the check read the job after the cancel committed, its snapshot).
    expect(updates[0]).toMatchObject({ kind: 'snapshot', state: 'scheduled' });
    expect(updates.slice(1)).toHaveLength(1);
    expect(updates[1]).toMatchObject({ state: 'cancelled', error: 'no longer needed' });
    expect(['cancel', 'snapshot']).toContain(updates[1]!.kind);
    expect(updates.some((u) => u.state === 'completed' || u.nodeId === 'evil')).toBe(false);
    await runner.delete(other.id);
    await watchingOther;
    expect(otherUpdates.map((u) => [u.kind, u.state])).toEqual([
      ['snapshot', 'scheduled'],
      ['deleted', 'deleted'],
    ]);
    const none: JobUpdate[] = [];
    await collect(observer.watch('999999999'), none);
    expect(none).toEqual([]);
  });

  it('watchJobs follows every job of a queue with its queue and worker, until aborted', async () => {
    const { runner, observer, steps } = await nodes('all', true);
    const controller = new AbortController();
    const updates: JobUpdate[] = [];
    const watching = collect(observer.watchJobs({ queue: 'all' }, { signal: controller.signal }), updates);
    const unrelated = collect(observer.watchJobs({ queue: 'elsewhere' }, { signal: controller.signal }), []);
    // watchJobs listens from its first next(): until a probe job's completion arrives, it may not be in place yet.
    await waitFor(async () => {
      const probe = await runner.insert(steps, { reports: 0 });
      await release(probe.id);
      return waitFor(() => updates.some((u) => u.id === probe.id && u.kind === 'complete'), 'the probe update', 1_000).then(
        () => true,
        () => false,
      );
    }, 'watchJobs to hear a first update');
    const jobs = await runner.insertMany(steps, [{ reports: 2 }, { reports: 2 }]);
    await Promise.all(jobs.map((j) => release(j.id)));
    await waitFor(() => jobs.every((j) => updates.some((u) => u.id === j.id && u.kind === 'complete')), 'both completions');
    controller.abort();
    await watching;
    await unrelated;
    for (const j of jobs) {
      expect(updates.filter((u) => u.id === j.id && u.kind === 'progress').map((u) => u.progress?.percent)).toEqual([50, 100]);
    }
    expect(updates.every((u) => u.queue === 'all' && u.worker === 'steps')).toBe(true);
  });
});
