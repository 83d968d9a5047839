// Workflows on a real database: a DAG runs in dependency order with results passed down, each
// step once; bad DAGs write nothing (also inside a host transaction); failure policies; cancel
// and retry of a whole workflow; steps added by a running step (dynamic fan-out, fan-in).
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, Worker, WorkerResults, WorkflowError, stepResult } from '../../src/index.js';
import type { Queue, WorkflowSummary } from '../../src/index.js';
import { nextEvent, useSchema, waitFor } from '../support/queue.js';

const db = useSchema('workflow');

/** Every start of a step, in order, by workflow id. */
const starts = new Map<string, string[]>();
const started = (job: { workflow: { id: string; step: string } | null }): void => {
  if (job.workflow === null) return;
  starts.set(job.workflow.id, [...(starts.get(job.workflow.id) ?? []), job.workflow.step]);
};

const fetchWorker = new Worker({
  name: 'wf-fetch',
  queue: 'wf',
  args: z.object({ url: z.string() }),
  result: z.object({ path: z.string(), bytes: z.number() }),
  perform: (job) => {
    started(job);
    return { path: `/tmp/${job.args.url}`, bytes: 42 };
  },
});
const thumbWorker = new Worker({
  name: 'wf-thumb',
  queue: 'wf',
  args: z.object({ size: z.number().int().positive() }),
  perform: async (job) => {
    started(job);
    const fetched = stepResult(await job.results(), 'fetch', fetchWorker);
    return { thumb: `${fetched.path}@${job.args.size}` };
  },
});
const notifyWorker = new Worker({
  name: 'wf-notify',
  queue: 'wf',
  args: z.object({ to: z.string() }),
  perform: async (job) => {
    started(job);
    return { to: job.args.to, saw: await job.results(), workflow: job.workflow };
  },
});
/** Fails for good when its args say so; else completes. */
const maybeFail = new Worker({
  name: 'wf-maybe-fail',
  queue: 'wf',
  args: z.object({ fail: z.boolean().default(false) }),
  maxAttempts: 1,
  perform: (job) => {
    started(job);
    if (job.args.fail) throw new Error('boom');
    return 'ok';
  },
});
/** Splits into `pages` steps, each of which the held `merge` step must wait for too. */
const split = new Worker({
  name: 'wf-split',
  queue: 'wf',
  args: z.object({ pages: z.number().int() }),
  perform: async (job) => {
    started(job);
    const added = await job.addSteps([
      ...Array.from({ length: job.args.pages }, (_, i) => ({ name: `page-${i}`, worker: pageWorker, args: { page: i }, dependents: ['merge'] })),
      // After the existing (held) merge step: merge gains a dependent while it waits.
      { name: 'tail', worker: pageWorker, args: { page: -1 }, deps: ['merge'] },
    ]);
    return { added: added.length };
  },
});
const pageWorker = new Worker({
  name: 'wf-page',
  queue: 'wf',
  args: z.object({ page: z.number().int() }),
  perform: (job) => {
    started(job);
    return { page: job.args.page };
  },
});
const mergeWorker = new Worker({
  name: 'wf-merge',
  queue: 'wf',
  args: z.object({}),
  perform: async (job) => {
    started(job);
    const results = await job.results();
    return { pages: Object.keys(results).filter((k) => k.startsWith('page-')).length };
  },
});

const workers = [fetchWorker, thumbWorker, notifyWorker, maybeFail, split, pageWorker, mergeWorker];

// One running node for the file: a workflow's events come from the node that finished it.
let node: Promise<Queue> | undefined;
function running(): Promise<Queue> {
  node ??= (async () => {
    const queue = await db.queue({ workers, queues: { wf: 10 } });
    await queue.start();
    return queue;
  })();
  return node;
}

function ended(queue: Queue, id: string): Promise<WorkflowSummary> {
  return new Promise((resolve) => {
    const on = ({ workflow }: { workflow: WorkflowSummary }): void => {
      if (workflow.id !== id) return;
      queue.off('workflow:complete', on);
      queue.off('workflow:fail', on);
      resolve(workflow);
    };
    queue.on('workflow:complete', on);
    queue.on('workflow:fail', on);
  });
}

