// Job control across nodes: four Queue instances on separate connections (three pg pools, one
// postgres.js) and a child process. A job cancelled, discarded or deleted on one node is aborted
// on the node running it (by NOTIFY, or by the reconcile pass when the notice was missed), ends
// in that state and is never retried; retry/discard/delete and their bulk forms change exactly
// the jobs they name; listJobs pages by id; queueStats and pause/scale agree across nodes.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, JobCancelledError, Worker } from '../../src/index.js';
import type { Job, Queue } from '../../src/index.js';
import { createPgPool, createPostgresJs } from '../support/db.js';
import { finishBySql } from '../support/storage.js';
import { useSchema, waitFor } from '../support/queue.js';

const db = useSchema('control');
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const Args = z.object({ label: z.string() });
const HOUR = 3_600_000;

const starts: { id: string; attempt: number; node: string }[] = [];
const aborts = new Map<string, unknown>();
const releases = new Map<string, () => void>();

// label 'block': runs until released or aborted; 'fail-first': fails its first attempt.
const worker = (name: string, queue = name): Worker =>
  new Worker({ name, queue, args: Args, maxAttempts: 5, perform: (job, { signal }) => {
    if (job.args.label === 'fail-first' && job.attempt === 1) throw new Error('first attempt fails');
    if (job.args.label !== 'block') return `${job.args.label} ${job.attempt}`;
    return new Promise((resolve, reject) => {
      releases.set(job.id, () => resolve('released'));
      signal.addEventListener('abort', () => (aborts.set(job.id, signal.reason), reject(signal.reason)), { once: true });
    });
  } });
const w = {
  ...{ a: worker('ctl-a'), a2: worker('ctl-a2'), b: worker('ctl-b'), c: worker('ctl-c'), d: worker('ctl-d') },
  ...{ idle: worker('ctl-idle'), idle2: worker('ctl-idle-2', 'ctl-idle'), list: worker('ctl-list'), stats: worker('ctl-stats') },
  child: worker('cancel-child'), // run by the child process only
};
const workers = Object.values(w);

const pools: pg.Pool[] = [];
let pgjs: postgres.Sql;
const nodes = {} as Record<'a' | 'b' | 'c' | 'd', Queue>;
const app = (n: string): string => `dkt-ctl-${n}-${db.schema}`;

async function listening(appName: string): Promise<boolean> {
  const sql = `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'listen %'`;
  return (await db.pool.query<{ n: number }>(sql, [appName])).rows[0]!.n > 0;
}

beforeAll(async () => {
  pgjs = createPostgresJs(db.url, app('c'), { max: 5 });
  const pgPool = (n: string): pg.Pool => {
    const pool = createPgPool(db.url, app(n), { max: 5 });
    pools.push(pool);
    return pool;
  };
  // Only D reconciles often: A, B and C learn of cancellations and controls from NOTIFY alone,
  // and of new (or retried) jobs too: none of them polls within the test.
  const spec = {
    a: { connection: pgPool('a'), queues: { 'ctl-a': 1, 'ctl-a2': 1 }, reconcileInterval: HOUR },
    b: { connection: pgPool('b'), queues: { 'ctl-b': 2 }, reconcileInterval: HOUR },
    c: { connection: pgjs, queues: { 'ctl-c': 1 }, reconcileInterval: HOUR },
    d: { connection: pgPool('d'), queues: { 'ctl-d': 1 }, reconcileInterval: 200 },
  };
  for (const [n, options] of Object.entries(spec) as [keyof typeof nodes, (typeof spec)['a']][]) {
    const node = await db.queue({ ...options, workers, nodeId: `node-${n}`, pollInterval: HOUR });
    node.on('job:start', ({ job }) => starts.push({ id: job.id, attempt: job.attempt, node: n }));
    await node.start();
    nodes[n] = node;
  }
  for (const n of Object.keys(spec)) await waitFor(() => listening(app(n)), `node ${n} to LISTEN`);
});

afterAll(async () => {
  await Promise.all(Object.values(nodes).map((q) => q.stop({ timeout: 1_000 })));
  await Promise.all(pools.map((p) => p.end()));
  await pgjs?.end({ timeout: 1 });
});

const startsOf = (id: string) => starts.filter((s) => s.id === id);

