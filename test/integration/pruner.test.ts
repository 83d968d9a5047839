// Pruner: deletes finished jobs by age (per state, per queue) and by count (newest N kept per
// queue), never anything unfinished, in batches of at most batchSize rows; and 200,000 finished
// rows are pruned while fresh jobs keep being inserted and run.
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Pruner, Worker } from '../../src/index.js';
import type { PrunerOptions, Queue } from '../../src/index.js';
import { useSchema, waitFor } from '../support/queue.js';

const db = useSchema('pruner');
const bulk = useSchema('pruner_bulk');

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

const w = new Worker({ name: 'w', queue: 'prune', args: z.object({}).passthrough(), perform: () => null });

/**
 * `count` jobs in `state`, finished (or, for unfinished states, stamped) `ageMs` ago; due
 * tomorrow (never staged). Finished ones go straight into the history, as a finish moves them.
 */
async function rows(queue: string, state: string, ageMs: number, count = 1, schema = db.schema): Promise<string[]> {
  const finished = ['completed', 'discarded', 'cancelled'].includes(state);
  const { rows: out } = await db.pool.query<{ id: string }>(
    `INSERT INTO "${schema}".${finished ? 'jobs_finished' : 'jobs_live'}
       (id, state, queue, worker, args, attempt, attempted_at, completed_at, inserted_at, scheduled_at)
     ${finished ? '' : 'OVERRIDING SYSTEM VALUE'}
     SELECT nextval(pg_get_serial_sequence('"${schema}".jobs_live', 'id')), $2::text::"${schema}".job_state, $1, 'w',
            jsonb_build_object('i', i), 1, now() - $3 * interval '1 ms',
            CASE WHEN $5 THEN now() - ($3 + i) * interval '1 ms' END, now() - $3 * interval '1 ms' - interval '1 day', now() + interval '1 day'
     FROM generate_series(1, $4) i RETURNING id::text`,
    [queue, state, ageMs, count, finished],
  );
  return out.map((r) => r.id);
}

async function remaining(ids: readonly string[]): Promise<string[]> {
  const { rows: out } = await db.pool.query<{ id: string }>(`SELECT j.id::text AS id FROM "${db.schema}".jobs j WHERE j.id = ANY($1::bigint[]) ORDER BY j.id`, [ids]);
  return out.map((r) => r.id);
}

type Pruned = { queue: string | null; state: string; count: number };

/** A started node running only a Pruner, and every jobs:pruned event it emits. */
async function pruner(options: PrunerOptions): Promise<{ queue: Queue; events: Pruned[] }> {
  const queue = await db.queue({ workers: [w], queues: {}, leaseTtl: 2_000, plugins: [new Pruner({ interval: 50, ...options })] });
  const events: Pruned[] = [];
  queue.on('jobs:pruned', (e) => events.push(e));
  await queue.start();
  await waitFor(() => queue.isLeader, 'the node to lead');
  return { queue, events };
}

/**
 * Waits for one full pruning pass: a first old row pruned, then a second one inserted after
 * it, which only the next tick can delete, so the tick that deleted the first has finished.
 */
async function fullPass(): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const [sentinel] = await rows('sentinel', 'completed', 1_000 * DAY);
    await waitFor(async () => (await remaining([sentinel!])).length === 0, 'a sentinel to be pruned');
  }
}

const UNFINISHED = ['available', 'scheduled', 'executing', 'retryable'] as const;

beforeAll(async () => {
  await db.queue({ workers: [w] }); // migrates the schema; never started
});

