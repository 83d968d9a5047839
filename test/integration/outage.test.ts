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

/**
 * A postgres.js client for a test that kills its connections, with two settings that keep
 * postgres.js (3.4.9) bugs out of a test about docket:
 * - fetch_types: false. postgres.js fetches array types on every (re)connect and does not handle
 *   that query's rejection: a connection terminated, or destroyed by end(), during that fetch
 *   becomes an unhandled rejection. (docket reads no arrays this test looks at; see the report
 *   for what fetch_types: false does to `job.tags`.)
 * - connect_timeout: 2 (s). After pg_terminate_backend, a reconnect sometimes hangs until the
 *   connect timeout (default 30 s) before the query fails and docket retries.
 */
function killablePostgresJs(app: string, max: number): postgres.Sql {
  return createPostgresJs(db.url, app, { max, fetch_types: false, connect_timeout: 2 });
}

/**
 * PostgreSQL reads pg_stat_activity once per transaction and serves that copy until the
 * transaction ends; the kill helpers poll it inside the transaction holding the table lock, so
 * each read first drops the copy or it would never see a backend change state.
 */
async function freshActivity(admin: pg.Client): Promise<void> {
  await admin.query('SELECT pg_stat_clear_snapshot()');
}

/** Backends of `app` whose last statement was LISTEN (the queue's LISTEN connection). */
async function listenPids(admin: pg.Client, app: string): Promise<number[]> {
  await freshActivity(admin);
  const { rows } = await admin.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'listen %' AND state = 'idle'`,
    [app],
  );
  return rows.map((r) => r.pid);
}

/** Terminates every backend of `app`; returns those terminated and the LISTEN one among them. */
async function terminateAll(admin: pg.Client, app: string): Promise<{ killed: number[]; listenPid: number }> {
  const [listenPid] = await listenPids(admin, app);
  await freshActivity(admin);
  const { rows } = await admin.query<{ pid: number; ok: boolean }>(
    `SELECT pid, pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1`,
    [app],
  );
  return { killed: rows.filter((r) => r.ok).map((r) => r.pid), listenPid: listenPid ?? -1 };
}

/** Waits until every backend of `app` is idle (none starting up, none running a statement). */
async function quiet(admin: pg.Client, app: string): Promise<void> {
  await waitFor(async () => {
    const { rows } = await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state IS DISTINCT FROM 'idle'`,
      [app],
    );
    return rows[0]!.n === 0;
  }, `the connections of ${app} to be idle`);
}

/**
 * Kill style 1: terminate the queue's backends while its queries are blocked in flight (and
 * nothing else of the queue runs, so no statement can be caught between COMMIT and reply).
 */
