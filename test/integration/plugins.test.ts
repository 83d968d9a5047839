// The plugin layer, in-process: the Plugin contract (scopes, stop, failing ticks), leader
// election by lease (one leader, release on stop, only the owner renews, a partitioned leader
// steps down before its lease can pass on), node heartbeats, and Lifeline's rescues.
import { hostname } from 'node:os';
import type pg from 'pg';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { ConfigError, Cron, Lifeline, Plugin, Pruner, Queue, Worker } from '../../src/index.js';
import type { Job, PluginContext, PluginScope } from '../../src/index.js';
import { buildClusterStatements } from '../../src/engine/sql/cluster.js';
import { createPgPool, createPostgresJs } from '../support/db.js';
import { nextEvent, useSchema, waitFor } from '../support/queue.js';

const db = useSchema('plugins');
const lead = useSchema('plugins_lead');
const life = useSchema('plugins_life');

// Each node on a pool of its own, closed after the file (useSchema stops the queues first).
const closers: (() => Promise<unknown>)[] = [];
afterAll(() => Promise.all(closers.map((c) => c())));
function connection(kind: 'pg' | 'postgres', name: string): pg.Pool | postgres.Sql {
  const conn = kind === 'pg' ? createPgPool(db.url, `dkt-plug-${name}`, { max: 5 }) : createPostgresJs(db.url, `dkt-plug-${name}`, { max: 5 });
  closers.push(() => ('totalCount' in conn ? conn.end() : conn.end({ timeout: 1 })));
  return conn;
}
const KINDS = ['pg', 'postgres', 'pg'] as const;

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** A plugin that records its ticks and runs `body` in each. */
class Probe extends Plugin {
  readonly name: string;
  override readonly scope: PluginScope;
  readonly ticks: string[] = [];
  constructor(name: string, scope: PluginScope, private readonly body: (ctx: PluginContext, n: number) => unknown = () => {}, interval = 20) {
    super({ interval });
    this.name = name;
    this.scope = scope;
  }
  protected async tick(ctx: PluginContext): Promise<void> {
    this.ticks.push(ctx.nodeId);
    await this.body(ctx, this.ticks.length);
  }
}

/** A context for a plugin started outside any Queue. */
function fakeContext(reportError: (e: unknown) => void): PluginContext {
  const logger = { debug() {}, info() {}, warn() {}, error() {} };
  return { queue: undefined as never, nodeId: 'fake', logger, quotedSchema: '"fake"', signal: new AbortController().signal, query: async () => [], reportError };
}

const noop = new Worker({ name: 'noop', queue: 'plug', args: z.object({}).passthrough(), perform: () => 'ok' });