describe('Pruner', () => {
  it('prunes by age per state, with per-queue rules replacing the default; never touches unfinished jobs', async () => {
    const doomed = [
      ...(await rows('aged', 'completed', 2 * MIN, 3)),
      ...(await rows('aged', 'discarded', 2 * HOUR, 2)),
      ...(await rows('own-rule', 'completed', 2 * DAY, 2)),
    ];
    const kept = [
      ...(await rows('aged', 'completed', 10_000, 2)), // younger than the completed max age
      ...(await rows('aged', 'discarded', 30 * MIN, 2)),
      ...(await rows('aged', 'cancelled', 300 * DAY, 2)), // a state left out of maxAge is kept
      ...(await rows('own-rule', 'completed', 2 * MIN, 2)), // the queue's own, longer, max age
      ...(await rows('own-rule', 'discarded', 300 * DAY, 2)), // its rule names no discarded age
    ];
    const unfinished: string[] = [];
    for (const state of UNFINISHED) unfinished.push(...(await rows('aged', state, 300 * DAY, 2)), ...(await rows('own-rule', state, 300 * DAY, 1)));

    const { queue, events } = await pruner({ maxAge: { completed: MIN, discarded: HOUR }, queues: { 'own-rule': { maxAge: { completed: DAY } } } });
    try {
      await waitFor(async () => (await remaining(doomed)).length === 0, 'the old jobs to be pruned');
      await fullPass();
      expect(await remaining(kept)).toEqual(kept);
      expect(await remaining(unfinished)).toHaveLength(unfinished.length);
      const { rows: states } = await db.pool.query<{ state: string; n: number }>(
        `SELECT state::text, count(*)::int AS n FROM "${db.schema}".jobs WHERE id = ANY($1::bigint[]) GROUP BY 1 ORDER BY 1`,
        [unfinished],
      );
      expect(states).toEqual([...UNFINISHED].sort().map((state) => ({ state, n: 3 })));
      const real = events.filter((e) => e.count > 0);
      const sum = (q: string | null, s: string): number => real.filter((e) => e.queue === q && e.state === s).reduce((a, e) => a + e.count, 0);
      // The sentinels are completed rows of the default rule (queue null) too.
      expect(sum(null, 'completed')).toBeGreaterThanOrEqual(3 + 2);
      expect(sum(null, 'discarded')).toBe(2);
      expect(sum('own-rule', 'completed')).toBe(2);
      expect(sum(null, 'cancelled') + sum('own-rule', 'discarded')).toBe(0);
    } finally {
      await queue.stop({ timeout: 1_000 });
    }
  });

  it('maxCount keeps the newest N finished jobs of each queue (per-queue override), unfinished ones aside', async () => {
    // Ages 1..10 minutes: the newest are the smallest ages. Mixed finished states.
    const capped: string[] = [];
    for (let i = 1; i <= 10; i++) capped.push(...(await rows('capped', ['completed', 'discarded', 'cancelled'][i % 3]!, i * MIN)));
    const other: string[] = [];
    for (let i = 1; i <= 7; i++) other.push(...(await rows('other', 'completed', i * MIN)));
    const few = await rows('few', 'discarded', MIN, 2);
    const waiting = [...(await rows('capped', 'available', 30 * DAY, 2)), ...(await rows('capped', 'retryable', 30 * DAY, 2))];

    const { queue, events } = await pruner({ maxAge: { completed: 90 * DAY }, maxCount: 5, queues: { capped: { maxCount: 3 } } });
    try {
      await waitFor(async () => (await remaining(capped)).length === 3 && (await remaining(other)).length === 5, 'the counts to be enforced');
      await fullPass();
      expect(await remaining(capped)).toEqual(capped.slice(0, 3));
      expect(await remaining(other)).toEqual(other.slice(0, 5));
      expect(await remaining(few)).toEqual(few);
      expect(await remaining(waiting)).toEqual(waiting);
      const finished = events.filter((e) => e.state === 'finished');
      const by = (q: string): number => finished.filter((e) => e.queue === q).reduce((a, e) => a + e.count, 0);
      expect([by('capped'), by('other'), by('few')]).toEqual([7, 2, 0]);
    } finally {
      await queue.stop({ timeout: 1_000 });
      await db.pool.query(`DELETE FROM "${db.schema}".jobs_live WHERE queue IN ('capped', 'other', 'few')`);
      await db.pool.query(`DELETE FROM "${db.schema}".jobs_finished WHERE queue IN ('capped', 'other', 'few')`);
    }
  });

  it('never deletes more than batchSize rows per batch', async () => {
    const completed = await rows('batched', 'completed', 3 * DAY, 52);
    const discarded = await rows('batched', 'discarded', 30 * DAY, 30);
    const { queue, events } = await pruner({ batchSize: 7, queues: { batched: { maxAge: { completed: DAY, discarded: DAY } } } });
    try {
      // The rows go when a batch commits, a moment before the Pruner reads its reply and reports
      // it: wait for both.
      const mine = () => events.filter((e) => e.queue === 'batched');
      const reported = () => mine().reduce((n, e) => n + e.count, 0);
      await waitFor(async () => (await remaining([...completed, ...discarded])).length === 0 && reported() === 82, 'the batched queue to be pruned and reported');
      expect(reported()).toBe(completed.length + discarded.length);
      expect(Math.max(...events.map((e) => e.count))).toBeLessThanOrEqual(7);
      expect(mine().filter((e) => e.state === 'completed').map((e) => e.count)).toEqual([7, 7, 7, 7, 7, 7, 7, 3]);
      expect(mine().filter((e) => e.state === 'discarded').map((e) => e.count)).toEqual([7, 7, 7, 7, 2]);
    } finally {
      await queue.stop({ timeout: 1_000 });
    }
  });

  it('bad options are ConfigErrors', async () => {
    const { ConfigError } = await import('../../src/index.js');
    const bad: PrunerOptions[] = [
      { batchSize: 0 },
      { batchSize: 100_001 },
      { batchSize: 1.5 },
      { maxAge: -1 },
      { maxAge: { finished: 1 } as never },
      { maxAge: { completed: 'soon' } as never },
      { maxCount: -1 },
      { queues: { q: { maxCount: 2.5 } } },
      { queues: { '': { maxCount: 1 } } },
    ];
    for (const options of bad) expect(() => new Pruner(options), JSON.stringify(options)).toThrow(ConfigError);
  });
});

