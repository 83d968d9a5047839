// Cron and persisted schedules: CRUD through queue.schedules from any node, typed errors with
// nothing stored, one job per tick (unique key 'cron:<name>:<tick ISO>', even when a tick is
// processed twice), missed ticks skipped or the last one enqueued, and runtime changes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ArgsValidationError, ConfigError, Cron, UnknownWorkerError, Worker } from '../../src/index.js';
import type { Queue } from '../../src/index.js';
import { ticksBetween } from '../../src/cron/expression.js';
import { createPostgresJs } from '../support/db.js';
import { useSchema, waitFor } from '../support/queue.js';
import { finishBySql } from '../support/storage.js';

const db = useSchema('cron');
const declaredDb = useSchema('cron_declared');

const report = new Worker({ name: 'report', queue: 'cron', args: z.object({ label: z.string() }), perform: (job) => job.args.label });

type CronJobRow = { key: string; tick: number; tags: string[]; args: unknown; priority: number; max_attempts: number; state: string; meta: unknown };
/** Jobs of schedule `name`, by tick. */
async function cronJobs(name: string, pool = db.pool, schema = db.schema): Promise<CronJobRow[]> {
  const prefix = `cron:${name}:`;
  const { rows } = await pool.query<Omit<CronJobRow, 'tick'>>(
    `SELECT unique_key AS key, tags, args, priority, max_attempts, state::text, meta FROM "${schema}".jobs WHERE unique_key LIKE $1 ORDER BY unique_key`,
    [`${prefix}%`],
  );
  return rows.map((r) => ({ ...r, tick: Date.parse(r.key.slice(prefix.length)) }));
}
const dbNow = async (): Promise<number> =>
  Number((await db.pool.query<{ t: number }>('SELECT extract(epoch FROM clock_timestamp()) * 1000 AS t')).rows[0]!.t);

/** Every tick appears once, and ticks are consecutive for the expression. */
function expectConsecutive(jobs: readonly CronJobRow[], expression: string): void {
  const ticks = jobs.map((j) => j.tick);
  expect(ticks.every((t) => Number.isFinite(t))).toBe(true);
  expect(new Set(jobs.map((j) => j.key)).size).toBe(jobs.length);
  expect(ticksBetween(expression, 'UTC', ticks[0]! - 1, ticks.at(-1)!)).toEqual(ticks);
}

let leader: Queue;
beforeAll(async () => {
  // The leader: runs Cron, never runs the jobs (so every job stays to be counted).
  leader = await db.queue({ workers: [report], queues: {}, leaseTtl: 1_000, plugins: [new Cron({ interval: 200 })] });
  await leader.start();
  await waitFor(() => leader.isLeader, 'the leader');
});

