// Unique jobs, on both drivers: concurrent transactions inserting the same identity end with one
// row and agree on its id; a caller is only ever pointed at a job that committed; no deadlock or
// raw unique violation reaches a caller; and the options (by, period, states) mean what they say.
import type pg from 'pg';
import type postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, Worker } from '../../src/index.js';
import type { Job, Queue, UniqueInsert } from '../../src/index.js';
import { createPgPool, createPostgresJs } from '../support/db.js';
import { nextEvent, useSchema, waitFor } from '../support/queue.js';

const db = useSchema('unique');
const N = 20;
const REQUIRED = ['available', 'scheduled', 'executing', 'retryable'] as const;
const Args = z.object({ user: z.string(), n: z.number().optional(), extra: z.string().optional() });
type Args = z.infer<typeof Args>;

// The host's transaction: `end` decides, once the insert returned, whether it commits.
type Decision = 'commit' | 'rollback';
type RunTx = <T>(insert: (tx: unknown) => Promise<T>, end: (value: T) => Promise<Decision>) => Promise<T>;
interface Driver {
  name: string;
  app: string;
  connection: pg.Pool | postgres.Sql;
  runTx: RunTx;
}

const apps = { pg: `dkt-uq-pg-${db.schema}`, pgjs: `dkt-uq-js-${db.schema}` };
const pool = createPgPool(db.url, apps.pg, { max: N + 5 });
const sql = createPostgresJs(db.url, apps.pgjs, { max: N + 5 });
const ROLLBACK = Symbol('rollback');

const drivers: Driver[] = [
  {
    name: 'pg',
    app: apps.pg,
    connection: pool,
    runTx: async (insert, end) => {
      const client = await pool.connect();
      let open = false;
      try {
        await client.query('BEGIN');
        open = true;
        const value = await insert(client);
        const decision = await end(value);
        open = false;
        await client.query(decision === 'commit' ? 'COMMIT' : 'ROLLBACK');
        return value;
      } finally {
        if (open) await client.query('ROLLBACK').catch(() => {});
        client.release();
      }
    },
  },
  {
    name: 'postgres.js',
    app: apps.pgjs,
    connection: sql,
    runTx: async (insert, end) => {
      let value!: Awaited<ReturnType<typeof insert>>;
      try {
        await sql.begin(async (tx) => {
          value = await insert(tx);
          if ((await end(value)) === 'rollback') throw ROLLBACK;
        });
      } catch (error) {
        if (error !== ROLLBACK) throw error;
      }
      return value;
    },
  },
];

const queues: Queue[] = [];
afterAll(async () => {
  await Promise.all(queues.map((q) => q.stop({ timeout: 1_000 })));
  await pool.end();
  await sql.end({ timeout: 1 });
});

/** Backends of `app` waiting for another transaction (an uncommitted row holding a key). */
async function blocked(app: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock' AND wait_event = 'transactionid'`,
    [app],
  );
  return rows[0]!.n;
}

async function rowsOf(worker: string, user: string): Promise<{ id: string; state: string }[]> {
  const { rows } = await db.pool.query<{ id: string; state: string }>(
    `SELECT id::text AS id, state::text AS state FROM "${db.schema}".jobs WHERE worker = $1 AND args->>'user' = $2 ORDER BY id`,
    [worker, user],
  );
  return rows;
}

