// Faults of a live node (issue 15, scenarios 5 and 6), with a real child process and real
// signals. A node whose event loop is blocked for 3 s by a synchronous job, below Lifeline's
// heartbeat window, loses nothing to rescue, and neither does a job running 3.5 × rescueAfter on
// a live node. A node frozen (SIGSTOP) past that window has its job rescued and completed by
// another node; thawed (SIGCONT), its late outcome changes nothing, it says so, and it goes on
// running jobs without a restart.
import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Lifeline, Worker } from '../../src/index.js';
import type { Job, Queue } from '../../src/index.js';
import { spawnReporter, type ReportingChild } from '../support/child.js';
import { nextEvent, useSchema, waitFor } from '../support/queue.js';

const db = useSchema('faults');
const children: ReportingChild[] = [];
afterAll(async () => {
  for (const { child, exited } of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited;
    }
  }
});

// The parent's copies of the child's workers (same names and queue), to insert and to run rescued jobs.
const Ms = z.object({ ms: z.number().int().min(0) });
const workersOn = (queue: string) => [
  new Worker({ name: 'stall', args: Ms, queue, perform: () => ({ node: 'parent' }) }),
  new Worker({ name: 'sleepy', args: Ms, queue, perform: async (job) => ({ node: 'parent', attempt: job.attempt }) }),
];

async function startChild(nodeId: string, queue: string, env: Record<string, string> = {}): Promise<ReportingChild> {
  const node = spawnReporter('test/fixtures/fault-child.ts', { DATABASE_URL: db.url, DOCKET_SCHEMA: db.schema, DOCKET_NODE_ID: nodeId, DOCKET_QUEUE: queue, ...env });
  children.push(node);
  await waitFor(() => node.events.some((e) => e.event === 'ready'), `${nodeId} ready (${node.stderr()})`, 30_000);
  return node;
}

const reported = (node: ReportingChild, event: string, id: string) => node.events.some((e) => e.event === event && e.id === id);

describe('a live node', () => {
  it('loses nothing to rescue while its event loop is blocked for 3 s, nor for a job running 3.5 × rescueAfter', async () => {
    const rescued: Job[] = [];
    // The leader: Lifeline's default heartbeat window (staleAfter 5 s), rescueAfter at its
    // least (1 s), looking every 200 ms; it runs no job itself. (Created first: it migrates.)
    const leader = await db.queue({ workers: workersOn('stalls'), queues: {}, plugins: [new Lifeline({ rescueAfter: 1_000, interval: 200 })] });
    // Heartbeats every 500 ms: the silence Lifeline sees is the stall plus up to one interval
    // plus the first beat after it (3.5 s and a round trip), 1.5 s inside the window. At the
    // default 1 s it would be 4 s and a round trip, and a loaded machine can eat that margin.
    const node = await startChild('stalling', 'stalls', { DOCKET_HEARTBEAT: '500' });
    leader.on('job:rescue', ({ job }) => rescued.push(job));
    await leader.start();
    await waitFor(() => leader.isLeader, 'the parent to lead');

    const long = await leader.insert('sleepy', { ms: 3_500 });
    await waitFor(() => reported(node, 'start', long.id), 'the long job to start');
    const blocking = await leader.insert('stall', { ms: 3_000 });
    await waitFor(() => reported(node, 'complete', blocking.id) && reported(node, 'complete', long.id), 'both jobs to complete', 30_000);
    // A wrongful rescue could only have happened while they ran: it would show as a second
    // attempt, an error, or another node.
    expect(rescued).toEqual([]);
    for (const id of [long.id, blocking.id]) expect(await leader.getJob(id)).toMatchObject({ state: 'completed', attempt: 1, errors: [], attemptedBy: 'stalling' });
    node.child.kill('SIGTERM');
    expect((await node.exited).code).toBe(0);
    await leader.stop(); // hands the lease on at once
  }, 60_000);

  it('frozen past the window: its job is rescued and completed elsewhere; thawed, its late outcome changes nothing and it carries on', async () => {
    const leader = await db.queue({
      workers: workersOn('frozen'),
      queues: {},
      plugins: [new Lifeline({ staleAfter: 2_000, interval: 200 })],
    });
    const node = await startChild('freezing', 'frozen');
    await leader.start();
    await waitFor(() => leader.isLeader, 'the parent to lead');

    const job = await leader.insert('sleepy', { ms: 1_500 });
    await waitFor(() => reported(node, 'start', job.id), 'the job to start on the child');
    node.child.kill('SIGSTOP');
    const rescue = nextEvent(leader, 'job:rescue', ({ job: j }) => j.id === job.id, 20_000);
    await rescue;

    // Another node runs the second attempt to the end while the first node is frozen.
    const other: Queue = await db.queue({ workers: workersOn('frozen'), queues: { frozen: 1 } });
    const done = nextEvent(other, 'job:complete', ({ job: j }) => j.id === job.id, 20_000);
    await other.start();
    await done;
    await other.stop();
    const settled = (await leader.getJob(job.id))!;
    expect(settled).toMatchObject({ state: 'completed', attempt: 2, result: { node: 'parent', attempt: 2 } });

    node.child.kill('SIGCONT');
    // It notices: its outcome for attempt 1 is ignored (or the attempt is aborted as moved on).
    await waitFor(
      () => node.events.some((e) => e.event === 'log' && /moved on|taken away/.test(String(e.message)) && e.jobId === job.id),
      'the thawed node to report that the job moved on',
      20_000,
    );
    expect(await leader.getJob(job.id)).toEqual(settled);
    // And carries on, without a restart.
    const next = await leader.insert('sleepy', { ms: 10 });
    await waitFor(() => reported(node, 'complete', next.id), 'the thawed node to run a new job', 20_000);
    expect(node.child.exitCode).toBeNull();
    node.child.kill('SIGTERM');
    expect((await node.exited).code).toBe(0);
  }, 90_000);
});
