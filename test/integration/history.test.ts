// The finished-job history over time: the Pruner creates day partitions ahead and drops whole
// days past every rule (releasing the unique keys their jobs held), each drop all-or-nothing,
// and a new leader finishes what a blocked one could not; and migration 0006 moving the jobs of
// a populated version-5 schema.
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Pruner, Queue, Worker } from '../../src/index.js';
import { createPgPool, databaseUrl, dropSchema, uniqueSchemaName } from '../support/db.js';
import { nextEvent, useSchema, waitFor } from '../support/queue.js';

const db = useSchema('history');
const s = (): string => `"${db.schema}"`;
const DAY = 86_400_000;

/** The day partitions of one finished state, as YYYYMMDD. */
async function days(state: string, schema = db.schema): Promise<string[]> {
  const { rows } = await db.pool.query<{ d: string }>(
    `SELECT right(c.relname, 8) AS d FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = to_regclass($1) AND c.relname ~ '_[0-9]{8}$' ORDER BY 1`,
    [`"${schema}".jobs_finished_${state}`],
  );
  return rows.map((r) => r.d);
}

/** YYYYMMDD of today + `offset` days by the database clock (UTC). */
async function day(offset: number): Promise<string> {
  const { rows } = await db.pool.query<{ d: string }>(`SELECT to_char((now() AT TIME ZONE 'UTC')::date + $1::int, 'YYYYMMDD') AS d`, [offset]);
  return rows[0]!.d;
}

/** `count` completed jobs finished at noon (UTC) of day `offset`, each holding a unique key in job_keys. */
async function finishedOn(offset: number, count: number, prefix: string): Promise<void> {
  await db.pool.query(
    `WITH j AS (
       INSERT INTO ${s()}.jobs_finished (id, state, queue, worker, args, attempt, completed_at, unique_key, unique_states)
       SELECT nextval(pg_get_serial_sequence('${s()}.jobs_live', 'id')), 'completed', 'hist', 'hist', '{}', 1,
              ((now() AT TIME ZONE 'UTC')::date + $1::int + interval '12 hours') AT TIME ZONE 'UTC',
              $3 || i, '{available,scheduled,executing,retryable,completed}'
       FROM generate_series(1, $2::int) i RETURNING id, unique_key)
     INSERT INTO ${s()}.job_keys (key, job_id) SELECT unique_key, id FROM j`,
    [offset, count, prefix],
  );
}