async function killInFlight(admin: pg.Client, app: string, schema: string, done: () => number, locked: () => void): Promise<Kill> {
  await admin.query('BEGIN');
  try {
    await admin.query(`LOCK TABLE "${schema}".jobs IN ACCESS EXCLUSIVE MODE`);
    const doneAtKill = done();
    locked();
    let blocked = 0;
    await waitFor(async () => {
      await freshActivity(admin);
      const { rows } = await admin.query<{ blocked: number; busy: number }>(
        `SELECT count(*) FILTER (WHERE wait_event_type = 'Lock')::int AS blocked,
                count(*) FILTER (WHERE state IS DISTINCT FROM 'idle' AND wait_event_type IS DISTINCT FROM 'Lock')::int AS busy
         FROM pg_stat_activity WHERE application_name = $1`,
        [app],
      );
      blocked = rows[0]!.blocked;
      return blocked > 0 && rows[0]!.busy === 0;
    }, 'a query of the queue blocked on the lock, and nothing else running');
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
    if (kind === 'pg') {
      pool = createPgPool(db.url, app, { max: 10 });
    } else {
      sql = killablePostgresJs(app, 4);
    }

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
    // The choreography counts performs in the order they start, never by job index: which jobs
    // a node runs first depends on how much it prefetched and what it handed back, but with ten
    // slots, at most ten performs can be held at once and every other one finishes.
    let performs = 0;
    let finished = 0;
    // Performs past LOCK_GATE_FROM wait until the first kill's lock is in place: on a busy
    // machine the queue could otherwise drain past 60 % before the lock is granted. Once it is,
    // they finish and their acks block on it (the queries in flight that kill 1 needs).
    const LOCK_GATE_FROM = TOTAL * 0.3;
    let openLockGate!: () => void;
    const lockGate = new Promise<void>((resolve) => (openLockGate = resolve));
    // The ten performs after the first HELD_FROM ones wait mid-perform until the second kill is over.
    const HELD_FROM = TOTAL * 0.6;
    let held = 0;
    let releaseHeld!: () => void;
    const heldGate = new Promise<void>((resolve) => (releaseHeld = resolve));
    const queueErrors: { context: string; error: unknown }[] = [];
    const worker = new Worker({
      name: `outage-${kind}`,
      queue: queueName,
      args: z.object({ i: z.number().int() }),
      perform: async (job) => {
        const key = `${job.id}:${job.attempt}`;
        runs.set(key, (runs.get(key) ?? 0) + 1);
        runIds.set(job.id, (runIds.get(job.id) ?? 0) + 1);
        const n = ++performs;
        if (n > LOCK_GATE_FROM) await lockGate;
        if (n > HELD_FROM && n <= HELD_FROM + 10) {
          held++;
          await heldGate;
        }
        await new Promise<void>((resolve) => setImmediate(resolve));
        finished++;
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

      // Kill 1, at ~25 %: queries in flight.
      await waitFor(() => done >= TOTAL * 0.25, '25 % done');
      const first = await killInFlight(admin, app, db.schema, () => done, openLockGate);
      expect(first.doneAtKill).toBeLessThan(HELD_FROM);
      expect(first.blocked).toBeGreaterThan(0);
      expect(first.killed).toContain(first.listenPid);
      expect(first.killed.length).toBeGreaterThan(1);

      // The LISTEN connection comes back, so the next kill hits it again.
      await waitFor(async () => (await listenPids(admin, app)).some((pid) => !first.killed.includes(pid)), 'LISTEN reconnected after kill 1');

      // Kill 2, at ~60 %: every slot holds a running job, no query is running.
      // (Every other perform acked first: acks may still be waiting out a retry backoff; and the
      // node holds no claim beyond its ten running jobs: a prefetch buffer is handed back once
      // every slot is busy with a job that does not finish.)
      await waitFor(() => held === 10 && done === finished, 'ten jobs held mid-perform, every other one acked');
      await waitFor(
        async () => (await db.count(`queue = '${queueName}' AND state = 'executing'`)) === 10,
        'no claim but the ten held jobs',
      );
      await quiet(admin, app);
      const second = await terminateAll(admin, app);
      releaseHeld();
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
      // timeout 0: postgres.js's end() otherwise waits its full timeout after a connection was
      // killed mid-query (a postgres.js quirk, unrelated to docket).
      await sql?.end({ timeout: 0 });
    }
  });
});

// stop() must drop docket's LISTEN from the host's postgres.js `sql` (docket does not own `sql`,
// so UNLISTEN is all it can do). postgres.js re-creates its listeners when the LISTEN
// connection is re-established; the `unlisten` docket kept from the first LISTEN then no longer
// matches anything, so stop() silently leaves the channel LISTENed and the stopped queue's
// callbacks registered on the host's `sql`.
describe('postgres.js: stop() removes the LISTEN it added', () => {
  it.each([
    ['when the LISTEN connection never dropped', false],
    ['after the LISTEN connection was re-established', true],
  ])('%s', async (_label, kill) => {
    const app = `dkt-unlisten-${kill ? 'k' : 'n'}-${db.schema}`;
    const admin = new pg.Client({ connectionString: db.url, application_name: `dkt-admin-${db.schema}` });
    await admin.connect();
    const sql = killablePostgresJs(app, 2);
    const queue = await db.queue({ connection: sql, queues: { [`unlisten-${kill}`]: 1 }, pollInterval: 60_000 });
    try {
      await queue.start();
      await waitFor(async () => (await listenPids(admin, app)).length === 1, 'the LISTEN connection');
      if (kill) {
        await quiet(admin, app);
        const { killed } = await terminateAll(admin, app);
        await waitFor(async () => (await listenPids(admin, app)).some((pid) => !killed.includes(pid)), 'LISTEN re-established');
      }
      await queue.stop();
      // stop() closed docket's own LISTEN connection; the server process behind it exits
      // asynchronously, so wait for it to leave pg_stat_activity (it never would if it stayed open).
      await waitFor(async () => (await listenPids(admin, app)).length === 0, 'no LISTEN left', 5_000);
      expect(await listenPids(admin, app)).toEqual([]);
    } finally {
      await queue.stop();
      await admin.end();
      await sql.end({ timeout: 0 });
    }
  });
});
