// docket/testing, used the way a host's test suite would: manual mode with drain(), inline mode
// (also inside a host transaction, on both drivers), and the enqueued-job matchers.
import { AssertionError } from 'node:assert';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, QueueStateError, Worker } from '../../src/index.js';
import { allEnqueued, assertEnqueued, drain, refuteEnqueued } from '../../src/testing/index.js';
import { createPostgresJs } from '../support/db.js';
import { useSchema } from '../support/queue.js';

const db = useSchema('testing');
const sql = createPostgresJs(db.url, `docket-test-${db.schema}-pgjs`);
afterAll(() => sql.end());

function workers(tag: string) {
  const performed: string[] = [];
  const email = new Worker({
    name: `email-${tag}`,
    queue: `mail-${tag}`,
    args: z.object({ to: z.string(), template: z.string().default('welcome') }),
    perform: (job) => {
      performed.push(job.args.to);
      if (job.args.to === 'flaky@test.local' && job.attempt < 3) throw new Error(`attempt ${job.attempt} failed`);
      return { sent: job.args.to };
    },
  });
  return { email, performed };
}

describe('manual mode', () => {
  it('runs nothing by itself; drain() runs every available job and reports each outcome', async () => {
    const { email, performed } = workers('manual');
    const queue = await db.queue({ workers: [email], testing: 'manual' });
    await queue.start();
    await queue.insertMany(email, [{ to: 'a@test.local' }, { to: 'b@test.local' }, { to: 'flaky@test.local' }]);
    await queue.insert(email, { to: 'later@test.local' }, { delay: 3_600_000 });
    // start() in manual mode fetched nothing: every job is still waiting.
    expect(performed).toEqual([]);
    expect(await db.count(`queue = 'mail-manual' AND state = 'available'`)).toBe(3);

    const first = await drain(queue);
    expect(first.completed).toBe(2);
    expect(first.retryable).toBe(1);
    expect(first.jobs.map((j) => [j.job.args, j.state])).toEqual([
      [{ to: 'a@test.local', template: 'welcome' }, 'completed'],
      [{ to: 'b@test.local', template: 'welcome' }, 'completed'],
      [{ to: 'flaky@test.local', template: 'welcome' }, 'retryable'],
    ]);
    expect(first.jobs[0]!.job.result).toEqual({ sent: 'a@test.local' });
    expect(await db.count(`queue = 'mail-manual' AND state = 'scheduled'`)).toBe(1);

    // withScheduled pulls the retry and the delayed job forward and runs until nothing is left.
    const second = await drain(queue, { withScheduled: true });
    expect(second.jobs.map((j) => `${(j.job.args as { to: string }).to}:${j.state}`).sort()).toEqual([
      'flaky@test.local:completed',
      'flaky@test.local:retryable',
      'later@test.local:completed',
    ]);
    expect(await db.count(`queue = 'mail-manual' AND state <> 'completed'`)).toBe(0);
    expect((await drain(queue)).jobs).toEqual([]);
  });

  it('emits the usual events and refuses drain() on a queue not in a testing mode', async () => {
    const { email } = workers('events');
    const queue = await db.queue({ workers: [email], testing: 'manual' });
    const completed: string[] = [];
    queue.on('job:complete', ({ job }) => completed.push(job.id));
    const job = await queue.insert(email, { to: 'e@test.local' });
    await drain(queue);
    expect(completed).toEqual([job.id]);

    const plain = await db.queue({ workers: [workers('plain').email], queues: {} });
    await expect(drain(plain)).rejects.toBeInstanceOf(QueueStateError);
    await expect(db.queue({ workers: [], testing: 'sometimes' as never })).rejects.toBeInstanceOf(ConfigError);
  });
});