const keysLike = async (prefix: string): Promise<number> =>
  (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${s()}.job_keys WHERE key LIKE $1`, [`${prefix}%`])).rows[0]!.n;

describe('history partitions', () => {
  it('the Pruner creates days ahead and drops whole past days, keys included; a blocked drop changes nothing and the next leader completes it', async () => {
    const pruned: { state: string; count: number }[] = [];
    const errors: unknown[] = [];
    const node = (id: string): Promise<Queue> =>
      db.queue({ nodeId: id, workers: [], queues: {}, leaseTtl: 1_000, plugins: [new Pruner({ interval: 100, maxAge: DAY, daysAhead: 3 })] });
    // Past days exist as partitions (as if created back then), with their jobs.
    await db.queue({ workers: [], queues: {} }); // migrates
    await db.pool.query(`SELECT ${s()}.create_finished_partitions(-4, 0)`);
    await finishedOn(-4, 300, 'd4-');
    await finishedOn(-3, 200, 'd3-');
    await finishedOn(-1, 100, 'd1-');
    await finishedOn(0, 50, 'd0-');
    expect(await days('completed')).toEqual(await Promise.all([-4, -3, -2, -1, 0, 1, 2].map(day)));

    // A reader holds a lock on the completed history: the leader's drop gives up after its
    // lock_timeout, whole (no partition gone, no key released), and is reported.
    const locker = await db.pool.connect();
    await locker.query(`BEGIN; LOCK TABLE ${s()}.jobs_finished_completed IN ACCESS SHARE MODE`);
    const a = await node('hist-a');
    const b = await node('hist-b');
    for (const q of [a, b]) {
      q.on('plugin:error', ({ error }) => errors.push(error));
      q.on('jobs:pruned', ({ state, count }) => pruned.push({ state, count }));
    }
    const aErrored = nextEvent(a, 'plugin:error');
    await a.start();
    await waitFor(() => a.isLeader, 'node a to lead');
    expect(String((await aErrored).error)).toMatch(/lock timeout/);
    expect(await keysLike('d4-')).toBe(300);
    expect((await days('completed')).length).toBeGreaterThanOrEqual(7);
    expect(pruned.filter((p) => p.state === 'completed')).toEqual([]);

    // Leader failover while the lock is still held; then the lock goes and the new leader drops.
    await b.start();
    await a.stop();
    await waitFor(() => b.isLeader, 'node b to take over');
    const bErrored = nextEvent(b, 'plugin:error');
    expect(String((await bErrored).error)).toMatch(/lock timeout/);
    expect(await keysLike('d3-')).toBe(200);
    await locker.query('COMMIT');
    locker.release();

    const settled = async (): Promise<boolean> => {
      const now = await days('completed');
      return !now.includes(await day(-2)) && now.includes(await day(3));
    };
    await waitFor(settled, 'the past days to be dropped and the days ahead created');
    expect(await days('completed')).toEqual(await Promise.all([-1, 0, 1, 2, 3].map(day)));
    expect(await days('discarded')).toEqual(await Promise.all([-1, 0, 1, 2, 3].map(day)));
    expect([await keysLike('d4-'), await keysLike('d3-'), await keysLike('d1-'), await keysLike('d0-')]).toEqual([0, 0, 100, 50]);
    // A DROP is visible in the catalog once it commits, before the statement returns and the
    // Pruner reports it: wait for the reports to add up (at least 500) rather than read them now.
    const completed = (): number => pruned.filter((p) => p.state === 'completed').reduce((n, p) => n + p.count, 0);
    await waitFor(() => completed() >= 500, 'the drops to be reported');
    expect(completed()).toBe(500);
    expect(await db.count(`queue = 'hist'`)).toBe(150);
    await b.stop();
  });
});

describe('vacuum of the live table', () => {
  const vacuums = async (): Promise<number> =>
    (await db.pool.query<{ n: number }>(`SELECT vacuum_count::int AS n FROM pg_stat_user_tables WHERE relid = '${s()}.jobs_live'::regclass`)).rows[0]!.n;

  it('the Pruner vacuums the live table once dead row versions pile up (autovacuum off or not)', async () => {
    await db.queue({ workers: [], queues: {} }); // migrates
    // 5,000 jobs through the live table: inserted, claimed, finished (deleted), as workers do.
    const client = await db.pool.connect();
    try {
      // Whatever the server's setting: only the Pruner may vacuum this table during the test.
      await client.query(`ALTER TABLE ${s()}.jobs_live SET (autovacuum_enabled = false)`);
      await client.query(`INSERT INTO ${s()}.jobs_live (queue, worker, args) SELECT 'vac', 'vac', '{}' FROM generate_series(1, 5000)`);
      await client.query(`UPDATE ${s()}.jobs_live SET state = 'executing' WHERE queue = 'vac'`);
      await client.query(`DELETE FROM ${s()}.jobs_live WHERE queue = 'vac'`);
      // PostgreSQL 15+ flushes table statistics at most once a second; ask for it now (14's collector is quick anyway).
      const { rows } = await client.query<{ server_version_num: string }>('SHOW server_version_num');
      if (Number(rows[0]!.server_version_num) >= 150_000) await client.query('SELECT pg_stat_force_next_flush()');
      await client.query('SELECT 1');
    } finally {
      client.release();
    }
    const before = await vacuums();
    const off = await db.queue({ nodeId: 'vac-off', workers: [], queues: {}, leaseTtl: 1_000, plugins: [new Pruner({ interval: 50, vacuumLive: false })] });
    await off.start();
    await waitFor(() => off.isLeader, 'the node without vacuum to lead');
    // Two old finished jobs pruned one after the other: the pass that pruned the first ended.
    for (let i = 0; i < 2; i++) {
      const { rows } = await db.pool.query<{ id: string }>(
        `INSERT INTO ${s()}.jobs_finished (id, state, queue, worker, args, attempt, completed_at)
         VALUES (nextval(pg_get_serial_sequence('${s()}.jobs_live', 'id')), 'completed', 'vac', 'vac', '{}', 1, now() - interval '400 days')
         RETURNING id::text`,
      );
      await waitFor(async () => (await db.count(`id = ${rows[0]!.id}`)) === 0, 'a sentinel to be pruned');
    }
    await off.stop();
    expect(await vacuums()).toBe(before);

    const on = await db.queue({ nodeId: 'vac-on', workers: [], queues: {}, leaseTtl: 1_000, plugins: [new Pruner({ interval: 50 })] });
    await on.start();
    await waitFor(async () => (await vacuums()) > before, 'the Pruner to vacuum the live table');
    await on.stop();
    await db.pool.query(`ALTER TABLE ${s()}.jobs_live RESET (autovacuum_enabled)`);
  });
});

describe('migration 0006', () => {
  const url = databaseUrl();
  const schema = uniqueSchemaName('history_v5');
  const pool = createPgPool(url, 'docket-test-history-v5');
  afterAll(async () => {
    await pool.end();
    await dropSchema(url, schema);
  });

  it('moves the finished jobs of a populated version-5 schema out of the live table, keys and all', async () => {
    const w = new Worker({ name: 'v5', queue: 'v5', args: z.object({ n: z.number() }), perform: (job) => job.args.n * 2 });
    // A unique key as docket computes it, taken from a job inserted on the current schema.
    const { job: probe } = await (await db.queue({ workers: [w], queues: {} })).insert(w, { n: 7 }, { unique: {} });
    const { rows: probed } = await db.pool.query<{ k: string }>(`SELECT unique_key AS k FROM ${s()}.jobs WHERE id = $1`, [probe.id]);
    const key = probed[0]!.k;

    const queue = new Queue({ connection: pool, schema, workers: [w], queues: { v5: 2 }, pollInterval: 100 });
    for (const script of queue.migrationScripts().filter((m) => m.version <= 5)) await pool.query(script.sql);
    const q = `"${schema}"`;
    await pool.query(
      `INSERT INTO ${q}.jobs (state, queue, worker, args, attempt, completed_at, unique_key, unique_states, result, errors) VALUES
        ('available', 'v5', 'v5', '{"n":1}', 0, NULL, NULL, NULL, NULL, '[]'),
        ('available', 'v5', 'v5', '{"n":2}', 0, NULL, NULL, NULL, NULL, '[]'),
        ('retryable', 'v5', 'v5', '{"n":3}', 1, NULL, 'held-live', '{available,scheduled,executing,retryable}', NULL, '[{"message":"x"}]'),
        ('completed', 'v5', 'v5', '{"n":7}', 1, now() - interval '3 days', $1, '{available,scheduled,executing,retryable,completed}', '14', '[]'),
        ('completed', 'v5', 'v5', '{"n":8}', 1, now(), 'released', '{available,scheduled,executing,retryable}', '16', '[]'),
        ('discarded', 'v5', 'v5', '{"n":9}', 3, now() - interval '1 hour', NULL, NULL, NULL, '[{"message":"a"},{"message":"b"}]'),
        ('cancelled', 'v5', 'v5', '{"n":10}', 0, now(), NULL, NULL, NULL, '[]')`,
      [key],
    );
    const { rows: before } = await pool.query(`SELECT * FROM ${q}.jobs ORDER BY id`);

    expect((await queue.migrate()).applied).toEqual([6, 7, 8, 9, 10]);
    const count = async (table: string): Promise<number> => (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${q}.${table}`)).rows[0]!.n;
    expect([await count('jobs_live'), await count('jobs_finished'), await count('jobs')]).toEqual([3, 4, 7]);
    const { rows: after } = await pool.query(`SELECT * FROM ${q}.jobs ORDER BY id`);
    // Every row as it was; the workflow columns of 0008 are new and empty, 0010's meta empty.
    expect(after).toEqual(before.map((row) => ({ ...row, workflow_id: null, step: null, deps_left: null, dependents: null, meta: {} })));
    const { rows: keys } = await pool.query<{ key: string; state: string }>(
      `SELECT k.key, j.state::text FROM ${q}.job_keys k JOIN ${q}.jobs j ON j.id = k.job_id`,
    );
    expect(new Set(keys.map((k) => `${k.key}=${k.state}`))).toEqual(new Set(['held-live=retryable', `${key}=completed`]));

    // The key held in completed still stops a new insert; the workers drain the live jobs.
    const dup = await queue.insert(w, { n: 7 }, { unique: {} });
    expect(dup.duplicate).toBe(true);
    expect(dup.job).toMatchObject({ state: 'completed', result: 14 });
    await queue.start();
    await waitFor(async () => (await count(`jobs_live WHERE state = 'available'`)) === 0, 'the migrated jobs to run');
    await waitFor(async () => (await count(`jobs_finished WHERE result IN ('2', '4')`)) === 2, 'their results in the history');
    const discarded = (await queue.listJobs({ state: 'discarded' })).jobs[0]!;
    expect(discarded.errors.map((e) => e.message)).toEqual(['a', 'b']);
    const done = nextEvent(queue, 'job:complete', ({ job }) => job.id === discarded.id);
    await queue.retry(discarded.id);
    expect((await done).job).toMatchObject({ state: 'completed', result: 18 });
    await queue.stop();
  });
});
