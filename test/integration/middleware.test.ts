// Job meta and middleware: `meta` is stored with every job and read back everywhere a job is
// (insert, getJob, the running job, the history); bad meta is refused before anything is
// written; insert middleware adds to meta before the write and can stop it; perform middleware
// runs around each attempt, sees how it ended, and fails it when it throws; a plugin's
// middleware is collected by the Queue.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, Plugin, Worker, WorkerResults } from '../../src/index.js';
import type { AttemptOutcome, Job, JobMiddleware, PluginContext } from '../../src/index.js';
import { nextEvent, useSchema, waitFor } from '../support/queue.js';

const db = useSchema('middleware');
const Args = z.object({ mode: z.enum(['ok', 'throw', 'snooze', 'discard']) });

function makeWorker(name: string, seen: Job[] = []): Worker<typeof Args> {
  return new Worker({
    name,
    queue: name,
    args: Args,
    maxAttempts: 2,
    perform: async (job) => {
      seen.push(job);
      if (job.args.mode === 'throw') throw new Error('boom');
      if (job.args.mode === 'snooze') return job.attempt === 1 && seen.filter((j) => j.id === job.id).length === 1 ? WorkerResults.snooze(10) : 'ok';
      if (job.args.mode === 'discard') return WorkerResults.discard('not wanted');
      return 'done';
    },
  });
}

describe('job meta', () => {
  it('is stored with the job and read back on insert, getJob, the running job and the history', async () => {
    const seen: Job[] = [];
    const w = makeWorker('meta_rt', seen);
    const queue = await db.queue({ workers: [w], queues: { meta_rt: 2 }, pollInterval: 50 });
    const meta = { requestId: 'r-1', nested: { n: 1, list: [true, null] } };
    const job = await queue.insert(w, { mode: 'ok' }, { meta });
    expect(job.meta).toEqual(meta);
    expect((await queue.getJob(job.id))!.meta).toEqual(meta);
    const [u] = await queue.insertMany(w, [{ mode: 'ok' }], { meta: { unique: true }, unique: {} });
    expect(u!.job.meta).toEqual({ unique: true });
    expect((await queue.getJob(u!.job.id))!.meta).toEqual({ unique: true });
    const plain = await queue.insert(w, { mode: 'ok' });
    expect(plain.meta).toEqual({});

    await queue.start();
    await waitFor(() => seen.length === 3, 'three jobs to run');
    expect(seen.find((j) => j.id === job.id)!.meta).toEqual(meta);
    expect(seen.find((j) => j.id === plain.id)!.meta).toEqual({});
    await waitFor(async () => (await queue.getJob(job.id))?.state === 'completed', 'the job to complete');
    expect((await queue.getJob(job.id))!.meta).toEqual(meta);
  });

  it('refuses meta that is not a small JSON object, writing nothing', async () => {
    const w = makeWorker('meta_bad');
    const queue = await db.queue({ workers: [w], queues: {} });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const bad: [unknown, RegExp][] = [
      [[1, 2], /meta must be a plain object/],
      [null, /meta must be a plain object/],
      ['text', /meta must be a plain object/],
      [circular, /meta cannot be stored as JSON/],
      [{ s: 'nul\u0000byte' }, /NUL character or a lone surrogate/],
      [{ s: '\ud800' }, /NUL character or a lone surrogate/],
      [{ big: 'x'.repeat(70_000) }, /over the limit of 65536/],
    ];
    for (const [meta, message] of bad) {
      const attempt = queue.insert(w, { mode: 'ok' }, { meta: meta as Record<string, unknown> });
      await expect(attempt).rejects.toBeInstanceOf(ConfigError);
      await expect(attempt).rejects.toThrow(message);
    }
    expect(await db.count(`queue = 'meta_bad'`)).toBe(0);
  });
});

