// Clock skew (issue 15, scenario 7): two docket nodes run under libfaketime, one 10 minutes
// ahead and one 10 minutes behind the database, and then jump (to 1 hour behind and 1 hour
// ahead) while they run. docket schedules, locks and rescues by the database clock only, so:
// no premature rescue, no job before its scheduled time, no leader change, every Cron tick
// exactly once and none early; and each node warns that its clock is off (again after the jump).
// Needs Debian's `faketime` package (.ci/run installs it); without it the test is skipped, which
// fails the run under CI=true.
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { z } from 'zod';
import { Worker } from '../../src/index.js';
import { spawnReporter, type ReportingChild } from '../support/child.js';
import { useSchema, waitFor } from '../support/queue.js';

const LIBFAKETIME = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1',
  '/usr/lib/faketime/libfaketimeMT.so.1',
].find((p) => existsSync(p));

const db = useSchema('skew');
const children: ReportingChild[] = [];
let dir: string | undefined;
afterAll(async () => {
  for (const { child, exited } of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

const MINUTE = 60_000;

it.skipIf(LIBFAKETIME === undefined)(
  'nodes 10 minutes ahead and behind, then jumping an hour, change nothing the database clock decides',
  async () => {
    // The parent only inserts (and migrates): the same workers, no queue to run.
    const sleepy = new Worker({ name: 'sleepy', queue: 'skew', args: z.object({ ms: z.number().int().min(0) }), perform: async () => null });
    const inserter = await db.queue({ workers: [sleepy], queues: {} });
    dir = await mkdtemp(path.join(os.tmpdir(), 'docket-skew-'));
    const offsets = { ahead: path.join(dir, 'ahead'), behind: path.join(dir, 'behind') };
    await writeFile(offsets.ahead, '+600');
    await writeFile(offsets.behind, '-600');
    const start = (nodeId: string, file: string) => {
      const node = spawnReporter('test/fixtures/skew-child.ts', {
        DATABASE_URL: db.url,
        DOCKET_SCHEMA: db.schema,
        DOCKET_NODE_ID: nodeId,
        LD_PRELOAD: LIBFAKETIME!,
        FAKETIME_TIMESTAMP_FILE: file,
        FAKETIME_CACHE_DURATION: '1',
        // Timers and performance.now() keep real time: only the wall clock is off.
        DONT_FAKE_MONOTONIC: '1',
      });
      children.push(node);
      return node;
    };
    const ahead = start('ahead', offsets.ahead);
    const behind = start('behind', offsets.behind);
    const all = () => [...ahead.events, ...behind.events];
    const skewWarnings = (node: ReportingChild) => node.events.filter((e) => e.event === 'log' && e.level === 'warn' && typeof e.skewMs === 'number');
    await waitFor(() => ahead.events.some((e) => e.event === 'ready') && behind.events.some((e) => e.event === 'ready'), `both nodes ready (${ahead.stderr()}${behind.stderr()})`, 30_000);
    await waitFor(() => skewWarnings(ahead).length === 1 && skewWarnings(behind).length === 1, 'both nodes to warn of their clocks');
    expect(Math.abs((skewWarnings(ahead)[0]!.skewMs as number) - 10 * MINUTE)).toBeLessThan(5_000);
    expect(Math.abs((skewWarnings(behind)[0]!.skewMs as number) + 10 * MINUTE)).toBeLessThan(5_000);
    expect(String(skewWarnings(ahead)[0]!.message)).toMatch(/ahead of the database's/);

    // Jobs inserted by the database clock: long ones (rescue bait: longer than staleAfter) and
    // delayed ones (they must not start before their time).
    const long = await inserter.insertMany(sleepy, [{ ms: 3_000 }, { ms: 3_000 }, { ms: 3_000 }, { ms: 3_000 }]);
    const delayed = await inserter.insertMany(sleepy, [{ ms: 10 }, { ms: 10 }, { ms: 10 }], { delay: 2_500 });

    // Mid-run, the clocks jump: the node ahead falls an hour behind, the one behind an hour ahead.
    await waitFor(async () => (await db.count(`worker = 'sleepy' AND state = 'executing'`)) > 0, 'the long jobs to start');
    await writeFile(offsets.ahead, '-3600');
    await writeFile(offsets.behind, '+3600');
    await waitFor(() => skewWarnings(ahead).length === 2 && skewWarnings(behind).length === 2, 'both nodes to warn again after the jump');
    expect(Math.abs((skewWarnings(ahead)[1]!.skewMs as number) + 60 * MINUTE)).toBeLessThan(5_000);
    expect(Math.abs((skewWarnings(behind)[1]!.skewMs as number) - 60 * MINUTE)).toBeLessThan(5_000);

    const ids = [...long, ...delayed].map((j) => j.id);
    await waitFor(async () => (await db.count(`id = ANY('{${ids.join(',')}}'::bigint[]) AND state = 'completed'`)) === ids.length, 'every job to complete', 30_000);
    // Cron ticks past the jump.
    const ticksNow = await db.count(`worker = 'tick'`);
    await waitFor(async () => (await db.count(`worker = 'tick'`)) >= ticksNow + 3, 'three more cron ticks after the jump', 20_000);

    // No rescue, no second attempt, no error.
    expect(all().filter((e) => e.event === 'rescue')).toEqual([]);
    const { rows: jobs } = await db.pool.query<{ attempt: number; errors: unknown[]; early: boolean; delay_ms: number }>(
      `SELECT attempt, errors, attempted_at < scheduled_at AS early, (extract(epoch FROM scheduled_at - inserted_at) * 1000)::int AS delay_ms
       FROM "${db.schema}".jobs WHERE worker = 'sleepy' ORDER BY id`,
    );
    expect(jobs.map((j) => [j.attempt, j.errors.length, j.early])).toEqual(ids.map(() => [1, 0, false]));
    expect(jobs.slice(4).every((j) => j.delay_ms >= 2_400 && j.delay_ms <= 2_600)).toBe(true);

    // One leader, elected once, never lost.
    expect(all().filter((e) => e.event === 'elected')).toHaveLength(1);
    expect(all().filter((e) => e.event === 'lost')).toEqual([]);

    // Every tick once, none early, none missing between the first and the last.
    const { rows: ticks } = await db.pool.query<{ tick: string; late_ms: number }>(
      `SELECT substring(unique_key FROM 'every2s:(.*)$') AS tick,
              (extract(epoch FROM inserted_at - substring(unique_key FROM 'every2s:(.*)$')::timestamptz) * 1000)::int AS late_ms
       FROM "${db.schema}".jobs WHERE worker = 'tick' ORDER BY 1`,
    );
    const times = ticks.map((t) => Date.parse(t.tick));
    expect(new Set(times).size).toBe(times.length);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(2_000);
    for (const t of ticks) expect(t.late_ms, t.tick).toBeGreaterThanOrEqual(0);

    for (const node of [ahead, behind]) node.child.kill('SIGTERM');
    for (const node of [ahead, behind]) expect((await node.exited).code).toBe(0);
  },
  90_000,
);