/** Every promise must have resolved; a rejection fails with its SQLSTATE (40P01, 23505...). */
function fulfilled<T>(settled: PromiseSettledResult<T>[]): T[] {
  const failures = settled.flatMap((s) =>
    s.status === 'rejected' ? [`${(s.reason as { code?: string }).code ?? '-'}: ${(s.reason as Error).message}`] : [],
  );
  expect(failures, 'callers that got an error').toEqual([]);
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

describe.each(drivers)('unique jobs: $name', ({ name, app, connection, runTx }) => {
  const tag = name === 'pg' ? 'pg' : 'js';
  const mk = (suffix: string, perform: (job: Job<Args>) => Promise<string> = async () => 'ok') =>
    new Worker({ name: `uq-${suffix}-${tag}`, queue: `uq-${suffix}-${tag}`, args: Args, maxAttempts: 3, perform });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const main = mk('main');
  const other = new Worker({ name: `uq-other-${tag}`, queue: main.queue, args: Args, perform: async () => 'other' });
  const exec = mk('exec', async (job: Job<Args>) => {
    if (job.args.user.startsWith('block')) await gate;
    return `ran ${job.args.user}`;
  });
  const workers = [main, other, exec];
  let q: Queue;
  const insert = (args: Args, unique: object = {}, extra: object = {}) =>
    q.insert(main, args, { unique, ...extra }) as Promise<UniqueInsert<Args>>;

  it('migrates and opens an insert-only queue', async () => {
    q = await db.queue({ connection, workers, queues: {} });
    queues.push(q);
    expect(q.running).toBe(false);
  });

  it(`${N} overlapping transactions that all commit: one row, one id, exactly one non-duplicate`, async () => {
    const user = 'race-commit';
    let first: UniqueInsert<Args> | undefined;
    const settled = await Promise.allSettled(
      Array.from({ length: N }, () =>
        runTx(
          (tx) => q.insert(main, { user }, { unique: {}, tx }),
          async (result) => {
            if (first !== undefined) return 'commit';
            // The first to insert holds the key: commit only once every other insert is waiting on it.
            first = result;
            await waitFor(async () => (await blocked(app)) === N - 1, `${N - 1} inserts blocked on the first`, 15_000);
            return 'commit';
          },
        ),
      ),
    );
    const results = fulfilled(settled);
    const rows = await rowsOf(main.name, user);
    expect(rows).toEqual([{ id: first!.job.id, state: 'available' }]);
    expect(first!.duplicate).toBe(false);
    expect(results.filter((r) => !r.duplicate)).toEqual([first]);
    expect(new Set(results.map((r) => r.job.id))).toEqual(new Set([rows[0]!.id]));
    expect(results.every((r) => r.job.state === 'available' && r.job.args.user === user)).toBe(true);
  });

  it(`${N - 1} roll back, 1 commits: duplicates only ever point at the committed job`, async () => {
    const user = 'race-rollback';
    const COMMITTER = 5; // the fifth transaction to hold the key commits; the four before it roll back
    const holders: UniqueInsert<Args>[] = [];
    const settled = await Promise.allSettled(
      Array.from({ length: N }, () =>
        runTx(
          (tx) => q.insert(main, { user }, { unique: {}, tx }),
          async (result) => {
            if (result.duplicate) return 'rollback';
            holders.push(result);
            // Decide only once every transaction still inserting waits on this one.
            const waiting = N - holders.length;
            await waitFor(async () => (await blocked(app)) === waiting, `${waiting} inserts blocked on holder ${holders.length}`, 15_000);
            return holders.length === COMMITTER ? 'commit' : 'rollback';
          },
        ),
      ),
    );
    const results = fulfilled(settled);
    const committed = holders[COMMITTER - 1]!;
    const rows = await rowsOf(main.name, user);
    expect(rows).toEqual([{ id: committed.job.id, state: 'available' }]);
    // The holders that rolled back inserted their own rows (each a fresh id), then nobody saw them.
    expect(holders).toHaveLength(COMMITTER);
    expect(new Set(holders.map((h) => h.job.id)).size).toBe(COMMITTER);
    const duplicates = results.filter((r) => r.duplicate);
    expect(duplicates).toHaveLength(N - COMMITTER);
    expect(duplicates.map((r) => r.job.id)).toEqual(Array(N - COMMITTER).fill(committed.job.id));
    expect(await q.getJob(committed.job.id)).toMatchObject({ state: 'available', args: { user } });
  });

  it('concurrent insertMany calls with the same keys in different orders never deadlock and agree', async () => {
    const users = Array.from({ length: 30 }, (_, i) => `many-${i}`);
    const calls = Array.from({ length: 8 }, (_, k) =>
      q.insertMany(main, (k % 2 === 0 ? users : [...users].reverse()).map((user) => ({ user })), { unique: {} }),
    );
    const results = fulfilled(await Promise.allSettled(calls));
    const { rows } = await db.pool.query<{ user: string; id: string }>(
      `SELECT args->>'user' AS user, id::text AS id FROM "${db.schema}".jobs WHERE worker = $1 AND args->>'user' LIKE 'many-%'`,
      [main.name],
    );
    expect(rows).toHaveLength(users.length);
    const idOf = new Map(rows.map((r) => [r.user, r.id]));
    for (const result of results) for (const { job } of result) expect(job.id).toBe(idOf.get(job.args.user));
    // Each key was inserted by exactly one call.
    const fresh = results.flat().filter((r) => !r.duplicate);
    expect(fresh.map((r) => r.job.args.user).sort()).toEqual([...users].sort());
  });

  it('a conflict with an executing job returns it executing and emits job:unique_conflict', async () => {
    const runner = await db.queue({ connection, workers, queues: { [exec.queue]: 1 } });
    queues.push(runner);
    await runner.start();
    const started = nextEvent(runner, 'job:start');
    const { job, duplicate } = await q.insert(exec, { user: 'block-1' }, { unique: {} });
    expect(duplicate).toBe(false);
    expect((await started).job.id).toBe(job.id);

    const conflict = nextEvent(q, 'job:unique_conflict');
    const again = await q.insert(exec, { user: 'block-1' }, { unique: {} });
    expect(again.duplicate).toBe(true);
    expect(again.job).toMatchObject({ id: job.id, state: 'executing', attempt: 1, attemptedBy: runner.nodeId });
    const event = await conflict;
    expect(event.job).toMatchObject({ id: job.id, state: 'executing' });
    expect(event.args).toEqual({ user: 'block-1' });

    // Once it completed, the default states no longer hold the key: a new job goes in.
    const completed = nextEvent(runner, 'job:complete', ({ job: j }) => j.id === job.id);
    release();
    await completed;
    const after = await q.insert(exec, { user: 'block-1' }, { unique: {} });
    expect(after.duplicate).toBe(false);
    expect(after.job.id).not.toBe(job.id);
    await waitFor(async () => (await q.getJob(after.job.id))?.state === 'completed', 'the second job to complete');
    expect(await rowsOf(exec.name, 'block-1')).toEqual([
      { id: job.id, state: 'completed' },
      { id: after.job.id, state: 'completed' },
    ]);

    // With `completed` among the states, a completed job does hold its key.
    const states = [...REQUIRED, 'completed'] as const;
    const kept = await q.insert(exec, { user: 'done-holds' }, { unique: { states } });
    await waitFor(async () => (await q.getJob(kept.job.id))?.state === 'completed', 'the job to complete');
    const blockedByCompleted = await q.insert(exec, { user: 'done-holds' }, { unique: { states } });
    expect(blockedByCompleted).toMatchObject({ duplicate: true, job: { id: kept.job.id, state: 'completed', result: 'ran done-holds' } });
    expect(await rowsOf(exec.name, 'done-holds')).toEqual([{ id: kept.job.id, state: 'completed' }]);
  });

  it('period: the same job within one window is a duplicate; in the next window it is not', async () => {
    const hourly = await insert({ user: 'period' }, { period: 3600 });
    const again = await insert({ user: 'period' }, { period: 3600 });
    expect(again).toMatchObject({ duplicate: true, job: { id: hourly.job.id } });
    // A window of one second: wait (by the database clock) until the next one began.
    const a = await insert({ user: 'period-1s' }, { period: 1 });
    expect(a.duplicate).toBe(false);
    const { rows } = await db.pool.query<{ since: number }>(
      `SELECT floor(extract(epoch FROM inserted_at))::float8 AS since FROM "${db.schema}".jobs WHERE id = $1`,
      [a.job.id],
    );
    await waitFor(async () => {
      const now = await db.pool.query<{ s: number }>(`SELECT floor(extract(epoch FROM now()))::float8 AS s`);
      return now.rows[0]!.s > rows[0]!.since;
    }, 'the next one-second window');
    const b = await insert({ user: 'period-1s' }, { period: 1 });
    expect(b.duplicate).toBe(false);
    expect(b.job.id).not.toBe(a.job.id);
    // Both are still available: only the window told them apart.
    expect(await rowsOf(main.name, 'period-1s')).toEqual([
      { id: a.job.id, state: 'available' },
      { id: b.job.id, state: 'available' },
    ]);
    for (const period of [0, -5, 1.5, Number.NaN, 'hourly']) {
      await expect(insert({ user: 'period-bad' }, { period })).rejects.toBeInstanceOf(ConfigError);
    }
    expect(await rowsOf(main.name, 'period-bad')).toEqual([]);
  });

  it('by: arg keys, worker and queue decide what counts as the same job', async () => {
    // Default by (worker, queue, args): key order of args does not matter, any other value does.
    const base = await insert({ user: 'by', n: 1, extra: 'x' });
    expect((await q.insert(main, { extra: 'x', n: 1, user: 'by' }, { unique: {} })).duplicate).toBe(true);
    expect((await insert({ user: 'by', n: 1, extra: 'y' })).duplicate).toBe(false);
    // Another worker with the same args on the same queue is another job...
    const otherJob = await q.insert(other, { user: 'by', n: 1, extra: 'x' }, { unique: {} });
    expect(otherJob.duplicate).toBe(false);
    expect(otherJob.job.id).not.toBe(base.job.id);
    // ...unless `by` leaves the worker out.
    const byQueue = { by: ['queue', 'args'] as const };
    const q1 = await insert({ user: 'by-queue' }, byQueue);
    const q2 = await q.insert(other, { user: 'by-queue' }, { unique: byQueue });
    expect(q2).toMatchObject({ duplicate: true, job: { id: q1.job.id, worker: main.name } });

    // by arg keys: args that differ only in other keys are duplicates.
    const byUser = { by: ['worker', ['user']] as const };
    const u1 = await insert({ user: 'by-key', n: 1, extra: 'a' }, byUser);
    const u2 = await insert({ user: 'by-key', n: 2 }, byUser);
    expect(u2).toMatchObject({ duplicate: true, job: { id: u1.job.id, args: { user: 'by-key', n: 1, extra: 'a' } } });
    expect((await insert({ user: 'by-key-2', n: 1, extra: 'a' }, byUser)).duplicate).toBe(false);
    expect(await rowsOf(main.name, 'by-key')).toEqual([{ id: u1.job.id, state: 'available' }]);

    for (const by of [[], ['nope'], [[]], [['']], 'worker']) {
      await expect(insert({ user: 'by-bad' }, { by })).rejects.toBeInstanceOf(ConfigError);
    }
    expect(await rowsOf(main.name, 'by-bad')).toEqual([]);
  });

  it('states must include every pending state; a bad list writes nothing', async () => {
    for (const missing of REQUIRED) {
      const states = REQUIRED.filter((s) => s !== missing);
      await expect(insert({ user: 'states-bad' }, { states })).rejects.toThrow(ConfigError);
      await expect(insert({ user: 'states-bad' }, { states: [...states, 'completed'] })).rejects.toThrow(missing);
    }
    await expect(insert({ user: 'states-bad' }, { states: [...REQUIRED, 'finished'] })).rejects.toBeInstanceOf(ConfigError);
    await expect(q.insertMany(main, [{ user: 'states-bad' }, { user: 'states-bad-2' }], { unique: { states: ['available'] } })).rejects.toBeInstanceOf(
      ConfigError,
    );
    const { rows } = await db.pool.query(`SELECT 1 FROM "${db.schema}".jobs WHERE args->>'user' LIKE 'states-bad%'`);
    expect(rows).toEqual([]);
    // The listed states, in any order and with duplicates, are the default.
    const a = await insert({ user: 'states-ok' }, { states: [...REQUIRED].reverse() });
    const b = await insert({ user: 'states-ok' }, { states: [...REQUIRED, 'available'] });
    const c = await insert({ user: 'states-ok' });
    expect([a.duplicate, b.duplicate, c.duplicate]).toEqual([false, true, true]);
    expect(c.job.id).toBe(a.job.id);
  });

  it('retry never brings back a finished unique job while a newer one holds its key', async () => {
    const old = await insert({ user: 'retry-held' });
    await q.cancel(old.job.id);
    const fresh = await insert({ user: 'retry-held' });
    expect(fresh.duplicate).toBe(false);
    // retry() is documented to throw UniqueConflictError here; leaving the job as it is keeps the key safe too.
    const outcome = await q.retry(old.job.id).then((job) => job?.state, (error: { code?: string }) => error.code);
    expect(['cancelled', 'DOCKET_UNIQUE_CONFLICT']).toContain(outcome);
    expect(await q.retryJobs({ ids: [old.job.id] })).toBe(0);
    expect(await rowsOf(main.name, 'retry-held')).toEqual([
      { id: old.job.id, state: 'cancelled' },
      { id: fresh.job.id, state: 'available' },
    ]);
    // Once the newer job is finished, the old one may run again, and holds the key again.
    await q.cancel(fresh.job.id);
    expect(await q.retry(old.job.id)).toMatchObject({ id: old.job.id, state: 'available' });
    expect(await insert({ user: 'retry-held' })).toMatchObject({ duplicate: true, job: { id: old.job.id } });
  });

  it('insertMany: duplicates within the batch and against existing rows', async () => {
    const conflicts: string[] = [];
    const onConflict = ({ job }: { job: Job }): void => void conflicts.push(job.id);
    q.on('job:unique_conflict', onConflict);
    try {
      const first = await q.insertMany(main, ['m-a', 'm-b', 'm-a', 'm-c', 'm-b', 'm-a'].map((user) => ({ user })), { unique: {} });
      expect(first.map((r) => r.duplicate)).toEqual([false, false, true, false, true, true]);
      expect(first.map((r) => r.job.args.user)).toEqual(['m-a', 'm-b', 'm-a', 'm-c', 'm-b', 'm-a']);
      const [a, b, , c] = first.map((r) => r.job.id);
      expect(first.map((r) => r.job.id)).toEqual([a, b, a, c, b, a]);
      expect(new Set([a, b, c]).size).toBe(3);
      expect(conflicts).toEqual([a, b, a]);

      const second = await q.insertMany(main, ['m-c', 'm-d', 'm-a', 'm-d'].map((user) => ({ user })), { unique: {} });
      expect(second.map((r) => r.duplicate)).toEqual([true, false, true, true]);
      const d = second[1]!.job.id;
      expect(second.map((r) => r.job.id)).toEqual([c, d, a, d]);
      expect(conflicts).toEqual([a, b, a, c, a, d]);

      const { rows } = await db.pool.query<{ user: string; id: string }>(
        `SELECT args->>'user' AS user, id::text AS id FROM "${db.schema}".jobs WHERE worker = $1 AND args->>'user' LIKE 'm-%' ORDER BY 1`,
        [main.name],
      );
      expect(rows).toEqual([
        { user: 'm-a', id: a },
        { user: 'm-b', id: b },
        { user: 'm-c', id: c },
        { user: 'm-d', id: d },
      ]);
    } finally {
      q.off('job:unique_conflict', onConflict);
    }
  });
});
