// What each perform outcome does to the stored job: complete, retry with backoff, discard when
// attempts run out, snooze without using an attempt, explicit cancel/discard, timeout.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { JobTimeoutError, Worker, WorkerResults } from '../../src/index.js';
import type { Job } from '../../src/index.js';
import { nextEvent, useSchema, waitFor } from '../support/queue.js';

const db = useSchema('outcomes');
const Args = z.object({ n: z.number() });

describe('perform outcomes', () => {
  it('stores the returned value as the result and records timings', async () => {
    const worker = new Worker({ name: 'ok', args: Args, perform: async (job) => ({ doubled: job.args.n * 2 }) });
    const queue = await db.queue({ workers: [worker], queues: { default: 2 } });
    await queue.start();
    const done = nextEvent(queue, 'job:complete');
    const inserted = await queue.insert(worker, { n: 21 });
    const event = await done;
    expect(event.job.id).toBe(inserted.id);
    expect(event.job.result).toEqual({ doubled: 42 });
    expect(event.queueTime).toBeGreaterThanOrEqual(0);
    expect(event.runTime).toBeGreaterThanOrEqual(0);
    const stored = await queue.getJob(inserted.id);
    expect(stored).toMatchObject({ state: 'completed', attempt: 1, result: { doubled: 42 }, errors: [] });
    expect(stored!.completedAt).toBeInstanceOf(Date);
    expect(stored!.attemptedAt).toBeInstanceOf(Date);
    expect(stored!.attemptedBy).toBe(queue.nodeId);
    await queue.stop();
  });

  it('retries a throwing job with the worker backoff, then discards it when attempts run out', async () => {
    const delays: number[] = [];
    const worker = new Worker({
      name: 'always-fails',
      args: Args,
      maxAttempts: 3,
      backoff: (attempt) => {
        delays.push(attempt);
        return 20 * attempt;
      },
      perform: async (job) => {
        throw new Error(`failure ${job.attempt}`);
      },
    });
    const queue = await db.queue({ workers: [worker], queues: { default: 1 } });
    const retries: number[] = [];
    const errors: string[] = [];
    queue.on('job:retry', (e) => retries.push(e.delay));
    queue.on('job:error', (e) => errors.push(e.error.message));
    await queue.start();
    const discarded = nextEvent(queue, 'job:discard');
    const job = await queue.insert(worker, { n: 1 });
    const event = await discarded;
    expect(event.job.id).toBe(job.id);
    expect(event.reason).toMatch(/attempts exhausted/);
    expect(retries).toEqual([20, 40]);
    expect(delays).toEqual([1, 2]);
    expect(errors).toEqual(['failure 1', 'failure 2', 'failure 3']);
    const stored = (await queue.getJob(job.id))!;
    expect(stored.state).toBe('discarded');
    expect(stored.attempt).toBe(3);
    expect(stored.errors.map((e) => [e.attempt, e.message])).toEqual([
      [1, 'failure 1'],
      [2, 'failure 2'],
      [3, 'failure 3'],
    ]);
    expect(stored.errors[0]!.stack).toContain('failure 1');
    expect(Date.parse(stored.errors[0]!.at)).not.toBeNaN();
    await queue.stop();
  });

  it('leaves a failed job retryable with its due time set by the backoff', async () => {
    const worker = new Worker({
      name: 'fails-once-slowly',
      args: Args,
      backoff: () => 60_000,
      perform: async () => {
        throw new Error('try later');
      },
    });
    const queue = await db.queue({ workers: [worker], queues: { default: 1 } });
    await queue.start();
    const retry = nextEvent(queue, 'job:retry');
    const job = await queue.insert(worker, { n: 1 });
    const event = await retry;
    expect(event.delay).toBe(60_000);
    const stored = (await queue.getJob(job.id))!;
    expect(stored.state).toBe('retryable');
    expect(stored.scheduledAt.getTime() - stored.attemptedAt!.getTime()).toBeGreaterThanOrEqual(59_000);
    await queue.stop();
  });

  it('snooze runs the job again later without using an attempt', async () => {
    let runs = 0;
    const worker = new Worker({
      name: 'snoozer',
      args: Args,
      maxAttempts: 1,
      perform: async () => {
        runs++;
        return runs < 3 ? WorkerResults.snooze(30) : 'woke up';
      },
    });
    const queue = await db.queue({ workers: [worker], queues: { default: 1 } });
    const snoozes: Job[] = [];
    queue.on('job:snooze', (e) => snoozes.push(e.job));
    await queue.start();
    const done = nextEvent(queue, 'job:complete');
    const job = await queue.insert(worker, { n: 1 });
    const event = await done;
    expect(event.job.id).toBe(job.id);
    expect(runs).toBe(3);
    expect(snoozes).toHaveLength(2);
    expect(snoozes.every((j) => j.state === 'scheduled' && j.attempt === 0)).toBe(true);
    // maxAttempts is 1, yet it ran three times: snoozes did not count.
    const stored = (await queue.getJob(job.id))!;
    expect(stored).toMatchObject({ state: 'completed', attempt: 1, maxAttempts: 1, result: 'woke up' });
    await queue.stop();
  });

  it('explicit cancel and discard end the job for good with the reason recorded', async () => {
    const worker = new Worker({
      name: 'chooser',
      args: z.object({ action: z.enum(['cancel', 'discard']) }),
      perform: async (job) =>
        job.args.action === 'cancel' ? WorkerResults.cancel('user gone') : WorkerResults.discard('bad data'),
    });
    const queue = await db.queue({ workers: [worker], queues: { default: 2 } });
    await queue.start();
    const cancelled = nextEvent(queue, 'job:cancel');
    const discarded = nextEvent(queue, 'job:discard');
    const a = await queue.insert(worker, { action: 'cancel' });
    const b = await queue.insert(worker, { action: 'discard' });
    expect((await cancelled).reason).toBe('user gone');
    expect((await discarded).reason).toBe('bad data');
    expect(await queue.getJob(a.id)).toMatchObject({ state: 'cancelled', errors: [{ message: 'user gone' }] });
    expect(await queue.getJob(b.id)).toMatchObject({ state: 'discarded', errors: [{ message: 'bad data' }] });
    await queue.stop();
  });

  it('timeout aborts the signal, stops waiting, and records the attempt as failed', async () => {
    let signalReason: unknown;
    let sawAbort = false;
    const worker = new Worker({
      name: 'too-slow',
      args: Args,
      timeout: 100,
      maxAttempts: 1,
      perform: (_job, { signal }) =>
        // Never settles on its own: only the abort tells it to stop.
        new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            sawAbort = true;
            signalReason = signal.reason;
            reject(signal.reason);
          });
        }),
    });
    const queue = await db.queue({ workers: [worker], queues: { default: 1 } });
    await queue.start();
    const discarded = nextEvent(queue, 'job:discard');
    const job = await queue.insert(worker, { n: 1 });
    const event = await discarded;
    expect(sawAbort).toBe(true);
    expect(signalReason).toBeInstanceOf(JobTimeoutError);
    expect(event.runTime).toBeGreaterThanOrEqual(90);
    const stored = (await queue.getJob(job.id))!;
    expect(stored.state).toBe('discarded');
    expect(stored.errors[0]).toMatchObject({ attempt: 1, message: 'Job timed out after 100 ms', name: 'JobTimeoutError' });
    await queue.stop();
  });

  it('a job whose perform ignores the signal still times out', async () => {
    let release!: () => void;
    const worker = new Worker({
      name: 'ignores-signal',
      args: Args,
      timeout: 50,
      backoff: () => 60_000,
      perform: () => new Promise<void>((resolve) => (release = resolve)),
    });
    const queue = await db.queue({ workers: [worker], queues: { default: 1 } });
    await queue.start();
    const retry = nextEvent(queue, 'job:retry');
    const job = await queue.insert(worker, { n: 1 });
    expect((await retry).error.name).toBe('JobTimeoutError');
    release();
    expect((await queue.getJob(job.id))!.state).toBe('retryable');
    await queue.stop();
  });

  it('a value that is not JSON fails the attempt instead of completing', async () => {
    const worker = new Worker({ name: 'bigint', args: Args, maxAttempts: 1, perform: async () => 10n });
    const queue = await db.queue({ workers: [worker], queues: { default: 1 } });
    await queue.start();
    const discarded = nextEvent(queue, 'job:discard');
    const job = await queue.insert(worker, { n: 1 });
    await discarded;
    expect((await queue.getJob(job.id))!.errors[0]!.message).toMatch(/not JSON/);
    await queue.stop();
  });

  it('a result jsonb cannot store fails that attempt alone, other acks in the batch land', async () => {
    const worker = new Worker({
      name: 'nul-result',
      args: Args,
      maxAttempts: 1,
      perform: async (job) => (job.args.n === 0 ? 'bad\u0000byte' : job.args.n),
    });
    const queue = await db.queue({ workers: [worker], queues: { default: 10 } });
    const jobs = await queue.insertMany(worker, [0, 1, 2, 3].map((n) => ({ n })));
    await queue.start();
    await waitFor(async () => (await db.count(`worker = 'nul-result' AND state IN ('completed','discarded')`)) === 4, 'all four settled');
    const [bad, ...good] = await Promise.all(jobs.map((j) => queue.getJob(j.id)));
    expect(bad!.state).toBe('discarded');
    expect(bad!.errors[0]!.message).toMatch(/could not be stored/);
    expect(good.map((j) => [j!.state, j!.result])).toEqual([
      ['completed', 1],
      ['completed', 2],
      ['completed', 3],
    ]);
    await queue.stop();
  });

  it('a listener that throws never breaks the queue', async () => {
    const worker = new Worker({ name: 'listened', args: Args, perform: async (job) => job.args.n });
    const queue = await db.queue({ workers: [worker], queues: { default: 1 } });
    queue.on('job:start', () => {
      throw new Error('listener bug');
    });
    queue.on('job:complete', async () => {
      throw new Error('async listener bug');
    });
    const seen: number[] = [];
    queue.on('job:complete', (e) => seen.push(e.job.result as number));
    await queue.start();
    await queue.insertMany(worker, [{ n: 1 }, { n: 2 }]);
    await waitFor(() => seen.length === 2, 'both completions');
    expect(seen.sort()).toEqual([1, 2]);
    await queue.stop();
  });

  it('runs jobs in priority order, then by due time', async () => {
    const order: number[] = [];
    const worker = new Worker({ name: 'ordered', args: Args, queue: 'ordered', perform: async (job) => order.push(job.args.n) });
    const queue = await db.queue({ workers: [worker], queues: { ordered: 1 } });
    await queue.insert(worker, { n: 4 }, { priority: 5 });
    await queue.insert(worker, { n: 1 }, { priority: -1 });
    await queue.insert(worker, { n: 2 }, { priority: 0 });
    await queue.insert(worker, { n: 3 }, { priority: 0 });
    await queue.start();
    await waitFor(() => order.length === 4, 'four jobs');
    expect(order).toEqual([1, 2, 3, 4]);
    await queue.stop();
  });

  it('a delayed job waits for its time by the database clock', async () => {
    const worker = new Worker({ name: 'delayed', args: Args, perform: async () => 'ran' });
    const queue = await db.queue({ workers: [worker], queues: { default: 1 } });
    await queue.start();
    const done = nextEvent(queue, 'job:complete');
    const job = await queue.insert(worker, { n: 1 }, { delay: 300 });
    expect(job.state).toBe('scheduled');
    const event = await done;
    expect(event.job.attemptedAt!.getTime() - job.insertedAt.getTime()).toBeGreaterThanOrEqual(300);
    await queue.stop();
  });
});

describe('outcomes the database cannot store', () => {
  it('an error message with a NUL byte still records the failure and retries', async () => {
    const worker = new Worker({
      name: 'nul-error',
      queue: 'nul',
      args: Args,
      maxAttempts: 2,
      backoff: () => 10,
      perform: async (job) => {
        if (job.attempt === 1) JSON.parse('\u0000garbage');
        return 'second time';
      },
    });
    const queue = await db.queue({ workers: [worker], queues: { nul: 1 } });
    await queue.start();
    const done = nextEvent(queue, 'job:complete');
    const job = await queue.insert(worker, { n: 1 });
    await done;
    const stored = (await queue.getJob(job.id))!;
    expect(stored).toMatchObject({ state: 'completed', attempt: 2, result: 'second time' });
    expect(stored.errors).toHaveLength(1);
    expect(stored.errors[0]!.message).not.toContain('\u0000');
    await queue.stop();
  });
});