describe('queue.schedules', () => {
  const sql = createPostgresJs(db.url, 'dkt-cron-other', { max: 2 });
  afterAll(() => sql.end({ timeout: 1 }));

  it('set / list / get / remove, persisted and seen by another Queue instance', async () => {
    const admin = await db.queue({ workers: [report], queues: {} }); // never started
    const def = {
      name: 'nightly',
      expression: '30 2 * * *',
      timezone: 'Europe/London',
      worker: report,
      args: { label: 'n' },
      opts: { priority: 2, maxAttempts: 3, tags: ['t1'] },
      missed: 'last' as const,
    };
    const stored = await admin.schedules.set(def);
    expect(stored).toMatchObject({ name: 'nightly', expression: '30 2 * * *', timezone: 'Europe/London', worker: 'report', args: { label: 'n' } });
    expect(stored).toMatchObject({ opts: { priority: 2, maxAttempts: 3, tags: ['t1'] }, missed: 'last', lastAt: null });
    const { nextAt: _computedLater, ...storedFields } = stored;
    expect(await admin.schedules.get('nightly')).toMatchObject(storedFields);
    const plain = await admin.schedules.set({ name: 'plain', expression: '0 * * * *', worker: 'report', args: { label: 'p' } });
    expect(plain).toMatchObject({ timezone: 'UTC', opts: {}, missed: 'skip' });
    expect(await admin.schedules.get('nope')).toBeNull();

    // The leader computes nextAt: the first 02:30 London time after now.
    await waitFor(async () => (await admin.schedules.get('nightly'))?.nextAt != null, 'nextAt');
    const next = (await admin.schedules.get('nightly'))!.nextAt!;
    expect(next.getTime()).toBe(ticksBetween('30 2 * * *', 'Europe/London', Date.now() - 1, Date.now() + 2 * 86_400_000)[0]);

    // Another Queue instance, another driver, same schema.
    const other = await db.queue({ connection: sql, workers: [report], queues: {} });
    expect((await other.schedules.list()).map((s) => s.name)).toEqual(['nightly', 'plain']);
    expect(await other.schedules.get('nightly')).toEqual(await admin.schedules.get('nightly'));
    // Changing args keeps the computed nextAt; it is the same schedule.
    const changed = await other.schedules.set({ ...def, worker: 'report', args: { label: 'n2' } });
    expect(changed).toMatchObject({ args: { label: 'n2' }, nextAt: next });
    expect(await admin.schedules.get('nightly')).toMatchObject({ args: { label: 'n2' } });
    expect(await admin.schedules.remove('nightly')).toBe(true);
    expect(await other.schedules.remove('nightly')).toBe(false);
    expect(await other.schedules.remove('plain')).toBe(true);
    expect(await admin.schedules.list()).toEqual([]);

    // A Queue with no workers (an admin script, the CLI) cannot know the worker: it stores the
    // schedule unchecked by worker and args (the Cron plugin checks them at each tick); one with
    // workers still refuses a worker it does not know.
    const bare = await db.queue({ queues: {} });
    expect(await bare.schedules.set({ name: 'from-cli', expression: '0 3 * * *', worker: 'report', args: { label: 'cli' } })).toMatchObject({ worker: 'report' });
    await expect(bare.schedules.set({ name: 'bad', expression: 'whenever', worker: 'report' })).rejects.toBeInstanceOf(ConfigError);
    await expect(admin.schedules.set({ name: 'typo', expression: '0 3 * * *', worker: 'reprot' })).rejects.toThrow(/reprot/);
    expect(await bare.schedules.remove('from-cli')).toBe(true);
  });

  it('bad definitions are typed errors and store nothing', async () => {
    const good = { name: 'guarded', expression: '0 * * * *', worker: report, args: { label: 'g' } };
    await leader.schedules.set(good);
    // What a definition stores; nextAt and lastAt belong to the running Cron plugin, whose next
    // pass may compute guarded's first tick at any moment during this test.
    const definitions = async (): Promise<unknown[]> =>
      (await leader.schedules.list()).map(({ nextAt: _next, lastAt: _last, ...definition }) => definition);
    const before = await definitions();
    const cases: [object, new (...args: never[]) => Error][] = [
      [{ ...good, expression: '61 * * * *' }, ConfigError],
      [{ ...good, expression: 'whenever' }, ConfigError],
      [{ ...good, timezone: 'Mars/Olympus' }, ConfigError],
      [{ ...good, worker: 'no-such-worker' }, UnknownWorkerError],
      [{ ...good, args: { label: 5 } }, ArgsValidationError],
      [{ ...good, args: undefined }, ArgsValidationError],
      [{ ...good, opts: { priority: 100_000 } }, ConfigError],
      [{ ...good, opts: { maxAttempts: 0 } }, ConfigError],
      [{ ...good, opts: { tags: [''] } }, ConfigError],
      [{ ...good, missed: 'all' }, ConfigError],
      [{ ...good, name: '' }, ConfigError],
      [{ ...good, name: 'x'.repeat(129) }, ConfigError],
      [{ ...good, name: 'fresh-bad', expression: '61 * * * *' }, ConfigError],
    ];
    for (const [def, type] of cases) {
      await expect(leader.schedules.set(def as never), JSON.stringify(def)).rejects.toBeInstanceOf(type);
    }
    expect(await definitions()).toEqual(before);
    expect(await leader.schedules.get('fresh-bad')).toBeNull();
    // The Cron plugin checks what it can at construction.
    expect(() => new Cron({ timezone: 'Mars/Olympus' })).toThrow(ConfigError);
    expect(() => new Cron({ jobs: [{ ...good, expression: '61 * * * *' }] })).toThrow(ConfigError);
    expect(() => new Cron({ jobs: [good, good] })).toThrow(ConfigError);
    expect(() => new Cron({ grace: -1 })).toThrow(ConfigError);
    await leader.schedules.remove('guarded');
  });
});

