// A workflow step whose node is SIGKILLed mid-run is rescued by Lifeline, runs again elsewhere,
// and only then does its dependent run: a real child process, a real signal.
import { describe, expect, it } from 'vitest';
import { Lifeline } from '../../src/index.js';
import { spawnReporter } from '../support/child.js';
import { nextEvent, useSchema, waitFor } from '../support/queue.js';
import { crashWorkers } from '../fixtures/workflow-workers.js';

const db = useSchema('wf_crash');

describe('workflow steps and crashes', () => {
  it('a parent SIGKILLed mid-run is rescued, runs again, and then the child proceeds', async () => {
    const childStarts: { at: number; parentDone: boolean }[] = [];
    let parentRuns = 0;
    const { parent, child } = crashWorkers(
      () => {
        parentRuns++;
        return { rescued: true };
      },
      async (job) => {
        const { rows } = await db.pool.query<{ state: string }>(`SELECT state::text AS state FROM "${db.schema}".jobs WHERE workflow_id = $1 AND step = 'parent'`, [
          job.workflow!.id,
        ]);
        childStarts.push({ at: Date.now(), parentDone: rows[0]?.state === 'completed' });
        return 'child done';
      },
    );
    // This node runs only the child step until the crash; the parent is the other process's.
    const queue = await db.queue({ workers: [parent, child], queues: { 'wfk-child': 2 }, heartbeatInterval: 300 });
    const node = spawnReporter('test/fixtures/workflow-child.ts', { DATABASE_URL: db.url, DOCKET_SCHEMA: db.schema, DOCKET_NODE_ID: 'wf-victim' });
    try {
      // 30 s: a tsx child boots in seconds when idle, much slower on a loaded 2-core machine.
      await waitFor(() => node.events.some((e) => e.event === 'ready'), `the child node (${node.stderr()})`, 30_000);
      await queue.start();
      const run = await queue.workflow('crash').add('parent', parent, { n: 1 }).add('child', child, {}, { deps: ['parent'] }).insert();
      await waitFor(() => node.events.some((e) => e.event === 'started'), 'the parent step to start in the child process');
      node.child.kill('SIGKILL');
      expect((await node.exited).signal).toBe('SIGKILL');
      expect(childStarts).toHaveLength(0);

      // A second node with Lifeline takes over the parent's queue. It beats every 300 ms: with
      // the default 1 s beat and staleAfter 1 s its own row would be stale for a round trip
      // every second, and a Lifeline pass falling then would rescue the parent step it re-ran.
      const rescuer = await db.queue({
        workers: [parent, child],
        queues: { 'wfk-parent': 1 },
        heartbeatInterval: 300,
        plugins: [new Lifeline({ staleAfter: 1_000, interval: 300 })],
      });
      const rescued = nextEvent(rescuer, 'job:rescue', ({ job }) => job.id === run.steps.parent!.id);
      const done = nextEvent(queue, 'workflow:complete', ({ workflow }) => workflow.id === run.id, 30_000);
      await rescuer.start();
      expect((await rescued).job.state).toBe('retryable');
      await done;
      const wf = await queue.getWorkflow(run.id);
      const [p, c] = wf!.steps;
      expect(p!.job).toMatchObject({ state: 'completed', attempt: 2, result: { rescued: true } });
      expect(c!.job).toMatchObject({ state: 'completed', attempt: 1 });
      expect(parentRuns).toBe(1);
      expect(childStarts).toEqual([{ at: expect.any(Number), parentDone: true }]);
      expect(c!.job.attemptedAt!.getTime()).toBeGreaterThanOrEqual(p!.job.completedAt!.getTime());
      await Promise.all([rescuer.stop(), queue.stop()]);
    } finally {
      if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill('SIGKILL');
    }
  }, 90_000); // a child boot of up to 30 s, then up to 30 s for the workflow

  it('a parent out of attempts when its node dies is discarded by the rescue, and its child is cancelled', async () => {
    const { parent, child } = crashWorkers(() => 'never here', () => 'never here either');
    const queue = await db.queue({
      workers: [parent, child],
      queues: { 'wfk-child': 1 },
      plugins: [new Lifeline({ staleAfter: 1_000, interval: 300 })],
    });
    const node = spawnReporter('test/fixtures/workflow-child.ts', { DATABASE_URL: db.url, DOCKET_SCHEMA: db.schema, DOCKET_NODE_ID: 'wf-victim-2' });
    try {
      await waitFor(() => node.events.some((e) => e.event === 'ready'), `the child node (${node.stderr()})`, 30_000);
      await queue.start();
      const run = await queue.workflow('spent').add('parent', parent, { n: 2 }, { maxAttempts: 1 }).add('child', child, {}, { deps: ['parent'] }).insert();
      await waitFor(() => node.events.some((e) => e.event === 'started' && (e.workflow as { id: string }).id === run.id), 'the parent to start');
      const failed = nextEvent(queue, 'workflow:fail', ({ workflow }) => workflow.id === run.id, 30_000);
      node.child.kill('SIGKILL');
      expect((await failed).workflow.state).toBe('failed');
      const wf = await queue.getWorkflow(run.id);
      expect(wf!.steps.map((s) => [s.name, s.job.state])).toEqual([
        ['parent', 'discarded'],
        ['child', 'cancelled'],
      ]);
    } finally {
      if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill('SIGKILL');
    }
  }, 90_000); // a child boot of up to 30 s, then up to 30 s for the workflow
});
