// Workers with a `thread` option: perform runs in a worker_threads thread of the Queue's pool.
// It must not block the event loop, must end exactly as in-process (values, WorkerResults,
// errors), a timeout must terminate its thread (and the pool carry on), a crashed thread must
// fail only its attempt, and stop() must terminate every thread.
import { Worker as NodeWorker, BroadcastChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { ConfigError, Queue, Worker } from '../../src/index.js';
import { crash, echo, forever, spin } from '../fixtures/thread-workers.js';
import { nextEvent, useSchema, waitFor } from '../support/queue.js';

const db = useSchema('threads');

/** The threads started from here on, collected from the run messages posted to them. */
function watchThreads(): () => NodeWorker[] {
  const post = vi.spyOn(NodeWorker.prototype, 'postMessage');
  return () => [...new Set(post.mock.contexts as NodeWorker[])];
}

afterEach(() => {
  vi.restoreAllMocks();
});

/** A broadcast channel to talk to spinning jobs: resolves `spinning` when one says it spins. */
function spinChannel(name: string): { channel: BroadcastChannel; spinning: Promise<{ jobId: string; isMainThread: boolean }> } {
  const channel = new BroadcastChannel(name);
  const spinning = new Promise<{ jobId: string; isMainThread: boolean }>((resolve) => {
    channel.onmessage = (event) => {
      const data = (event as MessageEvent).data as { type: string; jobId: string; isMainThread: boolean };
      if (data.type === 'spinning') resolve(data);
    };
  });
  return { channel, spinning };
}

describe('thread workers', () => {
  it('a CPU-bound job in a thread leaves the event loop free for timers and other jobs', async () => {
    const inProcess = new Worker({ name: 'in-process', args: z.object({}), perform: () => 'done here' });
    const queue = await db.queue({ workers: [spin, inProcess], queues: { threads: 1, default: 1 }, threads: { size: 1 } });
    const { channel, spinning } = spinChannel(`${db.schema}-nonblocking`);
    const order: string[] = [];
    await queue.start();
    const spinDone = nextEvent(queue, 'job:complete', (e) => e.job.worker === 'thread-spin');
    const busy = await queue.insert(spin, { channel: `${db.schema}-nonblocking` });
    const said = await spinning;
    expect(said).toMatchObject({ jobId: busy.id, isMainThread: false });
    order.push('spinning');

    // While it spins: a timer keeps ticking and an in-process job runs to completion.
    let ticks = 0;
    const interval = setInterval(() => ticks++, 5);
    const otherDone = nextEvent(queue, 'job:complete', (e) => e.job.worker === 'in-process');
    await queue.insert(inProcess, {});
    expect((await otherDone).job.result).toBe('done here');
    order.push('in-process job completed');
    await waitFor(() => ticks >= 3, 'three timer ticks');
    clearInterval(interval);
    order.push('timer ticked');
    expect((await queue.getJob(busy.id))!.state).toBe('executing');

    channel.postMessage('release');
    const done = await spinDone;
    order.push('spin completed');
    channel.close();
    expect(done.job.result).toEqual({ released: true, isMainThread: false });
    expect(order).toEqual(['spinning', 'in-process job completed', 'timer ticked', 'spin completed']);
    await queue.stop();
  });

  it('sends args in and the result out, and WorkerResults end the job as in-process', async () => {
    const queue = await db.queue({ workers: [echo], queues: { threads: 4 }, threads: { size: 2 } });
    await queue.start();
    const settled = (id: string) =>
      Promise.race([
        nextEvent(queue, 'job:complete', (e) => e.job.id === id),
        nextEvent(queue, 'job:snooze', (e) => e.job.id === id),
        nextEvent(queue, 'job:cancel', (e) => e.job.id === id),
        nextEvent(queue, 'job:discard', (e) => e.job.id === id),
        nextEvent(queue, 'job:retry', (e) => e.job.id === id),
      ]);
    const run = async (action: z.input<typeof echo.args>['action'], n = 0) => {
      const job = await queue.insert(echo, { action, n });
      const event = settled(job.id);
      await event;
      return (await queue.getJob(job.id))!;
    };

    const doubled = await run('double', 21);
    expect(doubled).toMatchObject({ state: 'completed', result: { doubled: 42, isMainThread: false } });
    expect((doubled.result as { threadId: number }).threadId).toBeGreaterThan(0);
    expect(await run('ok')).toMatchObject({ state: 'completed', result: { explicit: true } });
    // JSON as in-process: toJSON applies, a bigint is not JSON.
    expect(await run('date')).toMatchObject({ state: 'completed', result: { at: '1970-01-01T00:00:00.000Z' } });
    const bigint = await run('bigint');
    expect(bigint.state).toBe('retryable');
    expect(bigint.errors[0]!.message).toMatch(/perform returned a value that is not JSON/);

    const snoozed = await run('snooze');
    expect(snoozed).toMatchObject({ state: 'scheduled', attempt: 0 });
    expect(snoozed.scheduledAt.getTime() - snoozed.attemptedAt!.getTime()).toBeGreaterThanOrEqual(59_000);
    expect(await run('cancel')).toMatchObject({ state: 'cancelled', errors: [{ message: 'not wanted' }] });
    expect(await run('discard')).toMatchObject({ state: 'discarded', errors: [{ message: 'bad data' }] });
    const delayed = await run('error-delay');
    expect(delayed).toMatchObject({ state: 'retryable', errors: [{ message: 'upstream busy', name: 'Error' }] });
    expect(delayed.scheduledAt.getTime() - delayed.attemptedAt!.getTime()).toBeGreaterThanOrEqual(44_000);

    // The job's methods work from the thread: progress runs on the main thread, and resolves.
    const progress = nextEvent(queue, 'job:progress');
    const progressed = await run('progress');
    expect(progressed).toMatchObject({ state: 'completed', result: 'progressed', lastProgress: { percent: 50, data: { half: true } } });
    expect((await progress).progress).toMatchObject({ percent: 50, data: { half: true } });
    await queue.stop();
  });

  it('stores an error thrown in the thread with its message, name, stack and properties', async () => {
    const queue = await db.queue({ workers: [echo], queues: { threads: 1 }, threads: { size: 1 } });
    const errors: { message: string; name?: string }[] = [];
    queue.on('job:error', (e) => errors.push(e.error));
    await queue.start();
    const retry = nextEvent(queue, 'job:retry');
    const job = await queue.insert(echo, { action: 'throw', n: 7 });
    // The backoff ran in the main thread on the rebuilt error, and saw its `code`.
    expect((await retry).delay).toBe(12_345);
    const stored = (await queue.getJob(job.id))!;
    expect(stored.state).toBe('retryable');
    expect(stored.errors[0]).toMatchObject({ attempt: 1, message: 'quota exceeded for 7', name: 'QuotaError' });
    expect(stored.errors[0]!.stack).toMatch(/^QuotaError: quota exceeded for 7\n/);
    expect(stored.errors[0]!.stack).toContain('thread-workers.ts');
    expect(errors).toMatchObject([{ message: 'quota exceeded for 7', name: 'QuotaError' }]);

    const stringRetry = nextEvent(queue, 'job:retry');
    const thrownString = await queue.insert(echo, { action: 'throw-string' });
    expect((await stringRetry).delay).toBe(54_321);
    expect((await queue.getJob(thrownString.id))!.errors[0]!.message).toBe('a plain string');
    await queue.stop();
  });

  it('a timeout terminates the thread, the attempt fails with JobTimeoutError, and the pool carries on', async () => {
    const threads = watchThreads();
    const queue = await db.queue({ workers: [forever, echo], queues: { threads: 1 }, threads: { size: 1 } });
    await queue.start();
    const retry = nextEvent(queue, 'job:retry');
    const job = await queue.insert(forever, {});
    const event = await retry;
    expect(event.job.id).toBe(job.id);
    expect(event.error).toMatchObject({ name: 'JobTimeoutError', message: 'Job timed out after 200 ms' });
    const stored = (await queue.getJob(job.id))!;
    expect(stored.state).toBe('retryable');
    expect(stored.errors).toMatchObject([{ attempt: 1, name: 'JobTimeoutError' }]);
    // Its thread is gone (threadId -1 once a thread stopped running)...
    const [spinner] = threads();
    await waitFor(() => spinner!.threadId === -1, 'the timed-out thread to exit');

    // ...and the pool of one starts a fresh thread for the next job.
    const done = nextEvent(queue, 'job:complete');
    await queue.insert(echo, { action: 'double', n: 2 });
    expect((await done).job.result).toMatchObject({ doubled: 4, isMainThread: false });
    expect(threads()).toHaveLength(2);
    await queue.stop();
  });

  it('cancelling a job that runs in a thread terminates its thread', async () => {
    const threads = watchThreads();
    const queue = await db.queue({ workers: [spin], queues: { threads: 1 }, threads: { size: 1 } });
    const name = `${db.schema}-cancel`;
    const { channel, spinning } = spinChannel(name);
    await queue.start();
    const busy = await queue.insert(spin, { channel: name });
    await spinning;
    expect((await queue.cancel(busy.id, 'not needed'))!.state).toBe('cancelled');
    // Only terminating it ends this thread early: the job would spin on for 15 s, then idle.
    const [thread] = threads();
    await waitFor(() => thread!.threadId === -1, 'the cancelled job’s thread to exit');
    channel.close();
    expect(await queue.getJob(busy.id)).toMatchObject({ state: 'cancelled', errors: [{ message: 'not needed' }] });
    await queue.stop();
  });

  it('a thread that crashes or exits fails only the attempt it ran', async () => {
    const queue = await db.queue({ workers: [crash, echo], queues: { threads: 1 }, threads: { size: 1 } });
    await queue.start();
    const uncaught = nextEvent(queue, 'job:discard');
    const a = await queue.insert(crash, { how: 'uncaught' });
    expect((await uncaught).job.id).toBe(a.id);
    const storedA = (await queue.getJob(a.id))!;
    expect(storedA.errors[0]!.message).toBe(`The thread running job ${a.id} (worker "thread-crash") crashed: boom in thread`);
    expect(storedA.errors[0]!.stack).toContain('Caused by: Error: boom in thread');

    const exited = nextEvent(queue, 'job:discard');
    const b = await queue.insert(crash, { how: 'exit' });
    expect((await exited).job.id).toBe(b.id);
    expect((await queue.getJob(b.id))!.errors[0]!.message).toBe(
      `The thread running job ${b.id} (worker "thread-crash") exited (code 3) before perform settled`,
    );

    const done = nextEvent(queue, 'job:complete');
    await queue.insert(echo, { action: 'double', n: 5 });
    expect((await done).job.result).toMatchObject({ doubled: 10 });
    await queue.stop();
  });

  it('fails the attempt clearly when the module does not export the worker', async () => {
    const stray = new Worker({
      name: 'not-exported',
      queue: 'threads',
      args: z.object({}),
      maxAttempts: 1,
      thread: { module: new URL('../fixtures/thread-workers.ts', import.meta.url) },
      perform: () => 'never here',
    });
    const queue = await db.queue({ workers: [stray], queues: { threads: 1 }, threads: { size: 1 } });
    await queue.start();
    const discarded = nextEvent(queue, 'job:discard');
    const job = await queue.insert(stray, {});
    await discarded;
    expect((await queue.getJob(job.id))!.errors[0]!.message).toMatch(/thread-workers\.ts exports no Worker named "not-exported"/);
    await queue.stop();
  });

  it('stop() terminates every thread: idle ones, and busy ones once the stop timeout passes', async () => {
    const threads = watchThreads();
    const queue = await db.queue({ workers: [spin, echo], queues: { threads: 2 }, threads: { size: 2 } });
    const name = `${db.schema}-stop`;
    const { channel, spinning } = spinChannel(name);
    await queue.start();
    const busy = await queue.insert(spin, { channel: name });
    await spinning;
    const done = nextEvent(queue, 'job:complete');
    await queue.insert(echo, { action: 'double', n: 1 });
    await done; // in a second thread, idle now
    expect(threads()).toHaveLength(2);
    expect(threads().every((t) => t.threadId > 0)).toBe(true);

    const stopped = nextEvent(queue, 'queue:stop');
    await queue.stop({ timeout: 50 });
    channel.close();
    expect((await stopped).aborted).toBe(1);
    expect(threads().map((t) => t.threadId)).toEqual([-1, -1]);
    const stored = (await db.pool.query<{ state: string; attempt: number }>(`SELECT state, attempt FROM "${db.schema}".jobs WHERE id = $1`, [busy.id])).rows[0]!;
    expect(stored).toEqual({ state: 'retryable', attempt: 0 });
  });

  it('validates the thread option and the pool size', () => {
    const base = { name: 'bad-thread', args: z.object({}), perform: () => null };
    expect(() => new Worker({ ...base, thread: { module: 'relative/module.js' } })).toThrow(ConfigError);
    expect(() => new Worker({ ...base, thread: { module: 'relative/module.js' } })).toThrow(/thread.module must be the file URL or absolute path/);
    expect(() => new Worker({ ...base, thread: { module: new URL('https://example.org/workers.js') } })).toThrow(/thread.module must be/);
    expect(() => new Worker({ ...base, thread: undefined as never })).not.toThrow();
    expect(() => new Worker({ ...base, thread: {} as never })).toThrow(/thread.module must be/);
    const fixture = new URL('../fixtures/thread-workers.ts', import.meta.url);
    expect(new Worker({ ...base, thread: { module: fixture } }).thread).toEqual({ module: fixture.href });
    expect(new Worker({ ...base, thread: { module: fixture.pathname } }).thread).toEqual({ module: fixture.pathname });
    // A module that is not there is caught when the Queue is made, not at the first attempt.
    const missing = new Worker({ ...base, thread: { module: '/no/such/dir/workers.js' } });
    expect(() => new Queue({ connection: db.url, workers: [missing] })).toThrow(
      /Worker "bad-thread": thread.module \/no\/such\/dir\/workers.js does not exist/,
    );
    expect(() => new Queue({ connection: db.url, threads: { size: 0 } })).toThrow(/"threads.size" must be an integer between 1 and 1024/);
    expect(() => new Queue({ connection: db.url, threads: 4 as never })).toThrow(ConfigError);
  });
});
