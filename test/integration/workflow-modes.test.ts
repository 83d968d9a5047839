// Workflow steps wherever a job can run: in a worker thread (results and addSteps cross the
// thread boundary), in a partitioned queue (the serialized fetch), in docket/testing's drain(),
// and inserted in a postgres.js transaction that rolls back or commits.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Worker } from '../../src/index.js';
import { drain } from '../../src/testing/index.js';
import { createPostgresJs } from '../support/db.js';
import { nextEvent, useSchema } from '../support/queue.js';
import { threadLeaf, threadStep } from '../fixtures/workflow-thread-workers.js';

const db = useSchema('wf_modes');

const seed = new Worker({ name: 'wf-seed', queue: 'wf-modes', args: z.object({ v: z.string() }), perform: (job) => ({ seed: job.args.v }) });
const join = new Worker({
  name: 'wf-join',
  queue: 'wf-modes',
  args: z.object({}),
  perform: async (job) => ({ saw: Object.keys(await job.results()).sort(), workflow: job.workflow }),
});
const tenantStep = new Worker({
  name: 'wf-tenant',
  queue: 'wf-tenants',
  args: z.object({ tenant: z.string() }),
  partition: { by: (args) => args.tenant, limit: 1 },
  perform: async (job) => ({ workflow: job.workflow, results: await job.results() }),
});
const failing = new Worker({ name: 'wf-failing', queue: 'wf-modes', maxAttempts: 1, args: z.object({}), perform: () => Promise.reject(new Error('no')) });
const workers = [seed, join, threadStep, threadLeaf, tenantStep, failing];

describe('workflow steps in every mode', () => {
  it('a thread step reads results and adds steps; a partitioned step knows its workflow', async () => {
    const queue = await db.queue({ workers, queues: { 'wf-modes': 4, 'wf-tenants': 2 }, threads: { size: 1 } });
    await queue.start();
    const run = await queue
      .workflow('modes')
      .add('seed', seed, { v: 'x' })
      .add('thread', threadStep, {}, { deps: ['seed'] })
      .add('join', join, {}, { deps: ['thread'] })
      .add('tenant', tenantStep, { tenant: 't1' }, { deps: ['seed'] })
      .insert();
    const done = await nextEvent(queue, 'workflow:complete', ({ workflow }) => workflow.id === run.id);
    expect(done.workflow.name).toBe('modes');
    const wf = await queue.getWorkflow(run.id);
    const by = Object.fromEntries(wf!.steps.map((s) => [s.name, s.job]));
    expect(by.thread!.result).toEqual({
      isMainThread: false,
      results: { seed: { seed: 'x' } },
      workflow: { id: run.id, name: 'modes', step: 'thread' },
      added: ['extra-1', 'extra-2'],
    });
    expect(by.join!.result).toEqual({ saw: ['extra-1', 'extra-2', 'thread'], workflow: { id: run.id, name: 'modes', step: 'join' } });
    expect(by.tenant!.result).toEqual({ workflow: { id: run.id, name: 'modes', step: 'tenant' }, results: { seed: { seed: 'x' } } });
    expect(wf!.steps.map((s) => s.job.state).every((s) => s === 'completed')).toBe(true);
    await queue.stop();
  });

  it("retention 'none' keeps workflow steps: dependents read their results, getWorkflow shows them", async () => {
    const queue = await db.queue({ workers, queues: { 'wf-modes': 2 }, retention: 'none' });
    await queue.start();
    const plain = await queue.insert(seed, { v: 'gone' });
    const run = await queue.workflow('kept').add('seed', seed, { v: 'k' }).add('join', join, {}, { deps: ['seed'] }).insert();
    await nextEvent(queue, 'workflow:complete', ({ workflow }) => workflow.id === run.id);
    const wf = await queue.getWorkflow(run.id);
    expect(wf!.steps.map((s) => [s.name, s.job.state])).toEqual([
      ['seed', 'completed'],
      ['join', 'completed'],
    ]);
    expect(wf!.steps[1]!.job.result).toMatchObject({ saw: ['seed'] });
    expect(await queue.getJob(plain.id)).toBeNull(); // a plain job is deleted at its ack
    await queue.stop();
  });

  it('drain() in manual testing mode runs a workflow through, failure policies included', async () => {
    const queue = await db.queue({ workers, testing: 'manual' });
    await queue.start();
    const ok = await queue.workflow('drained').add('seed', seed, { v: 'y' }).add('join', join, {}, { deps: ['seed'] }).insert();
    const bad = await queue.workflow('drained-bad').add('f', failing, {}).add('after', join, {}, { deps: ['f'] }).insert();
    const ended: string[] = [];
    queue.on('workflow:complete', ({ workflow }) => ended.push(`${workflow.name}:${workflow.state}`));
    queue.on('workflow:fail', ({ workflow }) => ended.push(`${workflow.name}:${workflow.state}`));
    const result = await drain(queue, { queues: ['wf-modes'] });
    expect(result.completed).toBe(2);
    expect(result.discarded).toBe(1);
    expect(ended.sort()).toEqual(['drained-bad:failed', 'drained:completed']);
    expect((await queue.getWorkflow(ok.id))!.state).toBe('completed');
    expect((await queue.getJob(bad.steps.after!.id))!.state).toBe('cancelled');
    await queue.stop();
  });

  it('inserts in a postgres.js transaction: nothing on rollback, every step on commit', async () => {
    const sql = createPostgresJs(db.url, `wf-modes-${db.schema}`, { max: 2 });
    try {
      const queue = await db.queue({ workers, connection: sql, queues: {} });
      const before = await db.count();
      await sql
        .begin(async (tx) => {
          await queue.workflow('tx').add('seed', seed, { v: 'z' }).add('join', join, {}, { deps: ['seed'] }).insert({ tx });
          throw new Error('roll back');
        })
        .catch(() => undefined);
      expect(await db.count()).toBe(before);
      const run = await sql.begin((tx) => queue.workflow('tx').add('seed', seed, { v: 'z' }).add('join', join, {}, { deps: ['seed'] }).insert({ tx }));
      expect(await db.count()).toBe(before + 2);
      expect((await queue.getWorkflow(run.id))!.steps.map((s) => s.job.state)).toEqual(['available', 'held']);
      await queue.stop();
    } finally {
      await sql.end({ timeout: 1 });
    }
  });
});
