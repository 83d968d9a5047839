// Acks are fenced by state and attempt: a worker whose job was taken away (rescued, retried
// elsewhere) can never overwrite the newer attempt's outcome.
import { expect, it } from 'vitest';
import { z } from 'zod';
import { Worker } from '../../src/index.js';
import type { Logger } from '../../src/index.js';
import { nextEvent, useSchema, waitFor } from '../support/queue.js';

const db = useSchema('fencing');

function latch(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

it('a stale worker cannot overwrite a newer attempt, running or finished', async () => {
  const releaseA = latch();
  const releaseB = latch();
  const warnings: string[] = [];
  const logger: Logger = { debug() {}, info() {}, error() {}, warn: (message) => void warnings.push(message) };

  const slowA = new Worker({
    name: 'contested',
    args: z.object({}),
    perform: async () => {
      await releaseA.promise;
      return 'from A';
    },
  });
  const slowB = new Worker({
    name: 'contested',
    args: z.object({}),
    perform: async () => {
      await releaseB.promise;
      return 'from B';
    },
  });
  // reconcileInterval one hour (as in control.test): A's reconciler checks its attempts every
  // ~2 s by default, and a pass that ran between the UPDATE below and A's ack would abandon the
  // attempt as taken away (logged at info) before A's ack could be fenced off (the warning waited
  // for below), which a slow start of B on a loaded machine made likely.
  const nodeA = await db.queue({ workers: [slowA], queues: { default: 1 }, logger, nodeId: 'node-a', reconcileInterval: 3_600_000 });
  const nodeB = await db.queue({ workers: [slowB], queues: { default: 1 }, nodeId: 'node-b' });
  const aCompleted: string[] = [];
  nodeA.on('job:complete', (e) => aCompleted.push(e.job.id));

  await nodeA.start();
  const startedA = nextEvent(nodeA, 'job:start');
  const job = await nodeA.insert(slowA, {});
  await startedA;

  // What a rescue does: the job goes back to the queue while A still runs it.
  await db.pool.query(`UPDATE "${db.schema}".jobs_live SET state = 'available' WHERE id = $1`, [job.id]);
  const startedB = nextEvent(nodeB, 'job:start');
  await nodeB.start();
  expect((await startedB).job.attempt).toBe(2);

  // A finishes first, while B's attempt 2 is executing: A's ack must not land.
  releaseA.open();
  await waitFor(() => warnings.some((w) => w.includes('outcome ignored')), 'A to have its ack fenced off');
  const during = (await nodeA.getJob(job.id))!;
  expect(during).toMatchObject({ state: 'executing', attempt: 2, attemptedBy: 'node-b', result: null });
  expect(aCompleted).toEqual([]);

  // B completes; its outcome is the one stored.
  const completedB = nextEvent(nodeB, 'job:complete');
  releaseB.open();
  await completedB;
  expect(await nodeB.getJob(job.id)).toMatchObject({ state: 'completed', attempt: 2, result: 'from B' });
  expect(aCompleted).toEqual([]);
  await nodeA.stop();
  await nodeB.stop();
});

it('a claim whose attempt number repeats (attempt handed back) is still fenced', async () => {
  const releaseA = latch();
  const releaseB = latch();
  const warnings: string[] = [];
  const logger: Logger = { debug() {}, info() {}, error() {}, warn: (message) => void warnings.push(message) };
  const slowA = new Worker({ name: 'aba', queue: 'aba', args: z.object({}), perform: async () => (await releaseA.promise, 'from A') });
  const slowB = new Worker({ name: 'aba', queue: 'aba', args: z.object({}), perform: async () => (await releaseB.promise, 'from B') });
  // reconcileInterval one hour: as in the test above, A's reconciler must not abandon the attempt
  // before its ack is fenced off.
  const nodeA = await db.queue({ workers: [slowA], queues: { aba: 1 }, logger, nodeId: 'aba-a', reconcileInterval: 3_600_000 });
  const nodeB = await db.queue({ workers: [slowB], queues: { aba: 1 }, nodeId: 'aba-b' });
  await nodeA.start();
  const startedA = nextEvent(nodeA, 'job:start');
  const job = await nodeA.insert(slowA, {});
  expect((await startedA).job.attempt).toBe(1);

  // The job goes back with its attempt handed back (as snooze, shutdown and release do), so
  // node B's claim carries the same attempt number, 1, as A's.
  await db.pool.query(`UPDATE "${db.schema}".jobs_live SET state = 'available', attempt = 0 WHERE id = $1`, [job.id]);
  const startedB = nextEvent(nodeB, 'job:start');
  await nodeB.start();
  expect((await startedB).job.attempt).toBe(1);

  // A finishes while B's attempt 1 is executing: same state, same attempt, different claim.
  releaseA.open();
  await waitFor(() => warnings.some((w) => w.includes('outcome ignored')), 'A to have its ack fenced off');
  expect(await nodeA.getJob(job.id)).toMatchObject({ state: 'executing', attempt: 1, attemptedBy: 'aba-b', result: null });

  const completedB = nextEvent(nodeB, 'job:complete');
  releaseB.open();
  await completedB;
  expect(await nodeA.getJob(job.id)).toMatchObject({ state: 'completed', attempt: 1, result: 'from B' });
  await nodeA.stop();
  await nodeB.stop();
});