describe('workflows', () => {
  it('runs a DAG in dependency order, passing results, each step once', async () => {
    const queue = await running();
    const run = await queue
      .workflow('process-upload', { tags: ['upload'] })
      .add('fetch', fetchWorker, { url: 'a.png' })
      .add('thumb', thumbWorker, { size: 200 }, { deps: ['fetch'] })
      .add('ocr', maybeFail, {}, { deps: ['fetch'] })
      .add('notify', notifyWorker, { to: 'ada' }, { deps: ['thumb', 'ocr'] })
      .insert();
    expect(run.steps.fetch!.state).toBe('available');
    expect(run.steps.notify!.state).toBe('held');
    const end = await ended(queue, run.id);
    expect(end.state).toBe('completed');
    const order = starts.get(run.id)!;
    expect(order).toHaveLength(4);
    expect(order[0]).toBe('fetch');
    expect(order[3]).toBe('notify');
    const wf = await queue.getWorkflow(run.id);
    expect(wf!.state).toBe('completed');
    expect(wf!.tags).toEqual(['upload']);
    expect(wf!.steps.map((s) => [s.name, s.job.state, s.deps])).toEqual([
      ['fetch', 'completed', []],
      ['thumb', 'completed', ['fetch']],
      ['ocr', 'completed', ['fetch']],
      ['notify', 'completed', ['thumb', 'ocr']],
    ]);
    const notify = wf!.steps[3]!.job.result as { saw: Record<string, unknown>; workflow: unknown };
    expect(notify.saw).toEqual({ thumb: { thumb: '/tmp/a.png@200' }, ocr: 'ok' });
    expect(notify.workflow).toEqual({ id: run.id, name: 'process-upload', step: 'notify' });
    expect(wf!.steps.every((s) => s.job.tags.includes('upload'))).toBe(true);
  });

  it('bad DAGs are typed errors and write nothing, also in a host transaction', async () => {
    const queue = await db.queue({ workers, queues: {} });
    const before = await db.count();
    const attempts: [string, () => Promise<unknown>][] = [
      ['unknown dependency', () => queue.workflow('w').add('a', fetchWorker, { url: 'x' }, { deps: ['nope'] }).insert()],
      ['duplicate name', () => queue.workflow('w').add('a', fetchWorker, { url: 'x' }).add('a', fetchWorker, { url: 'y' }).insert()],
      [
        'cycle',
        () =>
          queue
            .workflow('w')
            .add('a', maybeFail, {}, { deps: ['c'] })
            .add('b', maybeFail, {}, { deps: ['a'] })
            .add('c', maybeFail, {}, { deps: ['b'] })
            .insert(),
      ],
      ['bad args', () => queue.workflow('w').add('a', fetchWorker, { url: 'x' }).add('b', thumbWorker, { size: -1 }, { deps: ['a'] }).insert()],
      ['self dependency', () => queue.workflow('w').add('a', maybeFail, {}, { deps: ['a'] }).insert()],
      ['bad policy', () => queue.workflow('w').add('a', maybeFail, {}).add('b', maybeFail, {}, { deps: ['a'], onDependencyFailure: 'maybe' as never }).insert()],
      ['empty', () => queue.workflow('w').insert()],
    ];
    for (const [what, attempt] of attempts) {
      const error = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, what).toBeInstanceOf(WorkflowError);
    }
    const cycle = await queue
      .workflow('w')
      .add('a', maybeFail, {}, { deps: ['b'] })
      .add('b', maybeFail, {}, { deps: ['a'] })
      .insert()
      .catch((e: WorkflowError) => e);
    expect((cycle as WorkflowError).message).toMatch(/cycle: (a → b → a|b → a → b)/);
    const badArgs = await queue.workflow('w').add('thumb', thumbWorker, { size: -1 }).insert().catch((e: WorkflowError) => e);
    expect((badArgs as WorkflowError).step).toBe('thumb');
    // Meta is checked as an insert's is: a ConfigError naming the workflow.
    await expect(queue.workflow('w', { meta: [1] as never }).add('a', maybeFail, {}).insert()).rejects.toThrow(/workflow "w": meta must be a plain object/);
    await expect(queue.workflow('w', { meta: { big: 'x'.repeat(70_000) } }).add('a', maybeFail, {}).insert()).rejects.toThrow(ConfigError);

    // In the host's transaction: a valid workflow, then a bad one; the host rolls back.
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      const ok = await queue.workflow('in-tx').add('a', fetchWorker, { url: 'x' }).add('b', maybeFail, {}, { deps: ['a'] }).insert({ tx: client });
      expect(ok.steps.b!.state).toBe('held');
      await expect(queue.workflow('bad').add('a', fetchWorker, { url: 'x' }, { deps: ['zz'] }).insert({ tx: client })).rejects.toThrow(WorkflowError);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    expect(await db.count()).toBe(before);
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM "${db.schema}".workflows WHERE name IN ('w', 'bad', 'in-tx')`);
    expect(rows[0].n).toBe(0);
  });

  it('a failed dependency cancels its dependents by default, lets ignoring ones run, or cancels the workflow', async () => {
    const queue = await running();
    // a fails; b (cancel) and c (below b) are cancelled; d ignores the failure and runs.
    const run = await queue
      .workflow('policies')
      .add('a', maybeFail, { fail: true })
      .add('b', maybeFail, {}, { deps: ['a'] })
      .add('c', maybeFail, {}, { deps: ['b'] })
      .add('d', maybeFail, {}, { deps: ['a'], ignoreDependencyFailure: true })
      .insert();
    const end = await ended(queue, run.id);
    expect(end.state).toBe('failed');
    const wf = await queue.getWorkflow(run.id);
    expect(Object.fromEntries(wf!.steps.map((s) => [s.name, s.job.state]))).toEqual({
      a: 'discarded',
      b: 'cancelled',
      c: 'cancelled',
      d: 'completed',
    });
    expect(starts.get(run.id)!.sort()).toEqual(['a', 'd']);
    expect(wf!.steps.find((s) => s.name === 'b')!.job.errors.at(-1)!.message).toMatch(/dependency/);

    const whole = await queue
      .workflow('whole')
      .add('a', maybeFail, { fail: true })
      .add('slow', maybeFail, {}, { deps: ['a'], onDependencyFailure: 'cancel-workflow' })
      .add('other', maybeFail, {}, { deps: ['z'] })
      .add('z', notifyWorker, { to: 'x' }, { delay: 60_000 })
      .insert();
    const wholeEnd = await ended(queue, whole.id);
    expect(wholeEnd.state).toBe('failed');
    const after = await queue.getWorkflow(whole.id);
    expect(Object.fromEntries(after!.steps.map((s) => [s.name, s.job.state]))).toEqual({
      a: 'discarded',
      slow: 'cancelled',
      other: 'cancelled',
      z: 'cancelled',
    });
  });

  it('cancelWorkflow stops every unfinished step; retryWorkflow runs the failed ones and what they blocked', async () => {
    const queue = await running();
    const run = await queue
      .workflow('cancel-me')
      .add('a', maybeFail, { fail: true })
      .add('b', maybeFail, {}, { deps: ['a'] })
      .add('c', notifyWorker, { to: 'x' }, { deps: ['b'] })
      .insert();
    expect((await ended(queue, run.id)).state).toBe('failed');
    // Fix the cause (a's args say fail: flip them by hand, as an operator fixing data would),
    // then retry: a runs again, b and c follow.
    await db.pool.query(`UPDATE "${db.schema}".jobs_finished SET args = '{"fail": false}' WHERE id = $1`, [run.steps.a!.id]);
    const completed = ended(queue, run.id);
    const retried = await queue.retryWorkflow(run.id);
    // Its state as read after the retry: the running node may already have run all three steps.
    expect(['running', 'completed']).toContain(retried!.state);
    expect(retried!.steps.find((s) => s.name === 'a')!.job.state).not.toBe('discarded');
    expect((await completed).state).toBe('completed');
    const wf = await queue.getWorkflow(run.id);
    expect(wf!.steps.map((s) => s.job.state)).toEqual(['completed', 'completed', 'completed']);

    const later = await queue
      .workflow('cancel-later')
      .add('a', notifyWorker, { to: 'x' }, { delay: 60_000 })
      .add('b', notifyWorker, { to: 'y' }, { deps: ['a'] })
      .insert();
    const failed = nextEvent(queue, 'workflow:fail', ({ workflow }) => workflow.id === later.id);
    const cancelled = await queue.cancelWorkflow(later.id, 'no longer needed');
    expect(cancelled!.state).toBe('cancelled');
    expect(cancelled!.steps.map((s) => s.job.state)).toEqual(['cancelled', 'cancelled']);
    expect((await failed).workflow.state).toBe('cancelled');
    expect(await queue.getWorkflow('999999999')).toBeNull();
    await expect(queue.getWorkflow('x; DROP TABLE jobs')).rejects.toThrow(WorkflowError);
    await expect(queue.getWorkflow('9999999999999999999')).rejects.toThrow(WorkflowError);
    expect(await queue.getWorkflow(9_223_372_036_854_775_807n)).toBeNull();

    // Retrying one completed step runs it again and nothing else: its child, still waiting for
    // another dependency, is not released by that second completion.
    const twice = await queue
      .workflow('retry-one')
      .add('p', maybeFail, {})
      .add('q', notifyWorker, { to: 'q' }, { delay: 60_000 })
      .add('c', notifyWorker, { to: 'c' }, { deps: ['p', 'q'] })
      .insert();
    await waitFor(async () => (await queue.getJob(twice.steps.p!.id))?.state === 'completed', 'p to complete');
    const again = nextEvent(queue, 'job:complete', ({ job }) => job.id === twice.steps.p!.id);
    await queue.retry(twice.steps.p!.id);
    await again;
    expect((await queue.getJob(twice.steps.c!.id))!.state).toBe('held');
    await queue.cancelWorkflow(twice.id);

    // An operator cancels one step: its dependents' policies apply at once (no plugin here).
    const single = await queue
      .workflow('cancel-one')
      .add('a', notifyWorker, { to: 'x' }, { delay: 60_000 })
      .add('b', notifyWorker, { to: 'y' }, { deps: ['a'] })
      .insert();
    const singleEnd = ended(queue, single.id);
    expect((await queue.cancel(single.steps.a!.id))!.state).toBe('cancelled');
    expect((await singleEnd).state).toBe('failed');
    expect((await queue.getJob(single.steps.b!.id))!.state).toBe('cancelled');
  });

  it('a running step adds steps to its workflow, and the fan-in waits for all of them', async () => {
    const queue = await running();
    const run = await queue
      .workflow('pdf')
      .add('split', split, { pages: 25 })
      .add('merge', mergeWorker, {}, { deps: ['split'] })
      .insert();
    expect((await ended(queue, run.id)).state).toBe('completed');
    const wf = await queue.getWorkflow(run.id);
    expect(wf!.steps).toHaveLength(28);
    const merge = wf!.steps.find((s) => s.name === 'merge')!;
    expect(merge.deps).toHaveLength(26);
    expect(merge.job.result).toEqual({ pages: 25 });
    expect(wf!.steps.at(-1)).toMatchObject({ name: 'tail', deps: ['merge'], job: { state: 'completed' } });
    // merge started after every page completed, tail after merge.
    const order = starts.get(run.id)!;
    expect(order.slice(-2)).toEqual(['merge', 'tail']);
    expect(order.filter((s) => s.startsWith('page-'))).toHaveLength(25);
  });

  it('addSteps refuses a dependent that is no longer held, and plain jobs have no workflow', async () => {
    const probe = new Worker({
      name: 'wf-probe',
      queue: 'wf-probe',
      args: z.object({}),
      perform: async (job) => {
        const errors: string[] = [];
        await job.addSteps([{ name: 'x', worker: 'wf-page', args: { page: 1 }, dependents: ['first'] }]).catch((e: Error) => errors.push(e.message));
        if (job.workflow !== null) {
          // A live sibling's ack could be running right now, blind to a new edge: refused.
          await job.addSteps([{ name: 'y', worker: 'wf-page', args: { page: 2 }, deps: ['later'] }]).catch((e: Error) => errors.push(e.message));
        }
        await job.results().catch((e: Error) => errors.push(e.message));
        return WorkerResults.ok(errors);
      },
    });
    const queue = await running();
    const prober = await db.queue({ workers: [...workers, probe], queues: { 'wf-probe': 1 } });
    await prober.start();
    expect(queue.running).toBe(true);
    // 'first' runs on the file's node, 'probe' on this one, which finishes the workflow.
    const run = await prober
      .workflow('probe')
      .add('first', pageWorker, { page: 0 })
      .add('probe', probe, {}, { deps: ['first'] })
      .add('later', pageWorker, { page: 3 }, { delay: 60_000 })
      .insert();
    await waitFor(async () => (await queue.getJob(run.steps.probe!.id))?.state === 'completed', 'the probe step');
    const wf = await queue.getWorkflow(run.id);
    expect(wf!.steps.map((s) => s.name)).toEqual(['first', 'probe', 'later']);
    expect(wf!.steps[1]!.job.result).toEqual([
      expect.stringMatching(/dependent "first" is completed, not held/),
      expect.stringMatching(/depends on "later", which is scheduled/),
    ]);
    await queue.cancelWorkflow(run.id);
    const plain = await prober.insert(probe, {});
    await waitFor(async () => (await queue.getJob(plain.id))?.state === 'completed', 'the plain probe');
    expect((await queue.getJob(plain.id))!.result).toEqual([
      expect.stringMatching(/not a workflow step/),
      expect.stringMatching(/not a workflow step/),
    ]);
  });
});
