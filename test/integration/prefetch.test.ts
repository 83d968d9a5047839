// Prefetch: queues of short jobs claim a buffer beyond their free slots; stop() hands buffered
// jobs back untouched; queues of long jobs never hold more than their limit.
import type pg from 'pg';
import { expect, it } from 'vitest';
import { z } from 'zod';
import { Worker } from '../../src/index.js';
import { createPgPool } from '../support/db.js';
import { useSchema, waitFor } from '../support/queue.js';

const db = useSchema('prefetch');

it('short jobs are prefetched, and stop() hands the unstarted ones back as they were', async () => {
  const ran = new Map<string, number>();
  const worker = new Worker({
    name: 'short',
    queue: 'short',
    args: z.object({ i: z.number() }),
    perform: async (job) => {
      ran.set(job.id, (ran.get(job.id) ?? 0) + 1);
    },
  });
  const recording = recordingPool('short');
  const queue = await db.queue({ workers: [worker], queues: { short: 2 }, connection: recording.pool });
  const jobs = await queue.insertMany(worker, Array.from({ length: 10_000 }, (_, i) => ({ i })));
  await queue.start();
  await waitFor(() => ran.size >= 200, '200 jobs to run');
  // The node holds claims beyond its two running jobs: its prefetch buffer.
  await waitFor(async () => (await db.count(`queue = 'short' AND state = 'executing'`)) > 2, 'a prefetch buffer');
  await queue.stop();

  const { rows } = await db.pool.query<{ state: string; claimed: boolean; attempt: number; errors: number; n: number }>(
    `SELECT state::text, attempted_at IS NOT NULL OR attempted_by IS NOT NULL AS claimed, attempt,
            jsonb_array_length(errors) AS errors, count(*)::int AS n
     FROM "${db.schema}".jobs WHERE queue = 'short' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2`,
  );
  const completed = rows.filter((r) => r.state === 'completed').reduce((n, r) => n + r.n, 0);
  // Nothing is left claimed by a stopped node: what was buffered went back as it was before the
  // claim (available, attempt refunded, no error, no trace of the claim).
  expect(rows.filter((r) => r.state !== 'completed')).toEqual([
    { state: 'available', claimed: false, attempt: 0, errors: 0, n: jobs.length - completed },
  ]);
  expect(completed).toBe(ran.size);
  expect([...ran.values()].every((n) => n === 1)).toBe(true);
  // Fetches claimed more than the two free slots.
  expect(recording.largestFetch()).toBeGreaterThan(2);
  await recording.pool.end();
});

/**
 * A pool for one node that records the most jobs one of its fetches claimed (rows returned by
 * the fetch statement). The node is given this pool; the test ends it after stopping the node.
 */
function recordingPool(tag: string): { pool: pg.Pool; largestFetch: () => number } {
  const pool = createPgPool(db.url, `docket-prefetch-${tag}`);
  let largest = 0;
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<{ rows: unknown[] }>;
  pool.query = (async (config: unknown, ...rest: unknown[]) => {
    const result = await query(config, ...rest);
    const name = (config as { name?: unknown } | null)?.name;
    if (typeof name === 'string' && name.startsWith('docket_fetch_') && !name.startsWith('docket_fetch_limited')) largest = Math.max(largest, result.rows.length);
    return result;
  }) as unknown as typeof pool.query;
  return { pool, largestFetch: () => largest };
}

it('long jobs are not prefetched: no fetch claims more than the limit', async () => {
  const worker = new Worker({
    name: 'long',
    queue: 'long',
    args: z.object({ i: z.number() }),
    // Long enough to count as long-running; the work here is waiting on a timer.
    perform: () => new Promise((resolve) => setTimeout(resolve, 40)),
  });
  const recording = recordingPool('long');
  const queue = await db.queue({ workers: [worker], queues: { long: 2 }, connection: recording.pool });
  await queue.insertMany(worker, Array.from({ length: 16 }, (_, i) => ({ i })));
  await queue.start();
  await waitFor(async () => (await db.count(`queue = 'long' AND state = 'completed'`)) === 16, 'all long jobs');
  await queue.stop();
  const largest = recording.largestFetch();
  await recording.pool.end();
  expect(largest).toBeGreaterThan(0);
  expect(largest).toBeLessThanOrEqual(2);
});

