// Big tables (issue 15, scenario 8): the Pruner on 5M finished jobs while 4 processes insert and
// run 200 jobs/s. The history is filled with SQL (10 days of day partitions, 500k jobs a day, one
// in a hundred in a queue whose rule keeps an hour), then the Pruner starts on the leader with
// one day partition locked by the test, so its drops fail while it is held. Marks: every row delete is one
// batch of at most batchSize; the maintenance error changes nothing for the running jobs (they go
// on completing while it fails), and the passes after the lock goes finish the work; every
// job the processes inserted completes. Pickup latency (insert to start, database clock) before
// and while the Pruner runs is measured and printed, not asserted (speed is the benchmark's
// business; docs/reliability.md has the figures).
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { z } from 'zod';
import { Pruner, Worker } from '../../src/index.js';
import { spawnReporter, type ReportingChild } from '../support/child.js';
import { useSchema, waitFor } from '../support/queue.js';

const ROWS = 5_000_000;
const DAYS = 10;
const BATCH = 10_000;
const DAY_MS = 86_400_000;
const db = useSchema('big');
const children: ReportingChild[] = [];
const afterAllRelease: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const release of afterAllRelease) await release();
  for (const { child, exited } of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  }
});

async function pickup(pool: pg.Pool, from: Date, to: Date): Promise<{ n: number; p50: number; p99: number }> {
  const { rows } = await pool.query<{ n: number; p50: number; p99: number }>(
    `SELECT count(*)::int AS n,
            (percentile_cont(0.5) WITHIN GROUP (ORDER BY ms))::float8 AS p50,
            (percentile_cont(0.99) WITHIN GROUP (ORDER BY ms))::float8 AS p99
     FROM (SELECT extract(epoch FROM attempted_at - inserted_at) * 1000 AS ms
           FROM "${db.schema}".jobs WHERE queue = 'restarts' AND inserted_at >= $1 AND inserted_at < $2 AND attempted_at IS NOT NULL) t`,
    [from, to],
  );
  return rows[0]!;
}
const dbNow = async (): Promise<Date> => (await db.pool.query<{ now: Date }>('SELECT now()')).rows[0]!.now;