describe('Cron', () => {
  it('an every-second schedule enqueues exactly one job per tick, with its args, opts and tag', async () => {
    const setAt = await dbNow();
    const s = await leader.schedules.set({ name: 'each-second', expression: '* * * * * *', worker: report, args: { label: 'es' }, opts: { priority: 3, maxAttempts: 2, tags: ['mine'] } });
    expect(s.nextAt).toBeNull();
    await waitFor(async () => (await cronJobs('each-second')).length >= 4, '4 ticks');
    await leader.schedules.remove('each-second');
    const jobs = await cronJobs('each-second');
    expectConsecutive(jobs, '* * * * * *');
    expect(jobs[0]!.tick).toBeGreaterThan(setAt); // starts from the next tick after it was set
    for (const j of jobs) {
      expect(j.key).toBe(`cron:each-second:${new Date(j.tick).toISOString()}`);
      expect(j).toMatchObject({ args: { label: 'es' }, priority: 3, max_attempts: 2 });
      expect([...j.tags].sort()).toEqual(['cron:each-second', 'mine']);
      // The job knows its schedule and tick (job.meta.cron).
      expect(j.meta).toEqual({ cron: { schedule: 'each-second', tick: new Date(j.tick).toISOString() } });
    }
  });

  it('a tick processed again (a second leader) still makes one job, whatever state the first is in', async () => {
    const expression = '*/2 * * * * *';
    await leader.schedules.set({ name: 'twice', expression, worker: report, args: { label: 'tw' } });
    await waitFor(async () => (await cronJobs('twice')).length >= 1, 'a first tick');
    const [first] = await cronJobs('twice');
    // The first job finished (unique in every state), and the schedule is put back to its tick.
    await finishBySql(db.pool, db.schema, 'completed', 'unique_key = $1', [first!.key]);
    expect((await cronJobs('twice')).find((j) => j.key === first!.key)?.state).toBe('completed');
    for (let round = 0; round < 3; round++) {
      await db.pool.query(`UPDATE "${db.schema}".schedules SET next_at = to_timestamp($2::float8 / 1000) WHERE name = $1`, ['twice', first!.tick]);
      await waitFor(async () => ((await leader.schedules.get('twice'))?.nextAt?.getTime() ?? 0) > first!.tick, 'the tick to be processed again');
    }
    await waitFor(async () => (await cronJobs('twice')).length >= 3, 'later ticks');
    await leader.schedules.remove('twice');
    const jobs = await cronJobs('twice');
    expect(jobs.filter((j) => j.key === first!.key)).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ key: first!.key, state: 'completed' });
    expectConsecutive(jobs, expression);
  });

  it("missed ticks: 'skip' enqueues none of them, 'last' only the latest; both move on to the future", async () => {
    // A minute about half an hour from now: its latest tick is ~30 min old, far beyond grace.
    const minute = (new Date(await dbNow()).getUTCMinutes() + 30) % 60;
    const expression = `${minute} * * * *`;
    for (const missed of ['skip', 'last'] as const) {
      await leader.schedules.set({ name: `missed-${missed}`, expression, worker: report, args: { label: missed }, missed });
    }
    const computed = async (): Promise<boolean> =>
      (await Promise.all(['skip', 'last'].map((m) => leader.schedules.get(`missed-${m}`)))).every((s) => s?.nextAt != null);
    await waitFor(computed, 'nextAt of both');
    // As if no node had run for 5 hours.
    const { rows } = await db.pool.query<{ next: number; now: number }>(
      `UPDATE "${db.schema}".schedules SET next_at = now() - interval '5 hours' WHERE name LIKE 'missed-%'
       RETURNING extract(epoch FROM next_at) * 1000 AS next, extract(epoch FROM now()) * 1000 AS now`,
    );
    const [from, at] = [Number(rows[0]!.next), Number(rows[0]!.now)];
    await waitFor(
      async () => (await Promise.all(['skip', 'last'].map((m) => leader.schedules.get(`missed-${m}`)))).every((s) => s!.nextAt!.getTime() > at),
      'both schedules to move on',
    );
    const missedTicks = ticksBetween(expression, 'UTC', from - 1, at);
    expect(missedTicks.length).toBeGreaterThanOrEqual(4);
    expect(await cronJobs('missed-skip')).toEqual([]);
    const last = await cronJobs('missed-last');
    expect(last.map((j) => j.key)).toEqual([`cron:missed-last:${new Date(missedTicks.at(-1)!).toISOString()}`]);
    const [skip, lastSchedule] = [(await leader.schedules.get('missed-skip'))!, (await leader.schedules.get('missed-last'))!];
    expect(skip.nextAt!.getTime()).toBe(ticksBetween(expression, 'UTC', at, at + 2 * 3_600_000)[0]);
    expect(lastSchedule.lastAt?.getTime()).toBe(missedTicks.at(-1));
    for (const m of ['skip', 'last']) await leader.schedules.remove(`missed-${m}`);
  });

  it('a changed expression takes effect at once, and a removed schedule stops', async () => {
    // 'beat' shows the leader ticking; 'flip' starts yearly, so it enqueues nothing.
    await leader.schedules.set({ name: 'beat', expression: '* * * * * *', worker: report, args: { label: 'b' } });
    await leader.schedules.set({ name: 'flip', expression: '0 0 1 1 *', worker: report, args: { label: 'yearly' } });
    const beats = async (n: number, after: number): Promise<void> =>
      waitFor(async () => (await cronJobs('beat')).filter((j) => j.tick > after).length >= n, `${n} beats`);
    await waitFor(async () => (await leader.schedules.get('flip'))?.nextAt != null, 'flip nextAt');
    expect((await leader.schedules.get('flip'))!.nextAt!.toISOString()).toMatch(/-01-01T00:00:00\.000Z$/);
    await beats(2, await dbNow());
    expect(await cronJobs('flip')).toEqual([]);

    const changedAt = await dbNow();
    expect((await leader.schedules.set({ name: 'flip', expression: '* * * * * *', worker: report, args: { label: 'fast' } })).nextAt).toBeNull();
    await waitFor(async () => (await cronJobs('flip')).length >= 2, 'flip to tick every second');
    const fast = await cronJobs('flip');
    expect(fast.every((j) => j.tick > changedAt && (j.args as { label: string }).label === 'fast')).toBe(true);
    expectConsecutive(fast, '* * * * * *');

    // Back to yearly: no job after the change is processed.
    await leader.schedules.set({ name: 'flip', expression: '0 0 1 1 *', worker: report, args: { label: 'yearly' } });
    const slowedAt = await dbNow();
    await waitFor(async () => (await leader.schedules.get('flip'))?.nextAt != null, 'flip recomputed');
    await beats(2, slowedAt);
    expect((await cronJobs('flip')).filter((j) => j.tick > slowedAt)).toEqual([]);

    // Fast again, then removed: nothing after the removal.
    await leader.schedules.set({ name: 'flip', expression: '* * * * * *', worker: report, args: { label: 'again' } });
    await waitFor(async () => (await cronJobs('flip')).some((j) => (j.args as { label: string }).label === 'again'), 'flip again');
    expect(await leader.schedules.remove('flip')).toBe(true);
    const removedAt = await dbNow();
    await beats(2, removedAt);
    expect((await cronJobs('flip')).filter((j) => j.tick > removedAt)).toEqual([]);
    await leader.schedules.remove('beat');
  });
});

