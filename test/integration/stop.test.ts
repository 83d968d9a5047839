// Graceful stop: running jobs get the timeout to finish, then their signals abort with a
// ShutdownError and they are left retryable without using up an attempt; stop() is idempotent,
// closes what docket owns and nothing the host owns; and a real process stops on SIGTERM with
// its own handler.
import type pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { QueueStateError, ShutdownError, Worker } from '../../src/index.js';
import { createPgPool } from '../support/db.js';
import { spawnReporter } from '../support/child.js';
import { nextEvent, useSchema, waitFor } from '../support/queue.js';

const db = useSchema('stop');
const Args = z.object({ n: z.number() });

const hostPools: pg.Pool[] = [];
afterAll(async () => {
  await Promise.all(hostPools.filter((p) => !p.ended).map((p) => p.end()));
});

function hostPool(name: string): { pool: pg.Pool; app: string } {
  const app = `dkt-stop-${name}-${db.schema}`;
  const pool = createPgPool(db.url, app, { max: 4 });
  hostPools.push(pool);
  return { pool, app };
}

/** Backends of `app`: all of them, or only those whose last statement was LISTEN. */
async function backends(app: string, listenOnly = false): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND ($2::bool IS FALSE OR query ILIKE 'listen %')`,
    [app, listenOnly],
  );
  return rows[0]!.n;
}

describe('graceful stop', () => {
  it('waits for a running job that finishes within the timeout; it is stored completed', async () => {
    const { pool, app } = hostPool('a');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const order: string[] = [];
    const worker = new Worker({
      name: 'finishes-in-time',
      queue: 'stop-a',
      args: Args,
      perform: async (job) => {
        if (job.args.n !== 1) return 'should not have run';
        order.push('perform:start');
        await gate;
        order.push('perform:end');
        return 'finished';
      },
    });
    // Two slots: one stays free, so the queue could fetch more if stop() did not stop it.
    const queue = await db.queue({ connection: pool, workers: [worker], queues: { 'stop-a': 2 } });
    queue.on('job:complete', () => order.push('job:complete'));
    queue.on('queue:stop', ({ aborted }) => order.push(`queue:stop aborted=${aborted}`));
    await queue.start();
    await waitFor(async () => (await backends(app, true)) === 1, 'the LISTEN connection');
    const started = nextEvent(queue, 'job:start');
    const job = await queue.insert(worker, { n: 1 });
    await started;

    const stopping = queue.stop({ timeout: 30_000 }).then(() => order.push('stop resolved'));
    expect(queue.running).toBe(false);
    // A job inserted once stop() began is not fetched any more (the host pool still takes inserts).
    const later = await queue.insert(worker, { n: 2 });
    // stop() has closed its LISTEN connection, so it is now waiting for the running job.
    await waitFor(async () => (await backends(app, true)) === 0, 'the LISTEN connection to close');
    expect(order).toEqual(['perform:start']);

    release();
    await stopping;
    expect(order).toEqual(['perform:start', 'perform:end', 'job:complete', 'queue:stop aborted=0', 'stop resolved']);
    expect(await queue.getJob(job.id)).toMatchObject({ state: 'completed', attempt: 1, result: 'finished', errors: [] });
    expect(await queue.getJob(later.id)).toMatchObject({ state: 'available', attempt: 0 });
  });

  it('aborts a job still running at the timeout with a ShutdownError; it is left retryable, attempt refunded', async () => {
    const reasons: unknown[] = [];
    let blocking = true;
    const worker = new Worker({
      name: 'outlives-timeout',
      queue: 'stop-b',
      args: Args,
      maxAttempts: 1,
      perform: (job, { signal }) => {
        if (!blocking) return `attempt ${job.attempt}`;
        // Never settles on its own: only the abort ends it.
        return new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            reasons.push(signal.reason);
            reject(signal.reason);
          });
        });
      },
    });
    const queue = await db.queue({ workers: [worker], queues: { 'stop-b': 1 } });
    const stops: number[] = [];
    const retries: { delay: number; error: string; attempt: number }[] = [];
    queue.on('queue:stop', ({ aborted }) => stops.push(aborted));
    queue.on('job:retry', ({ delay, error, job }) => retries.push({ delay, error: error.name!, attempt: job.attempt }));
    await queue.start();
    const started = nextEvent(queue, 'job:start');
    const job = await queue.insert(worker, { n: 1 });
    expect((await started).job.attempt).toBe(1);

    await queue.stop({ timeout: 100 });
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toBeInstanceOf(ShutdownError);
    expect(stops).toEqual([1]);
    expect(retries).toEqual([{ delay: 0, error: 'ShutdownError', attempt: 0 }]);
    const stored = (await queue.getJob(job.id))!;
    expect(stored).toMatchObject({ state: 'retryable', attempt: 0, maxAttempts: 1, result: null, completedAt: null });
    expect(stored.errors).toHaveLength(1);
    expect(stored.errors[0]).toMatchObject({
      attempt: 1,
      name: 'ShutdownError',
      message: 'The queue stopped before the job finished',
    });
    // Due again at once (delay 0), by the database clock: the same now() the error was stamped with.
    expect(stored.scheduledAt.getTime()).toBe(Date.parse(stored.errors[0]!.at));

    // The attempt did not count: with maxAttempts 1, the next node still runs it (as attempt 1).
    blocking = false;
    const next = await db.queue({ workers: [worker], queues: { 'stop-b': 1 } });
    const completed = nextEvent(next, 'job:complete', ({ job: j }) => j.id === job.id);
    await next.start();
    expect((await completed).job.result).toBe('attempt 1');
    expect(await next.getJob(job.id)).toMatchObject({ state: 'completed', attempt: 1 });
    await next.stop();
  });

  it('does not wait for a perform that ignores its signal, and ignores its late result', async () => {
    let finish!: (value: string) => void;
    let performEnded = false;
    const worker = new Worker({
      name: 'ignores-shutdown',
      queue: 'stop-ignore',
      args: Args,
      perform: () =>
        new Promise<string>((resolve) => (finish = resolve)).finally(() => {
          performEnded = true;
        }),
    });
    const queue = await db.queue({ workers: [worker], queues: { 'stop-ignore': 1 } });
    const stopped = nextEvent(queue, 'queue:stop');
    const completions: unknown[] = [];
    queue.on('job:complete', (e) => completions.push(e));
    await queue.start();
    const started = nextEvent(queue, 'job:start');
    const job = await queue.insert(worker, { n: 1 });
    await started;
    await queue.stop({ timeout: 50 });
    expect((await stopped).aborted).toBe(1);
    expect(performEnded).toBe(false);
    finish('too late');
    await waitFor(() => performEnded, 'the ignored perform to end');
    // Give the late settlement every chance to (wrongly) reach the database: one more round trip.
    await db.pool.query('SELECT 1');
    expect(await queue.getJob(job.id)).toMatchObject({ state: 'retryable', attempt: 0, result: null });
    expect(completions).toEqual([]);
  });

  it('stop() is idempotent; a pool docket owns is closed, a host pool is left open', async () => {
    const worker = new Worker({ name: 'stop-c', queue: 'stop-c', args: Args, perform: async () => 'ok' });

    // Owned: a connection string (with an application_name, to find its connections).
    const ownedApp = `dkt-stop-owned-${db.schema}`;
    const ownedUrl = new URL(db.url);
    ownedUrl.searchParams.set('application_name', ownedApp);
    const owned = await db.queue({ connection: ownedUrl.toString(), workers: [worker], queues: { 'stop-c': 1 } });
    const ownedStops: number[] = [];
    owned.on('queue:stop', ({ aborted }) => ownedStops.push(aborted));
    await owned.start();
    const done = nextEvent(owned, 'job:complete');
    await owned.insert(worker, { n: 1 });
    await done;
    await waitFor(async () => (await backends(ownedApp, true)) === 1, 'the owned LISTEN connection');
    expect(await backends(ownedApp)).toBeGreaterThan(1);

    const first = owned.stop();
    const second = owned.stop({ timeout: 1 });
    expect(second).toBe(first);
    await first;
    expect(owned.stop()).toBe(first);
    expect(ownedStops).toEqual([0]);
    expect(owned.running).toBe(false);
    await expect(owned.insert(worker, { n: 2 })).rejects.toBeInstanceOf(QueueStateError);
    await expect(owned.insertMany(worker, [{ n: 3 }])).rejects.toBeInstanceOf(QueueStateError);
    await expect(owned.getJob('1')).rejects.toBeInstanceOf(QueueStateError);
    await expect(owned.start()).rejects.toBeInstanceOf(QueueStateError);
    // Everything docket opened (its pool and its LISTEN client) is closed.
    await waitFor(async () => (await backends(ownedApp)) === 0, 'the owned connections to close');
    expect(await db.count(`queue = 'stop-c'`)).toBe(1);

    // Host pool: docket never ends it; inserts keep working after stop.
    const { pool } = hostPool('c');
    const hosted = await db.queue({ connection: pool, workers: [worker], queues: { 'stop-c': 1 } });
    await hosted.start();
    const p = hosted.stop();
    expect(hosted.stop()).toBe(p);
    await p;
    expect(pool.ended).toBe(false);
    expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    const job = await hosted.insert(worker, { n: 4 });
    expect(job.state).toBe('available');
    expect(await hosted.getJob(job.id)).toMatchObject({ state: 'available' });
    await expect(hosted.start()).rejects.toBeInstanceOf(QueueStateError);
  });

  it('a real process stops on SIGTERM with its own handler; the running job is left retryable', async () => {
    // The parent only inserts (no queues of its own): the child process runs the job.
    const worker = new Worker({ name: 'stop-child', queue: 'stop-child', args: z.object({ label: z.string() }), perform: () => 'unused' });
    const queue = await db.queue({ workers: [worker], queues: {} });
    const job = await queue.insert(worker, { label: 'long' });

    const { child, events, stderr, exited } = spawnReporter('test/fixtures/stop-child.ts', { DATABASE_URL: db.url, DOCKET_SCHEMA: db.schema });
    try {
      await waitFor(
        () => events.some((e) => e.event === 'started') || child.exitCode !== null,
        'the child to start the job',
        30_000,
      );
      expect(events.find((e) => e.event === 'started'), stderr()).toMatchObject({ id: job.id, attempt: 1 });
      const ready = events.find((e) => e.event === 'ready')!;
      expect(ready).toMatchObject({ sigtermListeners: 0, sigintListeners: 0 });
      expect(await queue.getJob(job.id)).toMatchObject({ state: 'executing', attempt: 1, attemptedBy: ready.nodeId });

      child.kill('SIGTERM');
      expect(await exited, stderr()).toEqual({ code: 0, signal: null });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }

    expect(events.map((e) => e.event)).toEqual(['ready', 'started', 'aborted', 'stopped']);
    expect(events.find((e) => e.event === 'aborted')).toMatchObject({ id: job.id, reason: 'ShutdownError', code: 'DOCKET_SHUTDOWN' });
    expect(events.find((e) => e.event === 'stopped')).toMatchObject({ aborted: 1 });
    const stored = (await queue.getJob(job.id))!;
    expect(stored).toMatchObject({ state: 'retryable', attempt: 0, result: null });
    expect(stored.errors).toEqual([
      expect.objectContaining({ attempt: 1, name: 'ShutdownError', message: 'The queue stopped before the job finished' }),
    ]);
  });
});