it('prunes 5M finished jobs under 200 jobs/s in small batches, and a maintenance error never halts processing', async () => {
  const q = `"${db.schema}"`;
  const work = new Worker({ name: 'work', args: z.object({ n: z.number().int() }), queue: 'restarts', perform: () => {} });
  const pruned: { queue: string | null; state: string; count: number }[] = [];
  const errors: { at: number; message: string }[] = [];
  const leader = await db.queue({
    workers: [work],
    queues: {},
    plugins: [new Pruner({ interval: 1_000, batchSize: BATCH, maxAge: { completed: 3 * DAY_MS }, queues: { 'audit-short': { maxAge: 3_600_000 } } })],
  });
  leader.on('jobs:pruned', (e) => pruned.push(e));
  leader.on('plugin:error', ({ error }) => errors.push({ at: Date.now(), message: (error as Error).message }));

  // 1. The history: 10 days of day partitions, 500k completed jobs a day.
  const filled = Date.now();
  await db.pool.query(`SELECT ${q}.create_finished_partitions($1, 2)`, [-(DAYS - 1)]);
  for (let chunk = 0; chunk < 5; chunk++) {
    await db.pool.query(
      `INSERT INTO ${q}.jobs_finished (id, state, queue, worker, args, attempt, attempted_by, inserted_at, scheduled_at, attempted_at, completed_at)
       SELECT 10000000000 + g, 'completed', CASE WHEN (g / 10) % 100 = 0 THEN 'audit-short' ELSE 'restarts' END, 'work',
              jsonb_build_object('n', g), 1, 'filler', t - interval '1 s', t - interval '1 s', t - interval '1 s', t
       FROM generate_series($1::bigint, $2::bigint) g,
            LATERAL (SELECT date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                            - (g % $3) * interval '1 day' + (g % 86000) * interval '1 s' AS t) d
       WHERE t < now()`,
      [chunk * (ROWS / 5), (chunk + 1) * (ROWS / 5) - 1, DAYS],
    );
  }
  await db.pool.query(`ANALYZE ${q}.jobs_finished`);
  // The fill's dirty pages written out now, not by the checkpointer during the baseline.
  await db.pool.query('CHECKPOINT');
  const fillSeconds = (Date.now() - filled) / 1000;
  const total = await db.count();

  // 2. Load: 4 processes, 50 jobs/s each, inserting and running.
  for (const id of ['w1', 'w2', 'w3', 'w4']) {
    children.push(spawnReporter('test/fixtures/restart-child.ts', { DATABASE_URL: db.url, DOCKET_SCHEMA: db.schema, DOCKET_NODE_ID: id, DOCKET_RATE: '50' }, 'pipe'));
  }
  for (const node of children) await waitFor(() => node.events.some((e) => e.event === 'ready'), `a node ready (${node.stderr()})`, 30_000);
  const completions = () => children.reduce((n, node) => n + node.events.filter((e) => e.event === 'complete').length, 0);
  // Baseline: 15 s of load with no Pruner.
  const baseFrom = await dbNow();
  await waitFor(() => completions() >= 3_000, '15 s of load (3,000 jobs)', 60_000);
  const baseTo = await dbNow();

  // 3. A day partition held by the test: the Pruner's drops fail (lock_timeout) until it goes.
  const [locked] = (
    await db.pool.query<{ part: string }>(
      `SELECT c.relname AS part FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = '${q}.jobs_finished_completed'::regclass AND c.relname ~ '_[0-9]{8}$' ORDER BY c.relname LIMIT 1`,
    )
  ).rows;
  const holder = await db.pool.connect();
  // Released whatever happens: the schema cannot be dropped while it holds its lock.
  afterAllRelease.push(async () => {
    await holder.query('ROLLBACK').catch(() => {});
    holder.release();
  });
  await holder.query('BEGIN');
  await holder.query(`LOCK TABLE ${q}.${pg.escapeIdentifier(locked!.part)} IN ACCESS SHARE MODE`);
  const pruneFrom = await dbNow();
  await leader.start();
  await waitFor(() => errors.length >= 1, `the Pruner to fail on the locked partition (pruned so far: ${JSON.stringify(pruned)})`, 120_000);
  const during = completions();
  await waitFor(() => completions() >= during + 200, 'jobs to go on completing while the Pruner fails', 30_000);
  await holder.query('COMMIT');
  const failuresWhileLocked = errors.length;

  // 4. The Pruner finishes: days that ended over 3 days ago dropped whole, audit-short kept an
  // hour. Watched through the catalog and an index probe: a count over millions of rows,
  // repeated, would be a load of its own.
  const cutoff = `date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '3 days'`;
  const oldDays = async () =>
    (
      await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = '${q}.jobs_finished_completed'::regclass AND c.relname ~ '_[0-9]{8}$'
           AND (to_date(right(c.relname, 8), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= ${cutoff}`,
      )
    ).rows[0]!.n;
  const oldAudit = async () =>
    (
      await db.pool.query<{ found: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM ${q}.jobs_finished WHERE queue = 'audit-short' AND completed_at < now() - interval '61 minutes') AS found`,
      )
    ).rows[0]!.found;
  // The Pruner's report of its drops too: the catalog shows them gone at commit, a moment
  // before the leader has read the reply and emitted `jobs:pruned` (when the drops are the last
  // thing to happen, as after midnight, when the short queue's rows are few, that moment is seen).
  await waitFor(
    async () => (await oldDays()) === 0 && !(await oldAudit()) && pruned.some((e) => e.queue === null),
    'the Pruner to retire everything past its rules, and report its drops',
    300_000,
  );
  const pruneTo = await dbNow();
  // Once, in full: nothing past the rules is left anywhere.
  expect(await db.count(`(queue = 'audit-short' AND completed_at < now() - interval '61 minutes') OR completed_at < ${cutoff}`)).toBe(0);
  const left = await db.count(`worker = 'work' AND attempted_by = 'filler'`);

  // 5. Every job the processes inserted completes.
  for (const node of children) node.child.stdin!.write('stop-inserting\n');
  await waitFor(() => children.every((node) => node.events.some((e) => e.event === 'inserts-stopped')), 'the inserts to stop');
  const inserted = children.flatMap((node) => node.events.filter((e) => e.event === 'inserted').map((e) => String(e.id)));
  await waitFor(
    async () => (await db.count(`state = 'completed' AND id = ANY('{${inserted.join(',')}}'::bigint[])`)) === inserted.length,
    'every inserted job to complete',
    60_000,
  );

  const rowDeletes = pruned.filter((e) => e.queue !== null);
  const drops = pruned.filter((e) => e.queue === null);
  expect(rowDeletes.length, 'row-delete batches').toBeGreaterThan(0);
  for (const batch of rowDeletes) expect(batch.count).toBeLessThanOrEqual(BATCH);
  expect(drops.length, `day partitions dropped (Pruner events: ${JSON.stringify(pruned.slice(0, 20))})`).toBeGreaterThan(0);
  expect(errors.slice(0, failuresWhileLocked).every((e) => /lock timeout|canceling statement due to lock timeout/i.test(e.message)), JSON.stringify(errors.slice(0, 3))).toBe(true);
  for (const node of children) expect(node.events.filter((e) => e.event === 'unhandled')).toEqual([]);

  const base = await pickup(db.pool, baseFrom, baseTo);
  const underPruner = await pickup(db.pool, pruneFrom, pruneTo);
  console.log(
    `[big-tables] ${total.toLocaleString('en')} finished jobs filled in ${fillSeconds.toFixed(0)} s; pruned in ${((pruneTo.getTime() - pruneFrom.getTime()) / 1000).toFixed(1)} s ` +
      `(${drops.reduce((n, e) => n + e.count, 0).toLocaleString('en')} by ${drops.length} partition drops, ${rowDeletes.reduce((n, e) => n + e.count, 0).toLocaleString('en')} by ${rowDeletes.length} row-delete batches of at most ${Math.max(...rowDeletes.map((e) => e.count))}), ` +
      `${left.toLocaleString('en')} kept; ${failuresWhileLocked} Pruner passes failed on the locked partition while ${during}+ jobs went on completing; ` +
      `pickup latency p50/p99: ${base.p50.toFixed(1)}/${base.p99.toFixed(1)} ms before (${base.n} jobs), ${underPruner.p50.toFixed(1)}/${underPruner.p99.toFixed(1)} ms while pruning (${underPruner.n} jobs); ` +
      `${inserted.length} jobs inserted by the 4 processes, all completed`,
  );
  for (const node of children) {
    node.child.kill('SIGTERM');
    expect((await node.exited).code).toBe(0);
  }
}, 900_000);