/** Inserts a blocking job of `wk` and waits until `node` runs it. */
async function running(wk: Worker, node: keyof typeof nodes): Promise<Job> {
  const job = await nodes.a.insert(wk, { label: 'block' });
  await waitFor(() => startsOf(job.id).length > 0, `job ${job.id} to start`);
  expect(startsOf(job.id)).toEqual([{ id: job.id, attempt: 1, node }]);
  return job;
}

/** Runs a quick job of `wk` to completion (so its node has a free slot and is fetching). */
async function completes(wk: Worker, label = 'quick'): Promise<Job> {
  const job = await nodes.a.insert(wk, { label });
  await waitFor(async () => (await nodes.a.getJob(job.id))?.state === 'completed', `${label} job ${job.id} to complete`, 10_000);
  return (await nodes.a.getJob(job.id))!;
}

async function states(ids: readonly string[]): Promise<string[]> {
  const sql = `SELECT state::text AS state FROM "${db.schema}".jobs WHERE id = ANY($1::bigint[]) ORDER BY id`;
  return (await db.pool.query<{ state: string }>(sql, [ids])).rows.map((r) => r.state);
}

describe('one job', () => {
  it('cancels, discards and deletes queued jobs at once; finished and missing jobs are left alone', async () => {
    const job = await nodes.a.insert(w.idle, { label: 'queued' });
    const cancelled = (await nodes.b.cancel(job.id, 'not needed'))!;
    expect(cancelled).toMatchObject({ id: job.id, state: 'cancelled', attempt: 0 });
    expect(cancelled.completedAt).toBeInstanceOf(Date);
    expect(cancelled.errors).toEqual([expect.objectContaining({ attempt: 0, name: 'Cancelled', message: 'not needed' })]);
    expect(await nodes.c.getJob(job.id)).toEqual(cancelled);
    expect(await nodes.c.cancel(job.id)).toEqual(cancelled);

    const scheduled = await nodes.a.insert(w.idle, { label: 'later' }, { delay: HOUR });
    expect(await nodes.c.discard(scheduled.id, 'poison')).toMatchObject({ state: 'discarded', errors: [{ name: 'Discarded', message: 'poison' }] });
    const done = await completes(w.b);
    expect(await nodes.c.cancel(done.id)).toEqual(done);
    expect(await nodes.b.cancel('999999999')).toBeNull();
    await expect(nodes.b.cancel('abc')).rejects.toBeInstanceOf(ConfigError);
    expect(await states([job.id, scheduled.id, done.id])).toEqual(['cancelled', 'discarded', 'completed']);

    const queued = await nodes.a.insert(w.idle, { label: 'del' });
    expect(await nodes.b.delete(queued.id)).toEqual(queued);
    expect(await nodes.b.delete(queued.id)).toBeNull();
    expect(await nodes.c.delete(done.id)).toEqual(done);
    expect(await states([queued.id, done.id])).toEqual([]);
  });

  it.each([
    { action: 'cancel', runner: 'a', by: 'b', state: 'cancelled', name: 'Cancelled' },
    { action: 'discard', runner: 'c', by: 'a', state: 'discarded', name: 'Discarded' },
    { action: 'delete', runner: 'b', by: 'c', state: 'deleted', name: '' },
  ] as const)('$action of a job executing on node $runner, from node $by: aborted there, never retried', async ({ action, runner, by, state, name }) => {
    const wk = w[runner];
    const job = await running(wk, runner);
    const result = action === 'delete' ? await nodes[by].delete(job.id) : await nodes[by][action](job.id, `${action} by ${by}`);
    expect(result).toMatchObject({ id: job.id, state: action === 'delete' ? 'executing' : state, attempt: 1, attemptedBy: `node-${runner}` });

    await waitFor(() => aborts.has(job.id), `the signal of job ${job.id} to abort on node ${runner}`, 5_000);
    const reason = aborts.get(job.id);
    expect(reason).toBeInstanceOf(JobCancelledError);
    expect(reason).toMatchObject({ jobId: job.id, state, code: 'DOCKET_JOB_CANCELLED' });

    // The slot is free again and the node moved on; the job did not run again.
    await completes(wk);
    expect(startsOf(job.id)).toHaveLength(1);
    if (action === 'delete') {
      expect(await nodes.a.getJob(job.id)).toBeNull();
      return;
    }
    const stored = (await nodes.a.getJob(job.id))!;
    expect(stored).toMatchObject({ state, attempt: 1, result: null });
    expect(stored.errors).toEqual([expect.objectContaining({ attempt: 1, name, message: `${action} by ${by}` })]);
  });

  it('a node that missed the notification aborts the job on its reconcile pass', async () => {
    const job = await running(w.d, 'd');
    // Plain SQL: no NOTIFY; only node D's reconcile (every 200 ms) can notice.
    expect(await finishBySql(db.pool, db.schema, 'cancelled', 'id = $1', [job.id])).toBe(1);
    await waitFor(() => aborts.has(job.id), 'the reconcile pass to abort the job', 5_000);
    expect(aborts.get(job.id)).toMatchObject({ jobId: job.id, state: 'cancelled' });
    expect(aborts.get(job.id)).toBeInstanceOf(JobCancelledError);
    await completes(w.d);
    expect(startsOf(job.id)).toHaveLength(1);
    expect(await nodes.a.getJob(job.id)).toMatchObject({ state: 'cancelled', attempt: 1, errors: [], result: null });
  });

  it('a job running in another process is aborted with JobCancelledError and ends cancelled', async () => {
    const childUrl = new URL(db.url);
    childUrl.searchParams.set('application_name', app('child'));
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/cancel-child.ts'], {
      cwd: repoRoot,
      env: { ...process.env, DATABASE_URL: childUrl.toString(), DOCKET_SCHEMA: db.schema },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const events: Record<string, unknown>[] = [];
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const parse = (line: string): Record<string, unknown> => (line.startsWith('{') ? JSON.parse(line) : { event: 'unparsed', line });
    createInterface({ input: child.stdout }).on('line', (line) => events.push(parse(line)));
    // 'close': after the last stdout line was read ('exit' can come first).
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const seen = (event: string, id?: string) => events.some((e) => e.event === event && (id === undefined || e.id === id));
    try {
      await waitFor(() => seen('ready') || child.exitCode !== null, 'the child to start', 30_000);
      await waitFor(() => listening(app('child')), 'the child to LISTEN');
      const job = await nodes.a.insert(w.child, { label: 'long' });
      await waitFor(() => seen('started', job.id) || child.exitCode !== null, 'the child to run the job', 20_000);
      expect(await nodes.a.getJob(job.id), stderr).toMatchObject({ state: 'executing', attempt: 1, attemptedBy: events[0]!.nodeId });

      expect(await nodes.b.cancel(job.id, 'stop that')).toMatchObject({ state: 'cancelled', attempt: 1 });
      await waitFor(() => seen('aborted', job.id), 'the child to see its signal abort', 5_000);
      // The child goes on working: it runs a later job, and never the cancelled one again.
      const marker = await nodes.a.insert(w.child, { label: 'marker' });
      await waitFor(() => seen('complete', marker.id), 'the child to complete the marker job');
      child.kill('SIGTERM');
      expect(await exited, stderr).toBe(0);

      expect(events.find((e) => e.event === 'aborted')).toEqual({ event: 'aborted', id: job.id, attempt: 1, cancelledError: true,
        name: 'JobCancelledError', code: 'DOCKET_JOB_CANCELLED', jobId: job.id, state: 'cancelled' }); // prettier-ignore
      expect(events.filter((e) => e.id === job.id).map((e) => e.event)).toEqual(['start', 'started', 'aborted']);
      expect(events.filter((e) => ['queue-error', 'retry', 'error'].includes(e.event as string))).toEqual([]);
      expect(events.at(-1)).toEqual({ event: 'stopped', aborted: 0 });
      const stored = (await nodes.a.getJob(job.id))!;
      expect(stored).toMatchObject({ state: 'cancelled', attempt: 1, maxAttempts: 5, result: null });
      expect(stored.errors).toEqual([expect.objectContaining({ attempt: 1, name: 'Cancelled', message: 'stop that' })]);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('retry: discarded, cancelled, scheduled and completed jobs run again; an exhausted job gets one more attempt', async () => {
    const discarded = await nodes.a.insert(w.idle, { label: 'r1' });
    const cancelled = await nodes.a.insert(w.idle, { label: 'r2' });
    const scheduled = await nodes.a.insert(w.idle, { label: 'r3' }, { delay: HOUR });
    await nodes.b.discard(discarded.id);
    await nodes.b.cancel(cancelled.id);
    for (const job of [discarded, cancelled, scheduled]) {
      const retried = (await nodes.c.retry(job.id))!;
      expect(retried).toMatchObject({ id: job.id, state: 'available', completedAt: null });
      expect(retried.scheduledAt.getTime()).toBeLessThan(scheduled.scheduledAt.getTime());
    }
    expect(await nodes.c.retry('999999999')).toBeNull();

    // Completed: runs again as attempt 2.
    const done = await completes(w.b);
    expect(await nodes.c.retry(done.id)).toMatchObject({ state: 'available', attempt: 1 });
    await waitFor(async () => (await nodes.a.getJob(done.id))?.attempt === 2, 'the retried job to run again', 5_000);
    await waitFor(async () => (await nodes.a.getJob(done.id))?.state === 'completed', 'the retried job to complete');
    expect(await nodes.a.getJob(done.id)).toMatchObject({ state: 'completed', attempt: 2, result: 'quick 2' });

    // Exhausted: maxAttempts 1 and failed, so discarded; retry grants exactly one more attempt.
    const failing = await nodes.a.insert(w.b, { label: 'fail-first' }, { maxAttempts: 1 });
    await waitFor(async () => (await nodes.a.getJob(failing.id))?.state === 'discarded', 'the failing job to be discarded');
    expect(await nodes.c.retry(failing.id)).toMatchObject({ state: 'available', attempt: 1, maxAttempts: 2 });
    await waitFor(async () => (await nodes.a.getJob(failing.id))?.state === 'completed', 'the retried job to complete');
    expect(await nodes.a.getJob(failing.id)).toMatchObject({ attempt: 2, maxAttempts: 2, result: 'fail-first 2' });
    expect(startsOf(failing.id).map((s) => s.attempt)).toEqual([1, 2]);

    // Executing: untouched.
    const job = await running(w.b, 'b');
    expect(await nodes.c.retry(job.id)).toMatchObject({ state: 'executing', attempt: 1 });
    releases.get(job.id)!();
    await waitFor(async () => (await nodes.a.getJob(job.id))?.state === 'completed', 'the released job to complete');
    expect(startsOf(job.id)).toHaveLength(1);
    expect(aborts.has(job.id)).toBe(false);
  });

});

describe('bulk actions', () => {
  it('cancel/discard/retry/delete by queue, state, worker, tags and ids; counts match the rows', async () => {
    const x = await nodes.a.insertMany(w.idle, [1, 2, 3].map((i) => ({ label: `x${i}` })), { tags: ['bulk', 'x'] });
    const y = await nodes.a.insertMany(w.idle, [1, 2, 3].map((i) => ({ label: `y${i}` })), { tags: ['bulk', 'y'] });
    const k = await nodes.a.insertMany(w.idle2, [1, 2, 3].map((i) => ({ label: `k${i}` })), { tags: ['bulk', 'x'] });
    const s = await nodes.a.insert(w.idle, { label: 's' }, { tags: ['bulk'], delay: HOUR });
    const all = [...x, ...y, ...k, s].map((j) => j.id);
    const snapshot = await states(all);
    for (const action of ['cancelJobs', 'discardJobs', 'retryJobs', 'deleteJobs'] as const) {
      await expect(nodes.b[action]({})).rejects.toBeInstanceOf(ConfigError);
      await expect(nodes.b[action]({ state: 'bogus' as never })).rejects.toBeInstanceOf(ConfigError);
    }
    expect(await states(all)).toEqual(snapshot);

    expect(await nodes.b.cancelJobs({ queue: 'ctl-idle', tags: ['bulk', 'x'] })).toBe(6);
    expect(await nodes.b.cancelJobs({ queue: 'ctl-idle', tags: ['bulk', 'x'] })).toBe(0);
    expect(await nodes.c.discardJobs({ worker: 'ctl-idle', state: ['available'], tags: ['bulk'] })).toBe(3);
    expect(await states(all)).toEqual([...Array(3).fill('cancelled'), ...Array(3).fill('discarded'), ...Array(3).fill('cancelled'), 'scheduled']);
    expect(await nodes.c.retryJobs({ ids: [x[0]!.id, y[0]!.id, k[0]!.id] })).toBe(3);
    expect(await nodes.a.retryJobs({ worker: 'ctl-idle-2', state: 'cancelled' })).toBe(2);
    expect(await states(all)).toEqual(['available', 'cancelled', 'cancelled', 'available', 'discarded', 'discarded', 'available', 'available', 'available', 'scheduled']);
    expect(await nodes.a.deleteJobs({ tags: ['bulk'], state: ['cancelled', 'discarded'] })).toBe(4);
    expect(await nodes.a.deleteJobs({ queue: ['ctl-idle'], worker: ['ctl-idle', 'ctl-idle-2'], tags: ['bulk'] })).toBe(6);
    expect(await states(all)).toEqual([]);
  });

  it('bulk cancel and delete abort matching jobs executing on other nodes', async () => {
    const onA = await running(w.a, 'a');
    const onC = await running(w.c, 'c');
    expect(await nodes.b.cancelJobs({ worker: 'ctl-a', state: 'executing' }, 'bulk stop')).toBe(1);
    expect(await nodes.b.deleteJobs({ ids: [onC.id], state: 'executing' })).toBe(1);
    await waitFor(() => aborts.has(onA.id) && aborts.has(onC.id), 'both running jobs to abort', 5_000);
    expect(aborts.get(onA.id)).toMatchObject({ jobId: onA.id, state: 'cancelled' });
    expect(aborts.get(onC.id)).toMatchObject({ jobId: onC.id, state: 'deleted' });
    await completes(w.a);
    await completes(w.c);
    expect([startsOf(onA.id).length, startsOf(onC.id).length]).toEqual([1, 1]);
    expect(await nodes.a.getJob(onA.id)).toMatchObject({ state: 'cancelled', attempt: 1, errors: [{ name: 'Cancelled', message: 'bulk stop' }] });
    expect(await nodes.a.getJob(onC.id)).toBeNull();
  });
});

describe('listJobs', () => {
  const ids: string[] = [];
  const byId = (a: string, b: string): number => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);
  async function walk(options: Parameters<Queue['listJobs']>[0] & object): Promise<string[][]> {
    const pages: string[][] = [];
    let after: string | undefined;
    for (;;) {
      const page = await nodes.c.listJobs({ ...options, after });
      pages.push(page.jobs.map((j) => j.id));
      if (page.next === null) return pages;
      expect(page.next).toBe(page.jobs.at(-1)!.id);
      after = page.next;
      expect(pages.length).toBeLessThan(30);
    }
  }

  beforeAll(async () => {
    for (let i = 0; i < 23; i++) ids.push((await nodes.a.insert(w.list, { label: `l${i}` }, { tags: [i % 2 === 0 ? 'even' : 'odd'] })).id);
  });

  it('pages do not overlap and cover every job, newest first by default and oldest first with asc', async () => {
    const desc = await walk({ worker: 'ctl-list', limit: 5 });
    expect(desc.map((p) => p.length)).toEqual([5, 5, 5, 5, 3]);
    expect(desc.flat()).toEqual([...ids].sort(byId).reverse());
    const asc = await walk({ queue: 'ctl-list', limit: 7, order: 'asc' });
    expect(asc.map((p) => p.length)).toEqual([7, 7, 7, 2]);
    expect(asc.flat()).toEqual([...ids].sort(byId));
    // A full last page is followed by an empty one.
    expect((await walk({ worker: 'ctl-list', limit: 23, order: 'asc' })).map((p) => p.length)).toEqual([23, 0]);
    const first = await nodes.b.listJobs({ worker: 'ctl-list', limit: 1000 });
    expect(first).toMatchObject({ next: null });
    expect(first.jobs.map((j) => j.id)).toEqual([...ids].sort(byId).reverse());
    expect(first.jobs.every((j) => j.worker === 'ctl-list' && j.state === 'available')).toBe(true);
  });

  it('filters by state, worker, tags and ids', async () => {
    const chosen = [ids[3]!, ids[10]!, ids[17]!];
    expect(await nodes.b.cancelJobs({ ids: chosen })).toBe(3);
    const ofState = await nodes.c.listJobs({ worker: 'ctl-list', state: 'cancelled' });
    expect(ofState.jobs.map((j) => j.id)).toEqual([...chosen].reverse());
    expect(ofState.jobs.every((j) => j.state === 'cancelled')).toBe(true);
    const even = await nodes.c.listJobs({ worker: 'ctl-list', tags: ['even'], order: 'asc' });
    expect(even.jobs.map((j) => j.id)).toEqual(ids.filter((_, i) => i % 2 === 0));
    expect((await nodes.c.listJobs({ worker: 'ctl-list', tags: ['even', 'odd'] })).jobs).toEqual([]);
    expect((await nodes.c.listJobs({ ids: [ids[0]!, ids[5]!], order: 'asc' })).jobs.map((j) => j.id)).toEqual([ids[0], ids[5]]);
    expect((await nodes.c.listJobs({ ids: [ids[0]!], worker: 'ctl-other' })).jobs).toEqual([]);
    const mixed = await walk({ worker: 'ctl-list', state: ['available', 'cancelled'], tags: ['odd'], limit: 4 });
    expect(mixed.flat()).toEqual(ids.filter((_, i) => i % 2 === 1).reverse());
  });

  it('rejects a bad limit, order or cursor', async () => {
    for (const limit of [0, 1001, 2.5, -1, '10' as never]) {
      await expect(nodes.c.listJobs({ limit })).rejects.toBeInstanceOf(ConfigError);
    }
    await expect(nodes.c.listJobs({ order: 'up' as never })).rejects.toBeInstanceOf(ConfigError);
    await expect(nodes.c.listJobs({ after: 'abc' })).rejects.toBeInstanceOf(ConfigError);
    await expect(nodes.c.listJobs({ state: 'nope' as never })).rejects.toBeInstanceOf(ConfigError);
  });
});

describe('queue stats and controls', () => {
  it('counts jobs by state; the oldest available job has waited', async () => {
    const past = (ms: number) => ({ scheduledAt: new Date(Date.now() - ms) });
    const [a1] = await nodes.a.insertMany(w.stats, [{ label: 'a1' }], past(60_000));
    await nodes.a.insert(w.stats, { label: 'a2' }, past(30_000));
    const a3 = await nodes.a.insert(w.stats, { label: 'a3' });
    const [, s2] = await nodes.a.insertMany(w.stats, [{ label: 's1' }, { label: 's2' }], { delay: HOUR });
    await nodes.b.cancel(s2!.id);
    await nodes.b.discard(a3.id);
    expect(a1!.state).toBe('available');
    const stats = (await nodes.c.queueStats()).find((q) => q.name === 'ctl-stats')!;
    expect(stats).toMatchObject({
      paused: false,
      concurrency: null,
      localConcurrency: null,
      total: 5,
      counts: { available: 2, scheduled: 1, executing: 0, retryable: 0, completed: 0, discarded: 1, cancelled: 1 },
    });
    expect(stats.oldestAvailableMs).toBeGreaterThan(0);
  });

  it('pauseQueue and scaleQueue from one node apply on the node running the queue, and show in stats', async () => {
    const ofA = async (node: Queue) => (await node.queueStats()).find((q) => q.name === 'ctl-a')!;
    expect(await ofA(nodes.a)).toMatchObject({ paused: false, concurrency: null, localConcurrency: 1 });
    try {
      await nodes.b.pauseQueue('ctl-a');
      await nodes.b.scaleQueue('ctl-a', 3);
      expect(await ofA(nodes.c)).toMatchObject({ paused: true, concurrency: 3, localConcurrency: null });
      // A applies both from the one row it re-reads on the notification.
      await waitFor(async () => (await ofA(nodes.a)).localConcurrency === 3, 'node A to apply the new limit', 5_000);
      const held = await nodes.a.insert(w.a, { label: 'held' });
      await completes(w.a2); // A still runs its other queue...
      expect((await nodes.a.getJob(held.id))!.state).toBe('available'); // ...but not the paused one.
      expect(await ofA(nodes.d)).toMatchObject({ paused: true, counts: { available: 1 }, oldestAvailableMs: expect.any(Number) });

      await nodes.c.resumeQueue('ctl-a');
      await nodes.c.scaleQueue('ctl-a', null);
      await waitFor(async () => (await nodes.a.getJob(held.id))?.state === 'completed', 'the held job to run after resume');
      await waitFor(async () => (await ofA(nodes.a)).localConcurrency === 1, 'node A to go back to its own limit');
      expect(await ofA(nodes.b)).toMatchObject({ paused: false, concurrency: null, localConcurrency: null });
    } finally {
      await nodes.b.resumeQueue('ctl-a');
      await nodes.b.scaleQueue('ctl-a', null);
    }
    await expect(nodes.b.scaleQueue('ctl-a', -1)).rejects.toBeInstanceOf(ConfigError);
    await expect(nodes.b.pauseQueue('')).rejects.toBeInstanceOf(ConfigError);
  });
});