describe('middleware', () => {
  it('insert middleware adds meta before the write, in order, and can stop the write', async () => {
    const w = makeWorker('mw_insert');
    const order: string[] = [];
    const outer: JobMiddleware = {
      name: 'outer',
      insert: async (call, next) => {
        order.push(`outer:${call.worker}:${call.queue}:${call.count}:${call.inTransaction}`);
        call.meta.traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
        const jobs = await next();
        order.push(`outer:after:${jobs.length}`);
        return jobs;
      },
    };
    const inner: JobMiddleware = {
      insert: async (call, next) => {
        order.push(`inner:${String(call.meta.traceparent !== undefined)}`);
        call.meta.by = 'inner';
        return next();
      },
    };
    const queue = await db.queue({ workers: [w], queues: {}, middleware: [outer, inner] });
    const jobs = await queue.insertMany(w, [{ mode: 'ok' }, { mode: 'ok' }], { meta: { user: 'u1' } });
    expect(order).toEqual(['outer:mw_insert:mw_insert:2:false', 'inner:true', 'outer:after:2']);
    const expected = { user: 'u1', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', by: 'inner' };
    for (const job of jobs) {
      expect(job.meta).toEqual(expected);
      expect((await queue.getJob(job.id))!.meta).toEqual(expected);
    }

    // Inside the host's transaction, the call says so.
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await queue.insert(w, { mode: 'ok' }, { tx: client });
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect(order).toContain('outer:mw_insert:mw_insert:1:true');

    // Middleware that throws, or returns without next(), or adds meta that cannot be stored: nothing written.
    const before = await db.count(`queue = 'mw_insert'`);
    const throwing = await db.queue({ workers: [w], queues: {}, middleware: [{ insert: async () => Promise.reject(new Error('no inserts today')) }] });
    await expect(throwing.insert(w, { mode: 'ok' })).rejects.toThrow('no inserts today');
    const skipping = await db.queue({ workers: [w], queues: {}, middleware: [{ insert: async () => [] }] });
    await expect(skipping.insert(w, { mode: 'ok' })).rejects.toThrow(/returned without calling next\(\), so nothing was written/);
    const spoiling = await db.queue({
      workers: [w],
      queues: {},
      middleware: [{ insert: (call, next) => ((call.meta.bad = 'nul\u0000'), next()) }],
    });
    await expect(spoiling.insert(w, { mode: 'ok' })).rejects.toThrow(/meta after middleware.*NUL/);
    expect(await db.count(`queue = 'mw_insert'`)).toBe(before);
  });

  it('perform middleware wraps each attempt and sees its outcome; one that throws fails the attempt', async () => {
    const seen: Job[] = [];
    const w = makeWorker('mw_perform', seen);
    const outcomes: { id: string; attempt: number; outcome: AttemptOutcome }[] = [];
    const record: JobMiddleware = {
      perform: async (job, next) => {
        const outcome = await next();
        outcomes.push({ id: job.id, attempt: job.attempt, outcome });
        return outcome;
      },
    };
    const queue = await db.queue({ workers: [w], queues: { mw_perform: 4 }, pollInterval: 50, middleware: [record] });
    await queue.start();
    const ok = await queue.insert(w, { mode: 'ok' });
    const thrown = await queue.insert(w, { mode: 'throw' });
    const discarded = await queue.insert(w, { mode: 'discard' });
    const snoozed = await queue.insert(w, { mode: 'snooze' });
    await waitFor(
      async () => (await Promise.all([ok, thrown, discarded, snoozed].map(async (j) => (await queue.getJob(j.id))!.state))).every((s) => ['completed', 'discarded'].includes(s)),
      'every job to end',
    );
    const of = (id: string): AttemptOutcome[] => outcomes.filter((o) => o.id === id).map((o) => o.outcome);
    expect(of(ok.id)).toEqual([{ kind: 'complete' }]);
    expect(of(thrown.id).map((o) => o.kind)).toEqual(['error', 'error']);
    expect((of(thrown.id)[0] as { error: Error }).error.message).toBe('boom');
    expect(of(discarded.id)).toEqual([{ kind: 'discard', reason: 'not wanted' }]);
    expect(of(snoozed.id)).toEqual([{ kind: 'snooze', delay: 10 }, { kind: 'complete' }]);

    // A perform middleware that throws after the worker ran fails that attempt with its error.
    const failing = await db.queue({
      workers: [w],
      queues: { mw_perform: 1 },
      pollInterval: 50,
      middleware: [{ perform: async (_job, next) => (await next(), Promise.reject(new Error('middleware broke'))) }],
    });
    await queue.stop();
    await failing.start();
    const errored = nextEvent(failing, 'job:error');
    const victim = await failing.insert(w, { mode: 'ok' });
    const { job, error } = await errored;
    expect(job.id).toBe(victim.id);
    expect(error.message).toBe('middleware broke');
  });

  it('next() resolves when an attempt times out, though the worker has not returned', async () => {
    let finish: (() => void) | undefined;
    const slow = new Worker({
      name: 'mw_slow',
      queue: 'mw_slow',
      args: z.object({}),
      timeout: 100,
      maxAttempts: 1,
      perform: () => new Promise<string>((resolve) => (finish = () => resolve('late'))),
    });
    const seen: AttemptOutcome[] = [];
    const queue = await db.queue({
      workers: [slow],
      queues: { mw_slow: 1 },
      pollInterval: 50,
      middleware: [{ perform: async (_job, next) => { const o = await next(); seen.push(o); return o; } }],
    });
    await queue.start();
    const discarded = nextEvent(queue, 'job:discard');
    await queue.insert(slow, {});
    await discarded;
    await waitFor(() => seen.length === 1, 'the middleware to see the timeout');
    expect(seen[0]!.kind).toBe('error');
    expect((seen[0] as { error: Error }).error.name).toBe('JobTimeoutError');
    expect(finish).toBeDefined(); // the worker is still running: it never returned
    finish!();
  });

  it("a plugin's middleware is collected by the Queue and runs on insert and perform", async () => {
    const w = makeWorker('mw_plugin');
    const calls: string[] = [];
    class Tracing extends Plugin {
      readonly name = 'tracing';
      override readonly scope = 'every-node' as const;
      override readonly middleware: JobMiddleware = {
        insert: (call, next) => {
          calls.push('insert');
          call.meta.fromPlugin = true;
          return next();
        },
        perform: async (job, next) => {
          calls.push(`perform:${String(job.meta.fromPlugin)}`);
          return next();
        },
      };
      constructor() {
        super({ interval: 60_000 });
      }
      protected async tick(_ctx: PluginContext): Promise<void> {}
    }
    const queue = await db.queue({ workers: [w], queues: { mw_plugin: 1 }, pollInterval: 50, plugins: [new Tracing()] });
    await queue.start();
    const done = nextEvent(queue, 'job:complete');
    const job = await queue.insert(w, { mode: 'ok' });
    expect(job.meta).toEqual({ fromPlugin: true });
    await done;
    expect(calls).toEqual(['insert', 'perform:true']);
  });

  it('refuses middleware that is not an object of functions', async () => {
    const w = makeWorker('mw_cfg');
    await expect(db.queue({ workers: [w], middleware: [{ insert: 'nope' } as unknown as JobMiddleware] })).rejects.toThrow(
      /middleware"\[0\] must be an object with optional insert and perform functions/,
    );
  });
});
