// Queue controls across a cluster: pauseQueue / resumeQueue / scaleQueue issued on one node take
// effect on every node (separate pools, both drivers, and a separate process); a node started
// later reads them before its first fetch; a node that missed the NOTIFY catches up on its
// reconcile tick.
//
// Proving "applied": pause has no local observable, but every control row is applied as a whole
// (paused and limit together). So after pausing we also scale the queue to a MARKER limit: once a
// node's queueStats() shows localConcurrency === MARKER, that node applied a row read after the
// pause committed, i.e. it is paused. Proving "nothing starts" without sleeping as
// synchronization: a sentinel job per node in another queue (concurrency 1, each held until one
// runs on every node) shows every node fetched after the paused jobs were inserted, and we also
// let a full reconcile interval pass; the paused jobs must then never have been claimed
// (attempted_at IS NULL) nor started (no job:start).
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Worker } from '../../src/index.js';
import type { Queue } from '../../src/index.js';
import { createPgPool, createPostgresJs } from '../support/db.js';
import { spawnReporter } from '../support/child.js';
import { useSchema, waitFor } from '../support/queue.js';

const db = useSchema('queue_controls');
const Args = z.object({ n: z.number() });
const RECONCILE = 300;
const MARKER = 3;

type Kind = 'pg' | 'postgres';

interface Cluster {
  readonly nodes: Queue[];
  readonly starts: { id: string; queue: string; node: string }[];
  readonly errors: unknown[];
  close(): Promise<void>;
}