describe.each(['pg', 'postgres'] as const)('inline mode (%s driver)', (kind) => {
  it('runs each inserted job before insert returns, and returns it as stored', async () => {
    const { email, performed } = workers(`inline-${kind}`);
    const queue = await db.queue({ workers: [email], testing: 'inline', ...(kind === 'postgres' ? { connection: sql } : {}) });
    const job = await queue.insert(email, { to: 'now@test.local' });
    expect(performed).toEqual(['now@test.local']);
    expect(job.state).toBe('completed');
    expect(job.result).toEqual({ sent: 'now@test.local' });
    expect((await queue.getJob(job.id))?.state).toBe('completed');
    // A delayed job is not due: it waits for drain({ withScheduled: true }).
    const later = await queue.insert(email, { to: 'later@test.local' }, { delay: 60_000 });
    expect(later.state).toBe('scheduled');
    expect((await drain(queue, { withScheduled: true })).completed).toBe(1);
  });

  it('inside a host transaction: the run is part of it, and vanishes with a rollback', async () => {
    const { email, performed } = workers(`inline-tx-${kind}`);
    const queue = await db.queue({ workers: [email], testing: 'inline', ...(kind === 'postgres' ? { connection: sql } : {}) });
    let committedId = '';
    let rolledBackId = '';
    if (kind === 'pg') {
      const client = await db.pool.connect();
      try {
        await client.query('BEGIN');
        committedId = (await queue.insert(email, { to: 'tx-commit@test.local' }, { tx: client })).id;
        await client.query('COMMIT');
        await client.query('BEGIN');
        rolledBackId = (await queue.insert(email, { to: 'tx-rollback@test.local' }, { tx: client })).id;
        await client.query('ROLLBACK');
      } finally {
        client.release();
      }
    } else {
      committedId = await sql.begin(async (tx) => (await queue.insert(email, { to: 'tx-commit@test.local' }, { tx })).id);
      await sql
        .begin(async (tx) => {
          rolledBackId = (await queue.insert(email, { to: 'tx-rollback@test.local' }, { tx })).id;
          throw new Error('roll back');
        })
        .catch(() => undefined);
    }
    expect(performed).toEqual(['tx-commit@test.local', 'tx-rollback@test.local']);
    expect((await queue.getJob(committedId))?.state).toBe('completed');
    expect(await queue.getJob(rolledBackId)).toBeNull();
  });
});

describe('matchers', () => {
  it('assertEnqueued / refuteEnqueued / allEnqueued match worker, queue, partial args, tags and state', async () => {
    const { email } = workers('match');
    const queue = await db.queue({ workers: [email], testing: 'manual' });
    await queue.insert(email, { to: 'x@test.local', template: 'reset' }, { tags: ['auth'] });
    await queue.insert(email, { to: 'y@test.local' }, { delay: 60_000, priority: 2 });

    const found = await assertEnqueued(queue, { worker: email, args: { to: 'x@test.local' } });
    expect(found.args).toEqual({ to: 'x@test.local', template: 'reset' });
    await assertEnqueued(queue, { worker: `email-match`, tags: ['auth'], queue: 'mail-match' });
    await assertEnqueued(queue, { worker: email, priority: 2, state: 'scheduled' });
    await refuteEnqueued(queue, { worker: email, args: { to: 'z@test.local' } });
    await refuteEnqueued(queue, { worker: email, args: { to: 'x@test.local', template: 'welcome' } });
    expect((await allEnqueued(queue, { worker: email })).map((j) => (j.args as { to: string }).to)).toEqual(['x@test.local', 'y@test.local']);

    const missing = await assertEnqueued(queue, { worker: email, args: { to: 'nobody@test.local' } }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(AssertionError);
    expect((missing as Error).message).toContain('x@test.local');
    await expect(refuteEnqueued(queue, { worker: email, tags: ['auth'] })).rejects.toBeInstanceOf(AssertionError);

    // Once run, jobs are no longer enqueued.
    await drain(queue);
    await refuteEnqueued(queue, { worker: email, args: { to: 'x@test.local' } });
    await assertEnqueued(queue, { worker: email, args: { to: 'y@test.local' } });
  });
});

describe('taking a job away in a testing mode', () => {
  it('cancel() aborts a job that drain() is running, as on a running queue', async () => {
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    let reason: unknown;
    const waiter = new Worker({
      name: 'waits-for-abort',
      queue: 'take-away',
      args: z.object({}),
      perform: (_job, { signal }) =>
        new Promise((_resolve, reject) => {
          started();
          signal.addEventListener('abort', () => {
            reason = signal.reason;
            reject(signal.reason);
          });
        }),
    });
    const queue = await db.queue({ workers: [waiter], testing: 'manual' });
    await queue.start();
    const job = await queue.insert(waiter, {});
    const drained = drain(queue, { queues: ['take-away'] });
    await running;
    expect((await queue.cancel(job.id, 'no longer needed'))?.state).toBe('cancelled');
    await drained;
    expect(reason).toBeInstanceOf(Error);
    expect((reason as Error).name).toBe('JobCancelledError');
    expect(await queue.getJob(job.id)).toMatchObject({ state: 'cancelled' });
    await queue.stop();
  });
});