it('a queue whose jobs turn slow hands its buffer back instead of hoarding it', async () => {
  const worker = new Worker({
    name: 'turns-slow',
    queue: 'mixed',
    args: z.object({ slow: z.boolean() }),
    // The work is waiting on a timer; what matters is that it is slow.
    perform: (job) => (job.args.slow ? new Promise((resolve) => setTimeout(resolve, 150)) : null),
  });
  const queue = await db.queue({ workers: [worker], queues: { mixed: 2 }, nodeId: 'hoarder' });
  await queue.insertMany(worker, Array.from({ length: 300 }, () => ({ slow: false })));
  await queue.insertMany(worker, Array.from({ length: 200 }, () => ({ slow: true })));
  await queue.start();
  const held = async (): Promise<number> =>
    db.count(`queue = 'mixed' AND state = 'executing' AND attempted_by = 'hoarder'`);
  // Once the slow jobs run, the node keeps only what it is running (plus acks in flight).
  await waitFor(async () => (await db.count(`queue = 'mixed' AND state = 'completed'`)) >= 305, 'slow jobs to start completing');
  await waitFor(async () => (await held()) <= 3, 'the buffer to be handed back');
  expect(await db.count(`queue = 'mixed' AND state = 'available'`)).toBeGreaterThan(100);
  await queue.stop();
});

// Two nodes: A warmed up on short jobs (so it prefetches), then both of its slots are taken by
// long jobs that stay running while hundreds of short ones sit in its buffer. Polling is out of
// the picture (60 s), so only docket's own hand-back can free them: B, idle, must get and run
// every short job while A's slots stay blocked. Before the buffer had its watchdog, A kept them
// until a job of its own finished or its poll timer fired.
it('a node whose every slot is taken by long jobs hands its buffer to an idle node', async () => {
  let openGate!: () => void;
  const gate = new Promise<void>((resolve) => (openGate = resolve));
  const worker = new Worker({
    name: 'blocker-or-short',
    queue: 'hoard',
    args: z.object({ long: z.boolean() }),
    perform: async (job) => {
      if (job.args.long) await gate;
    },
  });
  const a = await db.queue({ workers: [worker], queues: { hoard: 2 }, nodeId: 'node-a', pollInterval: 60_000 });
  const b = await db.queue({ workers: [worker], queues: { hoard: 2 }, nodeId: 'node-b', pollInterval: 60_000 });
  try {
    await a.start();
    // Warm-up: A learns that this queue's jobs are short.
    await a.insertMany(worker, Array.from({ length: 300 }, () => ({ long: false })));
    await waitFor(async () => (await db.count(`queue = 'hoard' AND state = 'completed'`)) === 300, 'the warm-up jobs');

    // Two long jobs first (they take both of A's slots), then many short ones, in one statement.
    const jobs = await a.insertMany(worker, [{ long: true }, { long: true }, ...Array.from({ length: 1_000 }, () => ({ long: false }))]);
    const shortIds = jobs.slice(2).map((j) => j.id).join(',');
    await waitFor(
      async () => (await db.count(`queue = 'hoard' AND state = 'executing' AND attempted_by = 'node-a' AND (args->>'long')::boolean`)) === 2,
      'both long jobs running on A',
    );
    await b.start();
    await waitFor(async () => (await db.count(`id IN (${shortIds}) AND state = 'completed'`)) === 1_000, 'B to run every short job');

    // A ran none of them: its slots never freed; every short job ran once, on B.
    expect(await db.count(`id IN (${shortIds}) AND attempted_by = 'node-b' AND attempt = 1`)).toBe(1_000);
    expect(await db.count(`queue = 'hoard' AND state = 'executing'`)).toBe(2);
  } finally {
    openGate();
    await Promise.all([a.stop(), b.stop()]);
  }
});