/** Started nodes, each on its own pool; close() stops them, then closes their pools. */
async function cluster(label: string, kinds: readonly Kind[], options: { queues: Record<string, number>; workers: Worker[]; reconcileInterval?: number }): Promise<Cluster> {
  const nodes: Queue[] = [];
  const closers: (() => Promise<unknown>)[] = [];
  const starts: Cluster['starts'] = [];
  const errors: unknown[] = [];
  for (const [i, kind] of kinds.entries()) {
    const app = `dkt-ctl-${label}${i}-${db.schema}`;
    let connection;
    if (kind === 'pg') {
      const pool = createPgPool(db.url, app, { max: 4 });
      closers.push(() => pool.end());
      connection = pool;
    } else {
      const sql = createPostgresJs(db.url, app, { max: 4 });
      closers.push(() => sql.end({ timeout: 1 }));
      connection = sql;
    }
    const node = await db.queue({
      connection,
      workers: options.workers,
      queues: options.queues,
      nodeId: `${label}-${i}-${kind}`,
      reconcileInterval: options.reconcileInterval ?? RECONCILE,
    });
    node.on('job:start', ({ job }) => starts.push({ id: job.id, queue: job.queue, node: node.nodeId }));
    node.on('queue:error', ({ error, context }) => errors.push({ context, error }));
    nodes.push(node);
  }
  await Promise.all(nodes.map((n) => n.start()));
  return {
    nodes,
    starts,
    errors,
    async close() {
      await Promise.all(nodes.map((n) => n.stop({ timeout: 1_000 })));
      await Promise.all(closers.map((c) => c()));
    },
  };
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Waits until every node's own limit for `queue` is `limit` (see MARKER above). */
async function applied(nodes: readonly Queue[], queue: string, limit: number): Promise<void> {
  await waitFor(async () => {
    const all = await Promise.all(nodes.map((n) => n.queueStats()));
    return all.every((stats) => stats.find((s) => s.name === queue)?.localConcurrency === limit);
  }, `every node to apply limit ${limit} to ${queue}`);
}

/** A sentinel queue: prove() shows every node fetched after now, then lets a reconcile interval pass. */
function sentinel(name: string): { worker: Worker; prove(nodes: readonly Queue[], reconcile: number): Promise<void> } {
  let need = Number.POSITIVE_INFINITY;
  const ran = new Set<string>();
  const everyNode = gate();
  const worker = new Worker({
    name,
    queue: name,
    args: Args,
    maxAttempts: 1,
    perform: async (job) => {
      ran.add(job.attemptedBy!);
      if (ran.size >= need) everyNode.open();
      await everyNode.promise;
      return job.attemptedBy;
    },
  });
  return {
    worker,
    async prove(nodes, reconcile) {
      const since = Date.now();
      need = nodes.length;
      const jobs = await nodes[0]!.insertMany(worker, Array.from({ length: need }, (_, n) => ({ n })));
      const ids = jobs.map((j) => j.id).join(',');
      await waitFor(async () => (await db.count(`id IN (${ids}) AND state = 'completed'`)) === need, `${need} sentinels to complete`);
      expect(ran.size).toBe(nodes.length);
      await waitFor(() => Date.now() - since >= reconcile * 1.5, 'a full reconcile interval to pass');
    },
  };
}

/** The jobs were never claimed by any node, and still wait. */
async function expectUntouched(ids: readonly string[], starts: Cluster['starts']): Promise<void> {
  const { rows } = await db.pool.query<{ id: string; state: string; attempt: number; attempted_at: Date | null }>(
    `SELECT id::text AS id, state::text AS state, attempt, attempted_at FROM "${db.schema}".jobs WHERE id = ANY($1::bigint[])`,
    [ids],
  );
  expect(rows).toHaveLength(ids.length);
  expect(rows.filter((r) => r.state !== 'available' || r.attempt !== 0 || r.attempted_at !== null), 'claimed while paused').toEqual([]);
  expect(starts.filter((s) => ids.includes(s.id)), 'started while paused').toEqual([]);
}

async function completed(ids: readonly string[]): Promise<void> {
  const list = ids.join(',');
  await waitFor(async () => (await db.count(`id IN (${list}) AND state = 'completed'`)) === ids.length, `${ids.length} jobs to complete`);
}

describe('queue controls on every node', () => {
  it('pauseQueue on one node stops all three (pg, postgres.js, pg); running jobs finish; resumeQueue runs them', async () => {
    const held = gate();
    const worker = new Worker({
      name: 'ctl-pause',
      queue: 'ctl-pause',
      args: Args,
      maxAttempts: 1,
      perform: async (job) => {
        if (job.args.n === 0) await held.promise;
        return job.args.n;
      },
    });
    const s = sentinel('ctl-pause-s');
    const c = await cluster('pause', ['pg', 'postgres', 'pg'], { queues: { 'ctl-pause': 4, 'ctl-pause-s': 1 }, workers: [worker, s.worker] });
    try {
      const running = await c.nodes[0]!.insert(worker, { n: 0 });
      await waitFor(() => c.starts.some((x) => x.id === running.id), 'the long job to start');

      await c.nodes[0]!.pauseQueue('ctl-pause');
      expect((await c.nodes[1]!.queueStats()).find((q) => q.name === 'ctl-pause')).toMatchObject({ paused: true });
      await c.nodes[0]!.scaleQueue('ctl-pause', MARKER);
      await applied(c.nodes, 'ctl-pause', MARKER);

      // Inserted through the postgres.js node: its NOTIFY wakes every node, none may fetch.
      const jobs = await c.nodes[1]!.insertMany(worker, Array.from({ length: 12 }, (_, i) => ({ n: i + 1 })));
      const ids = jobs.map((j) => j.id);

      // The job that was running when the pause came finishes normally.
      held.open();
      await completed([running.id]);
      expect(await c.nodes[2]!.getJob(running.id)).toMatchObject({ state: 'completed', result: 0 });

      await s.prove(c.nodes, RECONCILE);
      await expectUntouched(ids, c.starts);
      const stats = (await c.nodes[2]!.queueStats()).find((q) => q.name === 'ctl-pause')!;
      expect(stats).toMatchObject({ paused: true, concurrency: MARKER });
      expect(stats.counts.available).toBe(12);

      await c.nodes[2]!.scaleQueue('ctl-pause', null);
      await c.nodes[2]!.resumeQueue('ctl-pause');
      await completed(ids);
      const runs = c.starts.filter((x) => ids.includes(x.id));
      expect(runs).toHaveLength(12);
      expect(new Set(runs.map((r) => r.id)).size).toBe(12);
      // The other nodes apply the NOTIFYs on their own time: every node is back at its own limit.
      await applied(c.nodes, 'ctl-pause', 4);
      expect((await c.nodes[0]!.queueStats()).find((q) => q.name === 'ctl-pause')).toMatchObject({ paused: false, concurrency: null });
      expect(c.errors).toEqual([]);
    } finally {
      held.open();
      await c.close();
    }
  });

  it('a control row deleted by hand and created again is still obeyed (versions only grow)', async () => {
    const worker = new Worker({ name: 'ctl-redo', queue: 'ctl-redo', args: Args, maxAttempts: 1, perform: (job) => job.args.n });
    const c = await cluster('redo', ['pg', 'postgres'], { queues: { 'ctl-redo': 4 }, workers: [worker] });
    try {
      for (const limit of [1, 2, 3]) {
        await c.nodes[0]!.scaleQueue('ctl-redo', limit);
        await applied(c.nodes, 'ctl-redo', limit);
      }
      await db.pool.query(`DELETE FROM "${db.schema}".queues WHERE name = 'ctl-redo'`);
      // The recreated row must outrank every version the nodes applied before.
      await c.nodes[1]!.scaleQueue('ctl-redo', 2);
      await applied(c.nodes, 'ctl-redo', 2);
      expect(c.errors).toEqual([]);
    } finally {
      await c.close();
    }
  });

  it('a node started after the pause obeys it before its first fetch', async () => {
    const worker = new Worker({ name: 'ctl-late', queue: 'ctl-late', args: Args, maxAttempts: 1, perform: (job) => job.args.n });
    const s = sentinel('ctl-late-s');
    // An insert-only node pauses the queue and fills it while no node runs it.
    const admin = await db.queue({ workers: [worker, s.worker], queues: {} });
    await admin.pauseQueue('ctl-late');
    const ids = (await admin.insertMany(worker, Array.from({ length: 8 }, (_, i) => ({ n: i })))).map((j) => j.id);

    // The jobs are there when the nodes start: a first fetch before reading controls would claim them.
    const c = await cluster('late', ['postgres', 'pg'], { queues: { 'ctl-late': 4, 'ctl-late-s': 1 }, workers: [worker, s.worker] });
    try {
      await s.prove(c.nodes, RECONCILE);
      await expectUntouched(ids, c.starts);

      await admin.resumeQueue('ctl-late');
      await completed(ids);
      expect(c.starts.filter((x) => ids.includes(x.id))).toHaveLength(8);
      expect(c.errors).toEqual([]);
    } finally {
      await c.close();
    }
  });

  it('a pause and resume written with plain SQL (no NOTIFY) are applied by the reconcile tick', async () => {
    const worker = new Worker({ name: 'ctl-quiet', queue: 'ctl-quiet', args: Args, maxAttempts: 1, perform: (job) => job.args.n });
    const s = sentinel('ctl-quiet-s');
    const c = await cluster('quiet', ['pg', 'postgres'], {
      queues: { 'ctl-quiet': 4, 'ctl-quiet-s': 1 },
      workers: [worker, s.worker],
      reconcileInterval: 200,
    });
    try {
      await db.pool.query(
        `INSERT INTO "${db.schema}".queues (name, paused, concurrency) VALUES ('ctl-quiet', true, $1)
         ON CONFLICT (name) DO UPDATE SET paused = true, concurrency = $1`,
        [MARKER],
      );
      await applied(c.nodes, 'ctl-quiet', MARKER);
      const ids = (await c.nodes[0]!.insertMany(worker, Array.from({ length: 8 }, (_, i) => ({ n: i })))).map((j) => j.id);
      await s.prove(c.nodes, 200);
      await expectUntouched(ids, c.starts);

      await db.pool.query(`UPDATE "${db.schema}".queues SET paused = false, concurrency = NULL WHERE name = 'ctl-quiet'`);
      await completed(ids);
      await applied(c.nodes, 'ctl-quiet', 4);
      expect(c.errors).toEqual([]);
    } finally {
      await c.close();
    }
  });

  it('scaleQueue(1) caps each node at 1 running job, 0 stops new starts, null restores 5', async () => {
    const running = new Map<string, number>();
    const max = new Map<string, number>();
    const released = gate();
    const worker = new Worker({
      name: 'ctl-scale',
      queue: 'ctl-scale',
      args: Args,
      maxAttempts: 1,
      perform: async (job) => {
        const node = job.attemptedBy!;
        running.set(node, (running.get(node) ?? 0) + 1);
        max.set(node, Math.max(max.get(node) ?? 0, running.get(node)!));
        try {
          // Work long enough to overlap (and not to be prefetched): 40 ms, or until released.
          if (job.args.n >= 100) await released.promise;
          else await new Promise((r) => setTimeout(r, 40));
        } finally {
          running.set(node, running.get(node)! - 1);
        }
        return job.args.n;
      },
    });
    const s = sentinel('ctl-scale-s');
    const c = await cluster('scale', ['pg', 'postgres', 'pg'], { queues: { 'ctl-scale': 5, 'ctl-scale-s': 1 }, workers: [worker, s.worker] });
    try {
      await applied(c.nodes, 'ctl-scale', 5);
      await c.nodes[1]!.scaleQueue('ctl-scale', 1);
      await applied(c.nodes, 'ctl-scale', 1);
      const first = (await c.nodes[0]!.insertMany(worker, Array.from({ length: 24 }, (_, i) => ({ n: i })))).map((j) => j.id);
      await completed(first);
      expect(Object.fromEntries(max), 'most jobs running at once per node under scale 1').toEqual(
        Object.fromEntries([...max.keys()].map((k) => [k, 1])),
      );
      expect((await c.nodes[2]!.queueStats()).find((q) => q.name === 'ctl-scale')).toMatchObject({ concurrency: 1, localConcurrency: 1 });

      await c.nodes[2]!.scaleQueue('ctl-scale', 0);
      await applied(c.nodes, 'ctl-scale', 0);
      const second = (await c.nodes[0]!.insertMany(worker, Array.from({ length: 15 }, (_, i) => ({ n: 100 + i })))).map((j) => j.id);
      await s.prove(c.nodes, RECONCILE);
      await expectUntouched(second, c.starts);

      max.clear();
      await c.nodes[0]!.scaleQueue('ctl-scale', null);
      // 15 held jobs and 3 nodes x 5 slots: with the limit back at 5, all 15 run at once.
      await waitFor(() => c.nodes.every((n) => running.get(n.nodeId) === 5), 'five held jobs running on every node');
      expect(Object.fromEntries(max)).toEqual(Object.fromEntries(c.nodes.map((n) => [n.nodeId, 5])));
      released.open();
      await completed(second);
      expect((await c.nodes[1]!.queueStats()).find((q) => q.name === 'ctl-scale')).toMatchObject({ concurrency: null, localConcurrency: 5 });
      expect(c.errors).toEqual([]);
    } finally {
      released.open();
      await c.close();
    }
  });

  it('a separate process stops starting jobs on pause and continues on resume', async () => {
    const noop = (): null => null;
    const main = new Worker({ name: 'ctl-child', queue: 'ctl-child', args: Args, perform: noop });
    const side = new Worker({ name: 'ctl-child-s', queue: 'ctl-child-s', args: Args, perform: noop });
    const admin = await db.queue({ workers: [main, side], queues: {} });

    const { child, events, stderr, exited } = spawnReporter('test/fixtures/controls-child.ts', { DATABASE_URL: db.url, DOCKET_SCHEMA: db.schema }, 'pipe');
    const startedIds = (): string[] => events.filter((e) => e.event === 'started').map((e) => e.id as string);
    const alive = (): boolean => child.exitCode === null && child.signalCode === null;
    const childLimit = async (): Promise<unknown> => {
      const before = events.length;
      child.stdin!.write('stats\n');
      await waitFor(() => events.slice(before).some((e) => e.event === 'stats') || !alive(), 'the child to answer');
      const stats = events.slice(before).find((e) => e.event === 'stats')?.queues as { name: string; localConcurrency: number }[] | undefined;
      return stats?.find((q) => q.name === 'ctl-child')?.localConcurrency;
    };
    try {
      await waitFor(() => events.some((e) => e.event === 'ready') || !alive(), 'the child to start', 30_000);
      expect(events.map((e) => e.event), stderr()).toContain('ready');

      // Running normally: a job is started by the child.
      const before = await admin.insert(main, { n: 1 });
      await waitFor(() => startedIds().includes(before.id) || !alive(), 'the child to start a job');
      expect(startedIds(), stderr()).toContain(before.id);

      await admin.pauseQueue('ctl-child');
      await admin.scaleQueue('ctl-child', MARKER);
      await waitFor(async () => (await childLimit()) === MARKER || !alive(), 'the child to apply the pause');
      expect(alive(), stderr()).toBe(true);

      const ids = (await admin.insertMany(main, Array.from({ length: 6 }, (_, i) => ({ n: 10 + i })))).map((j) => j.id);
      // Sentinel: the child still fetches its other queue, after the paused jobs were inserted.
      const since = Date.now();
      const probe = await admin.insert(side, { n: 0 });
      await waitFor(() => startedIds().includes(probe.id) || !alive(), 'the child to run the sentinel');
      await waitFor(() => Date.now() - since >= 300 * 1.5, 'a full reconcile interval of the child');
      expect(startedIds().filter((id) => ids.includes(id)), 'started by the child while paused').toEqual([]);
      await expectUntouched(ids, []);

      await admin.resumeQueue('ctl-child');
      await admin.scaleQueue('ctl-child', null);
      await waitFor(() => ids.every((id) => startedIds().includes(id)) || !alive(), 'the child to run the resumed jobs');
      await completed(ids);
      expect(events.filter((e) => e.event === 'queue-error'), stderr()).toEqual([]);

      child.kill('SIGTERM');
      expect(await exited, stderr()).toEqual({ code: 0, signal: null });
    } finally {
      if (alive()) child.kill('SIGKILL');
    }
  });
});
