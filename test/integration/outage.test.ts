// The database kills the queue's connections under load (pg_terminate_backend, as a failover or
// an admin would): the queue must report the errors, reconnect, and finish every job exactly
// once, for both drivers, and its LISTEN connection must come back too.
//
// Two kinds of kill, both at moments where nothing can be half-committed (a kill landing between a
// fetch's COMMIT and its reply would strand the claimed jobs in `executing` until a rescue, which
// the core does not do):
// - at ~25 %: the admin connection takes an ACCESS EXCLUSIVE lock on the jobs table, waits until
//   the queue's fetches/acks are blocked on it (in flight), terminates every backend of the
//   queue (pool and LISTEN connection alike), then rolls back;
// - at ~60 %: ten jobs are held mid-perform (every slot busy, no query running), every backend
//   of the queue is terminated, then the jobs are released and must ack on fresh connections.
import pg from 'pg';
import type postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Worker } from '../../src/index.js';
import { createPgPool, createPostgresJs } from '../support/db.js';
import { nextEvent, useSchema, waitFor } from '../support/queue.js';

const db = useSchema('outage');

const TOTAL = 2_000;
const CHUNK = 500;

interface Kill {
  /** Backends terminated (pool connections and the LISTEN connection). */
  readonly killed: number[];
  /** The LISTEN connection's pid at the time of the kill. */
  readonly listenPid: number;
  /** How many of the queue's queries were blocked (in flight) when the kill hit. */
  readonly blocked: number;
  /** Jobs completed when the kill hit. */
  readonly doneAtKill: number;
}