describe('declared Cron jobs', () => {
  it('are stored at the first tick and enqueued; persisted for later Queue instances', async () => {
    const cron = new Cron({ interval: 200, jobs: [{ name: 'declared', expression: '* * * * * *', worker: report, args: { label: 'd' } }] });
    const node = await declaredDb.queue({ workers: [report], queues: {}, leaseTtl: 1_000, plugins: [cron] });
    await node.start();
    await waitFor(async () => (await cronJobs('declared', declaredDb.pool, declaredDb.schema)).length >= 2, 'declared ticks');
    await node.stop({ timeout: 1_000 });
    const later = await declaredDb.queue({ workers: [report], queues: {} });
    expect(await later.schedules.get('declared')).toMatchObject({ expression: '* * * * * *', worker: 'report', args: { label: 'd' } });
    await later.schedules.remove('declared');
  });

  it('one declared job with an unknown worker is reported and does not stop the other schedules', async () => {
    const cron = new Cron({
      interval: 200,
      jobs: [
        { name: 'good', expression: '* * * * * *', worker: report, args: { label: 'g' } },
        { name: 'orphan', expression: '* * * * * *', worker: 'removed-from-code' },
      ],
    });
    const node = await declaredDb.queue({ workers: [report], queues: {}, leaseTtl: 1_000, plugins: [cron] });
    const errors: { plugin: string; error: unknown }[] = [];
    node.on('plugin:error', (e) => errors.push(e));
    await node.start();
    try {
      await waitFor(() => errors.length >= 1, 'the error to be reported');
      expect(errors[0]).toMatchObject({ plugin: 'cron' });
      expect(errors[0]!.error).toBeInstanceOf(UnknownWorkerError);
      expect(await node.schedules.get('orphan')).toBeNull();
      await waitFor(async () => (await cronJobs('good', declaredDb.pool, declaredDb.schema)).length >= 2, "the good schedule's ticks", 8_000);
    } finally {
      await node.stop({ timeout: 1_000 });
    }
  });
});