describe('Pruner at scale', () => {
  it('prunes 200,000 finished rows in batches of 10,000 while fresh jobs keep running', async () => {
    const TOTAL = 200_000;
    const BATCH = 10_000;
    const starts = new Map<number, number>();
    const fresh = new Worker({
      name: 'fresh',
      queue: 'fresh',
      args: z.object({ seq: z.number() }),
      perform: (job) => {
        starts.set(job.args.seq, performance.now());
        return job.args.seq;
      },
    });
    // The default leaseTtl (10 s): with 2 s a 1.5 s stall of this process on a loaded machine
    // demoted the node and paused pruning until it was re-elected. The schema is this test's own,
    // so no other node holds the lease and the election is immediate either way.
    const queue = await bulk.queue({
      workers: [fresh],
      queues: { fresh: 10 },
      plugins: [new Pruner({ batchSize: BATCH, interval: 50, maxAge: { completed: HOUR } })],
    });
    const pruned: Pruned[] = [];
    let prunedRows = 0;
    queue.on('jobs:pruned', (e) => {
      pruned.push(e);
      prunedRows += e.count;
    });
    await queue.start();
    await waitFor(() => queue.isLeader, 'the node to lead');

    const enqueued = new Map<number, number>();
    const ids: string[] = [];
    let seq = 0;
    const insertOne = async (): Promise<void> => {
      const n = seq++;
      enqueued.set(n, performance.now());
      ids.push((await queue.insert(fresh, { seq: n })).id);
    };
    const pace = (): Promise<void> => new Promise((r) => setTimeout(r, 10)); // insert rate, not a sync point

    // Before: the latency of an idle node.
    for (let i = 0; i < 50; i++) {
      await insertOne();
      await pace();
    }
    await waitFor(() => starts.size === 50, 'the first 50 jobs to start');
    const beforeCount = seq;

    const i0 = performance.now();
    await bulk.pool.query(
      `INSERT INTO "${bulk.schema}".jobs_finished (id, state, queue, worker, args, attempt, max_attempts, attempted_at, completed_at)
       SELECT -i, 'completed', 'old', 'fresh', jsonb_build_object('seq', -i), 1, 1, now() - interval '3 days', now() - interval '2 days' - i * interval '1 ms'
       FROM generate_series(1, $1) i`,
      [TOTAL],
    );
    // The pruning budget starts once the rows are in: the INSERT's own time (seconds on a loaded
    // machine) says nothing about the Pruner.
    const t0 = performance.now();
    const insertedIn = t0 - i0;

    // During: keep inserting until every old row is gone. Twenty 10,000-row DELETEs, each followed
    // by a rest as long as the batch took, take a few seconds on an idle machine; the 60 s bound
    // is for a loaded 2-core CI machine and only bounds the runtime (assertions below report it).
    let doneAt = 0;
    while (prunedRows < TOTAL) {
      await insertOne();
      await pace();
      if (performance.now() - t0 > 60_000) break;
    }
    doneAt = performance.now();
    const duringIds = [...ids.slice(beforeCount)];
    const startedBeforeDone = [...starts.entries()].filter(([n, t]) => n >= beforeCount && t < doneAt).length;
    await waitFor(async () => (await bulk.count(`queue = 'fresh' AND state = 'completed'`)) === seq, 'every fresh job to complete');

    const latencies = (from: number, to: number): number[] =>
      [...Array(to - from).keys()].map((i) => starts.get(from + i)! - enqueued.get(from + i)!).sort((a, b) => a - b);
    const summary = (l: number[]): string =>
      `n=${l.length} p50=${l[Math.floor(l.length / 2)]?.toFixed(1)} ms p95=${l[Math.floor(l.length * 0.95)]?.toFixed(1)} ms max=${l.at(-1)?.toFixed(1)} ms`;
    console.log(
      `[pruner] ${TOTAL} rows inserted in ${insertedIn.toFixed(0)} ms, pruned in ${(doneAt - t0).toFixed(0)} ms in ${pruned.length} batches\n` +
        `[pruner] enqueue->start before pruning: ${summary(latencies(0, beforeCount))}\n` +
        `[pruner] enqueue->start during pruning: ${summary(latencies(beforeCount, seq))} (${startedBeforeDone} started before pruning ended)`,
    );

    expect(prunedRows).toBe(TOTAL);
    expect(pruned.every((e) => e.count >= 1 && e.count <= BATCH), JSON.stringify(pruned.map((e) => e.count))).toBe(true);
    expect(pruned.length).toBeGreaterThanOrEqual(TOTAL / BATCH);
    expect(await bulk.count(`queue = 'old'`)).toBe(0);
    expect(duringIds.length).toBeGreaterThan(0);
    expect(startedBeforeDone, 'fresh jobs ran while pruning went on').toBeGreaterThan(0);
    // Fresh jobs untouched: all there, completed, with their results.
    const { rows: done } = await bulk.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${bulk.schema}".jobs WHERE queue = 'fresh' AND state = 'completed' AND result = args->'seq'`,
    );
    expect(done[0]!.n).toBe(seq);
    await queue.stop({ timeout: 1_000 });
  }, 120_000); // the 60 s pruning bound plus the INSERT, the remaining jobs and the checks
});