/** Backends of `app` whose last statement was LISTEN (the queue's LISTEN connection). */
async function listenPids(admin: pg.Client, app: string): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'listen %' AND state = 'idle'`,
    [app],
  );
  return rows.map((r) => r.pid);
}

/** Terminates every backend of `app`; returns those terminated and the LISTEN one among them. */
async function terminateAll(admin: pg.Client, app: string): Promise<{ killed: number[]; listenPid: number }> {
  const [listenPid] = await listenPids(admin, app);
  const { rows } = await admin.query<{ pid: number; ok: boolean }>(
    `SELECT pid, pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1`,
    [app],
  );
  return { killed: rows.filter((r) => r.ok).map((r) => r.pid), listenPid: listenPid ?? -1 };
}

/** Kill style 1: terminate the queue's backends while its queries are blocked in flight. */
async function killInFlight(admin: pg.Client, app: string, schema: string, done: () => number): Promise<Kill> {
  await admin.query('BEGIN');
  try {
    await admin.query(`LOCK TABLE "${schema}".jobs IN ACCESS EXCLUSIVE MODE`);
    const doneAtKill = done();
    let blocked = 0;
    await waitFor(async () => {
      const { rows } = await admin.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
        [app],
      );
      blocked = rows[0]!.n;
      return blocked > 0;
    }, 'a query of the queue blocked on the lock');
    return { ...(await terminateAll(admin, app)), blocked, doneAtKill };
  } finally {
    await admin.query('ROLLBACK');
  }
}

describe.each(['pg', 'postgres'] as const)('connections killed under load (%s driver)', (kind) => {
  it('recovers with every job completed exactly once, and LISTEN comes back', async () => {
    const app = `dkt-outage-${kind}-${db.schema}`;
    const queueName = `outage-${kind}`;
    const admin = new pg.Client({ connectionString: db.url, application_name: `dkt-admin-${db.schema}` });
    await admin.connect();
    let pool: pg.Pool | undefined;
    let sql: postgres.Sql | undefined;
    if (kind === 'pg') pool = createPgPool(db.url, app, { max: 10 });
    else sql = createPostgresJs(db.url, app, { max: 10 });

    // Anything escaping the queue as an unhandled rejection or exception fails the test (vitest
    // would fail the run anyway; this names the culprit in this test).
    const escaped: unknown[] = [];
    const onEscape = (reason: unknown): void => {
      escaped.push(reason);
    };
    process.on('unhandledRejection', onEscape);
    process.on('uncaughtException', onEscape);

    const runs = new Map<string, number>(); // `${id}:${attempt}` -> executions
    const runIds = new Map<string, number>(); // id -> executions
    let done = 0;
    const queueErrors: { context: string; error: unknown }[] = [];
    const worker = new Worker({
      name: `outage-${kind}`,
      queue: queueName,
      args: z.object({ i: z.number().int() }),
      perform: async (job) => {
        const key = `${job.id}:${job.attempt}`;
        runs.set(key, (runs.get(key) ?? 0) + 1);
        runIds.set(job.id, (runIds.get(job.id) ?? 0) + 1);
        await new Promise<void>((resolve) => setImmediate(resolve));
        return job.args.i;
      },
    });
    // pollInterval is far beyond the test: only NOTIFY, a finished job, a reconnect or a fetch
    // retry can wake a producer.
    const queue = await db.queue({ connection: pool ?? sql!, workers: [worker], queues: { [queueName]: 10 }, pollInterval: 60_000 });
    queue.on('job:complete', () => done++);
    queue.on('queue:error', (e) => queueErrors.push(e));

    try {
      await queue.start();
      await waitFor(async () => (await listenPids(admin, app)).length === 1, 'the LISTEN connection');

      const ids: string[] = [];
      for (let offset = 0; offset < TOTAL; offset += CHUNK) {
        const jobs = await queue.insertMany(worker, Array.from({ length: CHUNK }, (_, k) => ({ i: offset + k })));
        ids.push(...jobs.map((j) => j.id));
      }

      // Kill 1, at ~25 %.
      await waitFor(() => done >= TOTAL * 0.25, '25 % done');
      const first = await killUnderLoad(admin, app, db.schema, () => done);
      expect(first.doneAtKill).toBeLessThan(TOTAL);
      expect(first.blocked).toBeGreaterThan(0);
      expect(first.killed).toContain(first.listenPid);
      expect(first.killed.length).toBeGreaterThan(1);

      // The LISTEN connection comes back before the next kill, so that kill hits it again.
      await waitFor(async () => (await listenPids(admin, app)).some((pid) => !first.killed.includes(pid)), 'LISTEN reconnected after kill 1');

      // Kill 2, at ~60 % (or as soon as the queue is back at work, if it already passed 60 %).
      await waitFor(() => done >= TOTAL * 0.6 || done > first.doneAtKill + 50, '60 % done');
      const second = await killUnderLoad(admin, app, db.schema, () => done);
      expect(second.doneAtKill).toBeLessThan(TOTAL);
      expect(second.blocked).toBeGreaterThan(0);
      expect(second.killed).toContain(second.listenPid);
      expect(second.listenPid).not.toBe(first.listenPid);

      // Everything completes, in the database.
      await waitFor(
        async () => (await db.count(`queue = '${queueName}' AND state = 'completed'`)) === TOTAL,
        `all ${TOTAL} jobs completed`,
        30_000,
      );
      await waitFor(() => done === TOTAL, `a job:complete event for every job (${done})`);

      // Exactly once per (id, attempt), and in fact exactly once per job: no claim was lost, so
      // nothing needed a second attempt.
      expect([...runs.values()].every((n) => n === 1)).toBe(true);
      expect(runIds.size).toBe(TOTAL);
      expect(ids.filter((id) => runIds.get(id) !== 1)).toEqual([]);
      const { rows } = await db.pool.query<{ attempt: number; n: number }>(
        `SELECT attempt, count(*)::int AS n FROM "${db.schema}".jobs WHERE queue = $1 GROUP BY attempt`,
        [queueName],
      );
      expect(rows).toEqual([{ attempt: 1, n: TOTAL }]);

      // The kills were seen: queries in flight failed and were reported, then retried.
      expect(queueErrors.length).toBeGreaterThan(0);
      const contexts = new Set(queueErrors.map((e) => e.context.split(' ')[0]));
      expect([...contexts].some((c) => c === 'fetch' || c === 'ack' || c === 'stage')).toBe(true);
      if (kind === 'pg') expect(contexts).toContain('listen');

      // LISTEN recovered: with the queue idle and polling out of the picture, a new job starts
      // only if its NOTIFY reaches a live LISTEN connection.
      const killed = [...first.killed, ...second.killed];
      await waitFor(async () => (await listenPids(admin, app)).some((pid) => !killed.includes(pid)), 'LISTEN reconnected after kill 2');
      const started = nextEvent(queue, 'job:start', ({ job }) => job.args !== null && (job.args as { i: number }).i === -1, 10_000);
      const completed = nextEvent(queue, 'job:complete', ({ job }) => (job.args as { i: number }).i === -1, 10_000);
      const late = await queue.insert(worker, { i: -1 });
      expect((await started).job.id).toBe(late.id);
      expect((await completed).job.state).toBe('completed');

      await queue.stop({ timeout: 5_000 });
      expect(escaped).toEqual([]);
    } finally {
      process.off('unhandledRejection', onEscape);
      process.off('uncaughtException', onEscape);
      await queue.stop({ timeout: 1_000 });
      await admin.end();
      await pool?.end();
      await sql?.end({ timeout: 1 });
    }
  });
});