describe('the Plugin contract', () => {
  it('stop() is idempotent and waits for the tick in flight; no tick after it', async () => {
    vi.useFakeTimers();
    try {
      const release = gate();
      const probe = new Probe('slow', 'every-node', (_ctx, n) => (n === 2 ? release.promise : undefined), 100);
      probe.start(fakeContext(() => {}));
      expect(probe.ticks).toHaveLength(1); // the first tick at once
      await vi.advanceTimersByTimeAsync(100);
      expect(probe.ticks).toHaveLength(2); // in flight, blocked
      let stopped = 0;
      const stops = [probe.stop().then(() => stopped++), probe.stop().then(() => stopped++)];
      await vi.advanceTimersByTimeAsync(1_000);
      expect(stopped).toBe(0);
      release.open();
      await Promise.all(stops);
      expect(stopped).toBe(2);
      expect(probe.started).toBe(false);
      await probe.stop(); // once more, when stopped
      await vi.advanceTimersByTimeAsync(1_000);
      expect(probe.ticks).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a tick that throws synchronously is reported like a rejected one, and the next tick still runs', async () => {
    vi.useFakeTimers();
    try {
      let n = 0;
      // A plain-JS plugin, or a non-async tick: tick() throws instead of returning a rejection.
      const plugin = new (class extends Plugin {
        readonly name = 'sync-thrower';
        constructor() {
          super({ interval: 50 });
        }
        protected tick(): Promise<void> {
          if (++n <= 2) throw new Error(`sync ${n}`);
          return Promise.resolve();
        }
      })();
      const errors: unknown[] = [];
      expect(() => plugin.start(fakeContext((e) => errors.push(e)))).not.toThrow();
      await vi.advanceTimersByTimeAsync(200);
      await plugin.stop();
      expect(errors.map((e) => (e as Error).message)).toEqual(['sync 1', 'sync 2']);
      expect(n).toBeGreaterThanOrEqual(3);
    } finally {
      vi.useRealTimers();
    }
  });

  it('bad intervals, duplicate names and non-plugins are ConfigErrors at construction', () => {
    for (const interval of [0, 9, 1.5, -5, Number.NaN, Number.POSITIVE_INFINITY, 86_400_001, '100' as never]) {
      expect(() => new Probe('bad', 'leader', undefined, interval), String(interval)).toThrow(ConfigError);
    }
    expect(() => new Lifeline({ interval: 0 })).toThrow(ConfigError);
    expect(() => new Pruner({ interval: 5 })).toThrow(ConfigError);
    expect(() => new Cron({ interval: -1 })).toThrow(ConfigError);
    const base = { connection: db.pool, schema: db.schema };
    expect(() => new Queue({ ...base, plugins: [new Probe('dup', 'leader'), new Probe('dup', 'every-node')] })).toThrow(ConfigError);
    expect(() => new Queue({ ...base, plugins: [new Lifeline(), new Lifeline()] })).toThrow(/lifeline/);
    for (const plugins of [[{}], [null], ['lifeline'], [{ name: 'fake', start: 1, stop: 1 }], {}, new Lifeline()]) {
      expect(() => new Queue({ ...base, plugins: plugins as never }), JSON.stringify(plugins)).toThrow(ConfigError);
    }
    const ok = new Queue({ ...base, plugins: [new Lifeline(), new Pruner(), new Cron(), new Probe('mine', 'every-node')] });
    expect(ok).toBeInstanceOf(Queue);
  });

  it("'every-node' plugins tick on every node, 'leader' plugins only on the leader; ctx.query works", async () => {
    const counts: number[] = [];
    const make = (): Probe[] => [
      new Probe('everywhere', 'every-node', async (ctx) => {
        const [row] = await ctx.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${ctx.quotedSchema}.nodes`);
        counts.push(row!.n);
      }),
      new Probe('leader-only', 'leader'),
    ];
    const plugins = [make(), make()];
    const nodes: Queue[] = [];
    for (const [i, p] of plugins.entries()) nodes.push(await db.queue({ connection: connection(KINDS[i]!, `scope${i}`), nodeId: `scope-${i}`, plugins: p, leaseTtl: 2_000, workers: [noop] }));
    try {
      for (const n of nodes) await n.start();
      await waitFor(() => plugins.every((p) => p[0]!.ticks.length >= 3) && plugins.some((p) => p[1]!.ticks.length >= 3), 'ticks');
      expect(nodes.filter((n) => n.isLeader)).toHaveLength(1);
      const leaderIndex = nodes.findIndex((n) => n.isLeader);
      plugins.forEach((p, i) => {
        expect(new Set(p[0]!.ticks)).toEqual(new Set([`scope-${i}`]));
        expect(p[1]!.ticks.length > 0, `leader-only ticks on node ${i}`).toBe(i === leaderIndex);
      });
      expect(new Set(plugins[leaderIndex]![1]!.ticks)).toEqual(new Set([`scope-${leaderIndex}`]));
      expect(Math.min(...counts)).toBeGreaterThanOrEqual(1);
    } finally {
      await Promise.all(nodes.map((n) => n.stop({ timeout: 1_000 })));
    }
  });

  it("stopping the queue waits for the leader's tick in flight, and releases the lease only after it", async () => {
    const log: string[] = [];
    const holder = new Probe('holder', 'leader', async (ctx, n) => {
      if (n > 1) return;
      log.push('tick');
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
      log.push('aborted');
      await new Promise((resolve) => setTimeout(resolve, 50)); // the tick's own work, finishing late
      const { rows } = await db.pool.query<{ owner: string }>(`SELECT owner FROM "${db.schema}".leases`);
      log.push(`lease held by ${rows[0]?.owner}`);
    });
    const queue = await db.queue({ connection: connection('postgres', 'holder'), nodeId: 'holder-node', plugins: [holder], leaseTtl: 2_000, workers: [noop] });
    const lost = nextEvent(queue, 'leader:lost');
    await queue.start();
    await waitFor(() => log.includes('tick'), 'the first tick');
    await queue.stop({ timeout: 1_000 }).then(() => log.push('stopped'));
    expect(log).toEqual(['tick', 'aborted', 'lease held by holder-node', 'stopped']);
    expect(await lost).toMatchObject({ nodeId: 'holder-node', reason: 'stopped' });
    expect((await db.pool.query(`SELECT 1 FROM "${db.schema}".leases`)).rowCount).toBe(0);
  });

  it('a failing tick emits plugin:error with the plugin name, ticks go on, and jobs keep running', async () => {
    const boom = (): never => { throw new Error('boom'); };
    const plugins = [new Probe('flaky-leader', 'leader', boom), new Probe('flaky-every', 'every-node', boom)];
    const queue = await db.queue({ connection: connection('pg', 'flaky'), nodeId: 'flaky-node', plugins, leaseTtl: 2_000, workers: [noop], queues: { plug: 5 } });
    const errors: { plugin: string; error: unknown }[] = [];
    queue.on('plugin:error', (e) => errors.push(e));
    try {
      await queue.start();
      const named = (name: string): number => errors.filter((e) => e.plugin === name).length;
      await waitFor(() => named('flaky-leader') >= 2 && named('flaky-every') >= 2, 'errors from both plugins');
      const jobs = await queue.insertMany(noop, Array.from({ length: 20 }, (_, i) => ({ i })));
      const ids = jobs.map((j) => j.id);
      await waitFor(async () => (await db.count(`id IN (${ids.join(',')}) AND state = 'completed'`)) === 20, 'the jobs to complete');
      const seen = errors.length;
      await waitFor(() => errors.length >= seen + 4, 'more ticks after the jobs');
      expect(errors.every((e) => (e.error as Error).message === 'boom')).toBe(true);
      expect(new Set(errors.map((e) => e.plugin))).toEqual(new Set(['flaky-leader', 'flaky-every']));
      expect(plugins[0]!.ticks.length).toBeGreaterThanOrEqual(3);
    } finally {
      await queue.stop({ timeout: 1_000 });
    }
  });
});

describe('leader election', () => {
  type Lease = { owner: string; expires: number; acquired: number };
  const lease = async (): Promise<Lease | undefined> =>
    (
      await lead.pool.query<Lease>(
        `SELECT owner, extract(epoch FROM expires_at) * 1000 AS expires, extract(epoch FROM acquired_at) * 1000 AS acquired
         FROM "${lead.schema}".leases WHERE name = 'leader'`,
      )
    ).rows.map((r) => ({ owner: r.owner, expires: Number(r.expires), acquired: Number(r.acquired) }))[0];
  const dbNow = async (): Promise<number> =>
    Number((await lead.pool.query<{ t: number }>('SELECT extract(epoch FROM clock_timestamp()) * 1000 AS t')).rows[0]!.t);

  async function cluster(tag: string, leaseTtl: number): Promise<{ nodes: Queue[]; elected: string[]; lost: { nodeId: string; reason: string }[] }> {
    const elected: string[] = [];
    const lost: { nodeId: string; reason: string }[] = [];
    const nodes: Queue[] = [];
    for (const [i, kind] of KINDS.entries()) {
      // Only nodes with a leader plugin compete for the lease.
      const plugins = [new Probe(`${tag}-probe`, 'leader', () => {}, 1_000)];
      const node = await lead.queue({ connection: connection(kind, `${tag}${i}`), nodeId: `${tag}-${i}`, leaseTtl, heartbeatInterval: 200, workers: [noop], plugins });
      node.on('leader:elected', (e) => elected.push(e.nodeId));
      node.on('leader:lost', (e) => lost.push(e));
      nodes.push(node);
    }
    for (const n of nodes) await n.start();
    await waitFor(() => nodes.some((n) => n.isLeader), 'a leader');
    return { nodes, elected, lost };
  }
  const stopAll = (nodes: Queue[]): Promise<unknown> => Promise.all(nodes.map((n) => n.stop({ timeout: 1_000 })));
  const sql = buildClusterStatements(`"${lead.schema}"`);

  it('exactly one of three nodes leads, it owns the lease row, and only it renews', async () => {
    const { nodes, elected, lost } = await cluster('elect', 2_000);
    try {
      const first = (await lease())!;
      // Several renewal periods later: the same owner, renewed (expires_at moved), never re-acquired.
      await waitFor(async () => (await lease())!.expires > first.expires + 1_000, 'renewals');
      const later = (await lease())!;
      const leaders = nodes.filter((n) => n.isLeader);
      expect(leaders.map((n) => n.nodeId)).toEqual([first.owner]);
      expect(later).toMatchObject({ owner: first.owner, acquired: first.acquired });
      expect(elected, JSON.stringify(lost)).toEqual([first.owner]);
      // A non-owner's acquire, while the lease is valid, changes nothing.
      const client = await lead.pool.connect();
      try {
        await client.query('BEGIN');
        const locked = await client.query(`SELECT owner, expires_at, acquired_at FROM "${lead.schema}".leases FOR UPDATE`);
        const intruder = nodes.find((n) => !n.isLeader)!.nodeId;
        expect((await client.query(sql.acquireLease.text, ['leader', intruder, 1_000])).rows).toEqual([]);
        expect((await client.query(`SELECT owner, expires_at, acquired_at FROM "${lead.schema}".leases`)).rows).toEqual(locked.rows);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    } finally {
      await stopAll(nodes);
    }
    // Once expired, anyone may take it.
    await lead.pool.query(`INSERT INTO "${lead.schema}".leases (name, owner, expires_at) VALUES ('leader', 'gone', now() - interval '1 s')`);
    expect((await lead.pool.query(sql.acquireLease.text, ['leader', 'newcomer', 1_000])).rows).toEqual([{ owner: 'newcomer' }]);
    await lead.pool.query(`DELETE FROM "${lead.schema}".leases`);
  });

  it('a leader that stops releases its lease at once: another node leads before the old lease would expire', async () => {
    const { nodes, elected, lost } = await cluster('release', 2_000);
    try {
      // Read right before the stop. Renewals only move expires_at later, so this is at most the
      // expiry of the lease that the stop releases.
      const held = (await lease())!;
      const old = nodes.find((n) => n.nodeId === held.owner)!;
      const others = nodes.filter((n) => n !== old);
      await old.stop({ timeout: 1_000 });
      expect(lost).toEqual([{ nodeId: old.nodeId, reason: 'stopped' }]);
      const row = await lease();
      expect(row?.owner).not.toBe(old.nodeId); // deleted, or already taken by another
      await waitFor(() => elected.length === 2, 'another node to be elected', 10_000);
      const next = others.find((n) => n.nodeId === elected[1]);
      expect(elected[0]).toBe(old.nodeId);
      expect(next?.isLeader).toBe(true);
      const taken = (await lease())!;
      expect(taken.owner).toBe(next!.nodeId);
      // Both database timestamps: when the new owner took the row (acquired_at is its acquiring
      // statement's now()) against when the old lease would have run out. Reading the clock after
      // the rest of the stop and the poll instead made a slow stop on a loaded machine look like
      // a late takeover.
      expect(taken.acquired, 'takeover before the old lease expired').toBeLessThan(held.expires);
    } finally {
      await stopAll(nodes);
    }
  });

  it('a leader that cannot renew steps down before its lease expires, and nobody else leads before it does', async () => {
    // leaseTtl 4 s: the leader demotes itself a renewal period (ttl / 4) before its lease runs
    // out, so that is the margin the assertion below has for timer lateness and the clock query;
    // 500 ms (with 2 s) was too little on a loaded machine.
    const { nodes, elected, lost } = await cluster('partition', 4_000);
    const admin = await lead.pool.connect();
    const violations: string[] = [];
    try {
      await waitFor(async () => (await lease()) !== undefined, 'the lease row');
      await admin.query('BEGIN');
      await admin.query(`LOCK TABLE "${lead.schema}".leases IN ACCESS EXCLUSIVE MODE`);
      // Nothing can renew any more: this expires_at is final.
      const { rows } = await admin.query<{ owner: string; expires: number }>(
        `SELECT owner, extract(epoch FROM expires_at) * 1000 AS expires FROM "${lead.schema}".leases`,
      );
      const expires = Number(rows[0]!.expires);
      const old = nodes.find((n) => n.nodeId === rows[0]!.owner)!;
      for (const n of nodes) {
        if (n === old) continue;
        n.on('leader:elected', () => {
          void dbNow().then((t) => t < expires && violations.push(`${n.nodeId} elected ${expires - t} ms before expiry`));
        });
      }
      // The database clock taken when the leader steps down (the event is emitted as it demotes),
      // not after the poll below has noticed.
      let demoted: Promise<number> | undefined;
      old.once('leader:lost', () => (demoted = dbNow()));
      await waitFor(() => lost.length > 0, 'the leader to step down', 10_000);
      const demotedAt = await demoted!;
      expect(lost).toEqual([{ nodeId: old.nodeId, reason: 'lease not renewed in time' }]);
      expect(demotedAt, 'stepped down before the lease ran out').toBeLessThan(expires);
      expect(old.isLeader).toBe(false);
      expect(nodes.filter((n) => n.isLeader)).toEqual([]);
      // Keep the partition until the lease has expired by the database clock.
      await waitFor(async () => (await dbNow()) > expires + 100, 'the lease to expire');
      expect(nodes.filter((n) => n.isLeader)).toEqual([]);
      await admin.query('COMMIT');
      await waitFor(() => nodes.filter((n) => n.isLeader).length === 1, 'a new leader after the partition');
      await waitFor(async () => (await lease())?.owner === nodes.find((n) => n.isLeader)?.nodeId, 'the row to match the leader');
      expect(violations).toEqual([]);
      expect(elected.length).toBeGreaterThanOrEqual(2);
    } finally {
      await admin.query('ROLLBACK').catch(() => {});
      admin.release();
      await stopAll(nodes);
    }
  });
});

describe('heartbeats', () => {
  it('each started node has a row that beats, and a clean stop removes it', async () => {
    const options = { heartbeatInterval: 100, workers: [noop], queues: { plug: 3, other: 0 } };
    const nodes = [await db.queue({ connection: connection('pg', 'beat0'), nodeId: 'beat-0', ...options }), await db.queue({ connection: connection('postgres', 'beat1'), nodeId: 'beat-1', ...options })];
    type NodeRow = { id: string; host: string; pid: number; queues: unknown; started: number; beat: number };
    const rows = async (): Promise<NodeRow[]> =>
      (
        await db.pool.query<NodeRow>(
          `SELECT id, host, pid, queues, extract(epoch FROM started_at) * 1000 AS started, extract(epoch FROM beat_at) * 1000 AS beat
           FROM "${db.schema}".nodes WHERE id LIKE 'beat-%' ORDER BY id`,
        )
      ).rows.map((r) => ({ ...r, started: Number(r.started), beat: Number(r.beat) }));
    expect(await rows()).toEqual([]);
    for (const n of nodes) await n.start();
    const first = await rows();
    expect(first.map(({ id, host, pid, queues }) => ({ id, host, pid, queues }))).toEqual(
      ['beat-0', 'beat-1'].map((id) => ({ id, host: hostname(), pid: process.pid, queues: { plug: 3, other: 0 } })),
    );
    await waitFor(async () => (await rows()).every((r, i) => r.beat > first[i]!.beat + 150), 'beats to advance');
    expect((await rows()).map((r) => r.started)).toEqual(first.map((r) => r.started));
    await nodes[0]!.stop({ timeout: 1_000 });
    expect((await rows()).map((r) => r.id)).toEqual(['beat-1']);
    await nodes[1]!.stop({ timeout: 1_000 });
    expect(await rows()).toEqual([]);
  });
});

describe('Lifeline', () => {
  const rescuable = new Worker({ name: 'rescuable', queue: 'life', args: z.object({ n: z.number() }), perform: (job) => `done ${job.args.n}` });
  const jobs = `"${life.schema}".jobs_live`;
  /** Jobs 'executing' on `node`, whose row beat `staleSince` ms ago (one statement: Lifeline never sees the row jobless and forgets it). */
  async function orphans(node: string, count: number, opts: { attempt?: number; maxAttempts?: number; staleSince: number }): Promise<string[]> {
    const { rows } = await life.pool.query<{ id: string }>(
      `WITH node AS (
         INSERT INTO "${life.schema}".nodes (id, host, pid, beat_at) VALUES ($4, 'gone', 1, now() - $5 * interval '1 ms')
         ON CONFLICT (id) DO UPDATE SET beat_at = EXCLUDED.beat_at)
       INSERT INTO ${jobs} (state, queue, worker, args, attempt, max_attempts, attempted_by, attempted_at, claim)
       SELECT 'executing', 'life', 'rescuable', jsonb_build_object('n', i), $2, $3, $4, now(), gen_random_uuid()
       FROM generate_series(1, $1) i RETURNING id::text`,
      [count, opts.attempt ?? 1, opts.maxAttempts ?? 20, node, opts.staleSince],
    );
    return rows.map((r) => r.id);
  }
  const get = async (id: string): Promise<Job> => (await nodes[0]!.getJob(id))!;
  const release = gate();
  const blocker = new Worker({ name: 'blocker', queue: 'life', args: z.object({}), perform: () => release.promise.then(() => 'long done') });
  const nodes: Queue[] = [];
  const rescues: { on: string; job: Job }[] = [];
  // Two live nodes, both running Lifeline (staleAfter 2 s, rescueAfter 60 s); the leader's acts.
  beforeAll(async () => {
    for (const [i, kind] of (['pg', 'postgres'] as const).entries()) {
      const lifeline = new Lifeline({ staleAfter: 2_000, rescueAfter: 60_000, interval: 50 });
      const options = { nodeId: `live-${i}`, heartbeatInterval: 100, leaseTtl: 2_000, workers: [rescuable, blocker], plugins: [lifeline] };
      const node = await life.queue({ connection: connection(kind, `life${i}`), ...options });
      node.on('job:rescue', ({ job }) => rescues.push({ on: node.nodeId, job }));
      nodes.push(node);
    }
    for (const n of nodes) await n.start();
    await waitFor(() => nodes.some((n) => n.isLeader), 'a leader');
  });

  it('rescues the jobs of a stale node (retryable, then completed elsewhere) or discards them when out of attempts', async () => {
    // A node whose last beat was 10 s ago (staleAfter is 2 s), with jobs still 'executing'.
    const retried = await orphans('dead', 3, { staleSince: 10_000 });
    const [exhausted] = await orphans('dead', 1, { attempt: 3, maxAttempts: 3, staleSince: 10_000 });
    await waitFor(async () => (await Promise.all(retried.map(get))).every((j) => j.state === 'completed'), 'the rescued jobs to complete');
    for (const id of retried) {
      const job = await get(id);
      expect(job).toMatchObject({ state: 'completed', attempt: 2, result: `done ${(job.args as { n: number }).n}` });
      expect(['live-0', 'live-1']).toContain(job.attemptedBy);
      expect(job.errors.map((e) => e.name)).toEqual(['Rescued']);
      expect(job.errors[0]!.message).toContain('dead');
    }
    await waitFor(async () => (await get(exhausted!)).state === 'discarded', 'the exhausted job to be discarded');
    expect((await get(exhausted!)).completedAt).not.toBeNull();
    // One job:rescue per job, on the leader only, carrying the rescued job.
    await waitFor(() => rescues.length >= 4, 'rescue events');
    const leaderId = nodes.find((n) => n.isLeader)!.nodeId;
    expect(rescues.map((r) => r.job.id).sort()).toEqual([...retried, exhausted!].sort());
    expect(new Set(rescues.map((r) => r.on))).toEqual(new Set([leaderId]));
    const byId = new Map(rescues.map((r) => [r.job.id, r.job]));
    expect(byId.get(exhausted!)).toMatchObject({ state: 'discarded', attemptedBy: 'dead' });
    expect(byId.get(retried[0]!)).toMatchObject({ state: 'retryable', attemptedBy: 'dead' });
  });

  it('a node with no row: its jobs are rescued only once their attempt is older than rescueAfter', async () => {
    const before = rescues.length;
    // One statement, so one rescue pass sees both: one attempted long ago, one just now.
    const { rows } = await life.pool.query<{ id: string; age: number }>(
      `INSERT INTO ${jobs} (state, queue, worker, args, attempt, attempted_by, attempted_at, claim)
       VALUES ('executing', 'life', 'rescuable', '{"n": 100}', 1, 'ghost', now() - interval '2 minutes', gen_random_uuid()),
              ('executing', 'life', 'rescuable', '{"n": 101}', 1, 'ghost', now(), gen_random_uuid())
       RETURNING id::text, (args->>'n')::int AS age`,
    );
    const [oldId, recentId] = [rows.find((r) => r.age === 100)!.id, rows.find((r) => r.age === 101)!.id];
    await waitFor(() => rescues.slice(before).some((r) => r.job.id === oldId), 'the old attempt to be rescued');
    await waitFor(async () => (await get(oldId)).state === 'completed', 'the old job to complete');
    expect((await get(recentId)).state).toBe('executing');
    expect(rescues.slice(before).map((r) => r.job.id)).toEqual([oldId]);
    // Once its attempt is older than rescueAfter (60 s), it is rescued too.
    await life.pool.query(`UPDATE ${jobs} SET attempted_at = now() - interval '61 seconds' WHERE id = $1`, [recentId]);
    await waitFor(async () => (await get(recentId)).state === 'completed', 'the second job to be rescued and completed');
    expect(rescues.slice(before).map((r) => r.job.id)).toEqual([oldId, recentId]);
  });

  it('never rescues a long job of a live node, however old its attempt', async () => {
    const long = await nodes[0]!.insert(blocker, {});
    await waitFor(async () => (await get(long.id)).state === 'executing', 'the long job to start');
    // Far older than staleAfter and rescueAfter: only the node's heartbeat counts.
    await life.pool.query(`UPDATE ${jobs} SET attempted_at = now() - interval '1 hour' WHERE id = $1`, [long.id]);
    // A decoy from a dead node: once it is rescued, a rescue pass has seen the long job too (twice).
    for (let pass = 0; pass < 2; pass++) {
      const [decoy] = await orphans('dead', 1, { staleSince: 10_000 });
      await waitFor(() => rescues.some((r) => r.job.id === decoy), 'the decoy rescue');
    }
    expect(rescues.some((r) => r.job.id === long.id)).toBe(false);
    expect(await get(long.id)).toMatchObject({ state: 'executing', attempt: 1, errors: [] });
    release.open();
    await waitFor(async () => (await get(long.id)).state === 'completed', 'the long job to complete');
    expect(await get(long.id)).toMatchObject({ result: 'long done', attempt: 1 });
  });
});

describe('a node without leader plugins', () => {
  it('never takes the lease, so leader plugins cannot end up running nowhere', async () => {
    const bystander = await lead.queue({ connection: connection('pg', 'bystander'), nodeId: 'bystander', leaseTtl: 1_000, workers: [noop] });
    await bystander.start();
    const probe = new Probe('lead-probe', 'leader', () => {}, 50);
    const leader = await lead.queue({ connection: connection('pg', 'with-plugin'), nodeId: 'with-plugin', leaseTtl: 1_000, workers: [noop], plugins: [probe] });
    await leader.start();
    await waitFor(() => leader.isLeader && probe.ticks.length > 0, 'the node with a leader plugin to lead and tick');
    expect(bystander.isLeader).toBe(false);
    await leader.stop();
    await bystander.stop();
  });
});
