// A real cluster: child processes running docket with Lifeline, Pruner and Cron on one schema,
// killed with SIGKILL (a crash: no clean stop, no lease release, no heartbeat row removal).
//
// 1. Three nodes; the leader is killed about every 45 s and a replacement is spawned, so three
//    nodes keep running. Each time: a new leader is elected (failover measured, bounded by
//    2 x leaseTtl), never before the old lease expired; every job the killed leader held is
//    rescued ('Rescued' error entry) and completes on another node with exactly one more attempt.
//    Over the whole run (>= 3 minute ticks) an every-minute and an every-2-seconds cron schedule
//    enqueue every tick exactly once: no duplicates, no gaps.
// 2. One child SIGKILLed mid-job beside an in-process node (the leader, with Lifeline): every job
//    the child held is rescued and completes on the in-process node (attempt 2), while a job
//    running longer than staleAfter on that live node is never rescued.
//
// 3. A node stopped while its lease attempt is in flight must not leave the lease held behind it
//    (the next leader would wait a whole leaseTtl).
//
// The tests run concurrently (each on its own schema); the 3-minute cron run dominates.
import { spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, it } from 'vitest';
import { Lifeline } from '../../src/index.js';
import type { Job, Queue } from '../../src/index.js';
import { TIMINGS, clusterWorkers, runsTableSql } from '../fixtures/cluster-workers.js';
import { createPgPool } from '../support/db.js';
import { useSchema, waitFor } from '../support/queue.js';

const db = useSchema('cluster');
const soloDb = useSchema('cluster_solo');
const stopDb = useSchema('cluster_stop');
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

const LEASE_TTL = TIMINGS.leaseTtl;
/** Leader kills are this far apart (test choreography, not synchronisation). */
const KILL_EVERY = 45_000;

type Report = { event: string; node: string; at: number } & Record<string, unknown>;

/** One child process running a docket node (test/fixtures/cluster-child.ts). */
class ChildNode {
  readonly reports: Report[] = [];
  stderr = '';
  readonly proc: ChildProcessByStdio<null, Readable, Readable>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  killedAt: number | undefined;

  constructor(
    readonly id: string,
    url: string,
    schema: string,
    options: { queues: Record<string, number>; plugins: 'all' | 'none' },
  ) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/cluster-child.ts'], {
      cwd: repoRoot,
      env: {
        ...process.env,
        DATABASE_URL: url,
        DOCKET_SCHEMA: schema,
        DOCKET_NODE_ID: id,
        DOCKET_QUEUES: JSON.stringify(options.queues),
        DOCKET_PLUGINS: options.plugins,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      const at = performance.now();
      try {
        this.reports.push({ ...(JSON.parse(line) as Report), at });
      } catch {
        this.reports.push({ event: 'unparsed', node: this.id, line, at });
      }
    });
    // 'close': after the last report line was read ('exit' can come first).
    this.exited = new Promise((resolve) => this.proc.on('close', (code, signal) => resolve({ code, signal })));
    children.add(this);
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  find(event: string, predicate: (r: Report) => boolean = () => true): Report | undefined {
    return this.reports.find((r) => r.event === event && predicate(r));
  }

  all(event: string, predicate: (r: Report) => boolean = () => true): Report[] {
    return this.reports.filter((r) => r.event === event && predicate(r));
  }

  /** Waits for a report; fails at once (with the child's stderr) if the child exits first. */
  async report(event: string, predicate: (r: Report) => boolean = () => true, timeout = 30_000): Promise<Report> {
    await waitFor(() => this.find(event, predicate) !== undefined || !this.alive, `${this.id} to report ${event}`, timeout);
    const found = this.find(event, predicate);
    if (found === undefined) throw new Error(`${this.id} exited before reporting ${event}: ${this.stderr}`);
    return found;
  }

  /** Whether the node's latest leadership report is `elected`. */
  get leads(): boolean {
    const last = this.reports.filter((r) => r.event === 'elected' || r.event === 'lost').at(-1);
    return last?.event === 'elected';
  }

  /** Slow jobs this node started and did not finish (by its own reports). */
  running(ids?: ReadonlySet<string>): string[] {
    const finished = new Set(this.all('finish').map((r) => `${r.id as string}:${r.attempt as number}`));
    return this.all('start', (r) => r.worker === 'cl-slow' && (ids === undefined || ids.has(r.id as string)))
      .filter((r) => !finished.has(`${r.id as string}:${r.attempt as number}`))
      .map((r) => r.id as string);
  }

  async crash(): Promise<number> {
    this.proc.kill('SIGKILL');
    const at = performance.now();
    this.killedAt = at;
    const exit = await this.exited;
    if (exit.signal !== 'SIGKILL') throw new Error(`${this.id} did not die of SIGKILL: ${JSON.stringify(exit)} ${this.stderr}`);
    return at;
  }
}

const children = new Set<ChildNode>();
// Registered after useSchema: after-hooks run in reverse order, so every child is dead before
// the schemas are dropped, whatever happened in the tests.
afterAll(async () => {
  const alive = [...children].filter((c) => c.alive);
  for (const child of alive) child.proc.kill('SIGKILL');
  await Promise.all(alive.map((c) => c.exited));
});

async function killAll(nodes: Iterable<ChildNode>): Promise<void> {
  const alive = [...nodes].filter((c) => c.alive);
  for (const child of alive) child.proc.kill('SIGKILL');
  await Promise.all(alive.map((c) => c.exited));
}

interface LeaseRow {
  owner: string;
  expires_at: number;
  acquired_at: number;
}

interface JobRowLite {
  id: string;
  state: string;
  worker: string;
  attempt: number;
  attempted_by: string | null;
  errors: { attempt: number; name: string; message: string }[];
  result: { node?: string } | null;
}

const ms = (column: string): string => `(extract(epoch FROM ${column}) * 1000)::float8`;

function helpers(schema: string, pool: typeof db.pool) {
  const q = `"${schema}"`;
  return {
    async lease(): Promise<LeaseRow | undefined> {
      const { rows } = await pool.query<LeaseRow>(
        `SELECT owner, ${ms('expires_at')} AS expires_at, ${ms('acquired_at')} AS acquired_at FROM ${q}.leases WHERE name = 'leader'`,
      );
      return rows[0];
    },
    async jobs(where: string, params: unknown[] = []): Promise<JobRowLite[]> {
      const { rows } = await pool.query<JobRowLite>(
        `SELECT id::text AS id, state::text AS state, worker, attempt, attempted_by, errors, result FROM ${q}.jobs WHERE ${where} ORDER BY id`,
        params,
      );
      return rows;
    },
    async runs(ids: readonly string[]): Promise<{ job_id: string; node: string; attempt: number; finished: boolean; took: number | null }[]> {
      const { rows } = await pool.query(
        `SELECT job_id::text AS job_id, node, attempt, finished_at IS NOT NULL AS finished,
                (extract(epoch FROM finished_at - started_at) * 1000)::float8 AS took
         FROM ${q}.cluster_runs WHERE job_id = ANY($1::bigint[]) ORDER BY job_id, id`,
        [ids],
      );
      return rows;
    },
    /** Cron jobs of a schedule: their tick (from the exact unique key) and when they were inserted. */
    async ticks(name: string): Promise<{ id: string; key: string | null; state: string; inserted: number }[]> {
      const { rows } = await pool.query(
        `SELECT id::text AS id, unique_key AS key, state::text AS state, ${ms('inserted_at')} AS inserted
         FROM ${q}.jobs WHERE $1 = ANY(tags) ORDER BY id`,
        [`cron:${name}`],
      );
      return rows;
    },
    async dbNow(): Promise<number> {
      const { rows } = await pool.query<{ now: number }>(`SELECT ${ms('now()')} AS now`);
      return Number(rows[0]!.now);
    },
  };
}

/**
 * Checks a schedule's jobs: each carries the exact key `cron:<name>:<tick ISO>`, one job per key
 * and per tick, ticks exactly `step` ms apart with no gap from the first to the last, each
 * inserted at or after its tick. Returns the ticks (ms).
 */
function checkTicks(
  expect: import('vitest').ExpectStatic,
  name: string,
  rows: { id: string; key: string | null; inserted: number }[],
  step: number,
): number[] {
  const prefix = `cron:${name}:`;
  for (const row of rows) expect(row.key, `job ${row.id} of schedule ${name}`).toMatch(new RegExp(`^cron:${name}:\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.000Z$`));
  const ticks = rows.map((r) => Date.parse(r.key!.slice(prefix.length)));
  const perTick = new Map<number, string[]>();
  rows.forEach((r, i) => perTick.set(ticks[i]!, [...(perTick.get(ticks[i]!) ?? []), r.id]));
  const duplicated = [...perTick].filter(([, ids]) => ids.length > 1).map(([t, ids]) => `${new Date(t).toISOString()}: jobs ${ids.join(', ')}`);
  expect(duplicated, `ticks of ${name} enqueued more than once`).toEqual([]);
  const sorted = [...perTick.keys()].sort((a, b) => a - b);
  for (const t of sorted) expect(t % step, `tick ${new Date(t).toISOString()} of ${name} on the ${step} ms grid`).toBe(0);
  const gaps: string[] = [];
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]! - sorted[i - 1]! !== step) gaps.push(`${new Date(sorted[i - 1]!).toISOString()} -> ${new Date(sorted[i]!).toISOString()}`);
  }
  expect(gaps, `gaps between ticks of ${name}`).toEqual([]);
  // Inserted at or after its tick (the database clock decides both), within the grace period.
  rows.forEach((r, i) => {
    expect(r.inserted, `job ${r.id} inserted before its tick`).toBeGreaterThanOrEqual(ticks[i]!);
    expect(r.inserted - ticks[i]!, `job ${r.id} inserted late`).toBeLessThanOrEqual(60_000);
  });
  return sorted;
}

describe.concurrent('cluster', () => {
  it('3 nodes, leader SIGKILLed about every 45 s: failover, rescue, and exactly one job per cron tick', async ({ expect }) => {
    const h = helpers(db.schema, db.pool);
    const { slow } = clusterWorkers({ pool: db.pool, quotedSchema: `"${db.schema}"`, nodeId: () => 'parent', say: () => {} });
    const parent = await db.queue({ workers: [slow], queues: {} });
    await db.pool.query(runsTableSql(`"${db.schema}"`));

    let seq = 0;
    const mine: ChildNode[] = [];
    const spawnNode = (): ChildNode => {
      const node = new ChildNode(`node-${++seq}`, db.url, db.schema, { queues: { 'cl-slow': 2, 'cl-cron': 2 }, plugins: 'all' });
      mine.push(node);
      return node;
    };
    const live = (): ChildNode[] => mine.filter((n) => n.alive);
    const leaders = (): ChildNode[] => live().filter((n) => n.leads);

    const failovers: number[] = [];
    const rescues: number[] = [];
    const heldByKill: { victim: string; ids: string[] }[] = [];
    const t0 = performance.now();
    try {
      await Promise.all([spawnNode(), spawnNode(), spawnNode()].map((n) => n.report('ready', undefined, 60_000)));
      await waitFor(() => leaders().length === 1, 'a first leader', 20_000);
      expect((await h.lease())?.owner).toBe(leaders()[0]!.id);

      for (let kill = 1; ; kill++) {
        // Choreography: the next kill is due KILL_EVERY after the previous one was planned.
        const due = t0 + kill * KILL_EVERY;
        await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));

        expect(live()).toHaveLength(3);
        const current = leaders();
        expect(current.map((n) => n.id), 'exactly one live node leads').toHaveLength(1);
        const victim = current[0]!;
        expect((await h.lease())?.owner, 'the lease names the node that reports leading').toBe(victim.id);

        // Give the leader slow jobs: 8 jobs for 6 slots, so every node's 2 slots fill.
        const batch = await parent.insertMany(slow, Array.from({ length: 8 }, (_, i) => ({ ms: 3_000, label: `kill${kill}-${i}` })));
        const batchIds = new Set(batch.map((j) => j.id));
        await waitFor(() => victim.running(batchIds).length === 2 || !victim.alive, `leader ${victim.id} to run 2 slow jobs`, 15_000);
        const leaseBefore = (await h.lease())!;
        expect(leaseBefore.owner).toBe(victim.id);
        const runningAtKill = victim.running();

        const tKill = await victim.crash();
        const held = await h.jobs(`state = 'executing' AND attempted_by = $1`, [victim.id]);
        const heldIds = held.map((j) => j.id);
        heldByKill.push({ victim: victim.id, ids: heldIds });
        expect(runningAtKill.length, 'the leader held slow jobs when killed').toBeGreaterThanOrEqual(2);
        for (const id of runningAtKill) expect(heldIds, `job ${id} running on ${victim.id} is held by it in the database`).toContain(id);

        // Failover: a live node reports leading, and the lease says so; never before the old lease expired.
        const elected = await Promise.race(
          live().map((n) => n.report('elected', (r) => r.at > tKill, 4 * LEASE_TTL).then((r) => ({ node: n, r }))),
        );
        const failover = elected.r.at - tKill;
        failovers.push(failover);
        console.log(`[cluster] kill ${kill}: leader ${victim.id} SIGKILLed; ${elected.node.id} elected after ${failover.toFixed(0)} ms`);
        expect(failover, 'failover within a generous bound (2 x leaseTtl)').toBeLessThanOrEqual(2 * LEASE_TTL);
        const leaseAfter = (await h.lease())!;
        expect(leaseAfter.owner).toBe(elected.node.id);
        expect(leaseAfter.acquired_at, 'the lease was taken only after it expired').toBeGreaterThanOrEqual(leaseBefore.expires_at);
        expect(leaders().map((n) => n.id)).toEqual([elected.node.id]);

        // Rescue: every job the dead node held, reported by the new leader's Lifeline.
        const rescuedBy = (id: string): Report[] => mine.flatMap((n) => n.all('rescue', (r) => r.id === id && r.at > tKill));
        await waitFor(() => heldIds.every((id) => rescuedBy(id).length > 0), `the jobs of ${victim.id} to be rescued`, 30_000);
        const rescueReports = heldIds.flatMap((id) => rescuedBy(id));
        const rescueMs = Math.max(...rescueReports.map((r) => r.at)) - tKill;
        rescues.push(rescueMs);
        console.log(`[cluster] kill ${kill}: ${heldIds.length} jobs held by ${victim.id} (${runningAtKill.length} slow running) rescued ${rescueMs.toFixed(0)} ms after the kill`);
        for (const r of rescueReports) expect(r).toMatchObject({ node: elected.node.id, attemptedBy: victim.id, state: 'retryable' });
        expect(rescueReports).toHaveLength(heldIds.length);

        // ...and each completes once more, on another node.
        await waitFor(async () => (await h.jobs(`id = ANY($1::bigint[]) AND state <> 'completed'`, [heldIds])).length === 0, `the rescued jobs of ${victim.id} to complete`, 30_000);
        for (const before of held) {
          const [after] = await h.jobs('id = $1', [before.id]);
          expect(after).toMatchObject({ state: 'completed', attempt: before.attempt + 1 });
          expect(after!.attempted_by).not.toBe(victim.id);
          expect(after!.result?.node).toBe(after!.attempted_by);
          expect(after!.errors.filter((e) => e.name === 'Rescued')).toEqual([
            expect.objectContaining({ attempt: before.attempt, name: 'Rescued', message: expect.stringContaining(victim.id) }),
          ]);
        }
        const runs = await h.runs(runningAtKill);
        for (const id of runningAtKill) {
          const own = runs.filter((r) => r.job_id === id);
          // The interrupted run on the dead node, then exactly one finished run elsewhere.
          expect(own.filter((r) => r.node === victim.id).map((r) => r.attempt)).toEqual([1]);
          const others = own.filter((r) => r.node !== victim.id);
          expect(others.map((r) => ({ attempt: r.attempt, finished: r.finished }))).toEqual([{ attempt: 2, finished: true }]);
        }

        // Three nodes again.
        await spawnNode().report('ready', undefined, 60_000);
        const minuteTicks = (await h.ticks('minute')).length;
        console.log(`[cluster] kill ${kill} done at ${((performance.now() - t0) / 1000).toFixed(0)} s; minute ticks so far: ${minuteTicks}`);
        // At least 3 minutes of cron under kills (and at least 3 kills); the third minute tick is
        // due by then at the latest, give or take the first one's wait for its minute.
        if (kill >= 3 && performance.now() - t0 >= 180_000) break;
      }
      await waitFor(async () => (await h.ticks('minute')).length >= 3, 'three minute ticks', 30_000);

      // The 2-second schedule still runs after the last failover.
      const lastFailoverDb = await h.dbNow();
      await waitFor(
        async () => (await h.ticks('every2s')).some((r) => r.key !== null && Date.parse(r.key.split(':').slice(2).join(':')) > lastFailoverDb + 2_000),
        'a 2-second tick after the last failover',
        15_000,
      );

      // Killed nodes are forgotten once silent for 60 s (max(staleAfter x 10, 60 s)) with nothing
      // executing; the others are still known.
      const { rows: known } = await db.pool.query<{ id: string }>(`SELECT id FROM "${db.schema}".nodes`);
      const knownIds = known.map((r) => r.id);
      for (const n of mine) {
        if (n.alive) expect(knownIds, `live node ${n.id} has a heartbeat row`).toContain(n.id);
        else if (performance.now() - n.killedAt! > 65_000) expect(knownIds, `node ${n.id}, killed over 65 s ago, forgotten`).not.toContain(n.id);
      }

      // Leadership changed exactly once per kill; no node lost it otherwise; no errors anywhere.
      const elections = mine.flatMap((n) => n.all('elected'));
      expect(elections, 'one election at start and one per kill').toHaveLength(heldByKill.length + 1);
      expect(mine.flatMap((n) => n.all('lost'))).toEqual([]);
      expect(mine.flatMap((n) => [...n.all('plugin-error'), ...n.all('queue-error')])).toEqual([]);

      // Wind down: no more ticks, every job finished, then clean stops.
      await parent.schedules.remove('minute');
      await parent.schedules.remove('every2s');
      await waitFor(async () => (await h.jobs(`state <> 'completed'`)).length === 0, 'every job to complete', 30_000);
      const survivors = live();
      for (const n of survivors) n.proc.kill('SIGTERM');
      const exits = await Promise.all(survivors.map((n) => n.exited));
      expect(exits, survivors.map((n) => n.stderr).join('\n')).toEqual(survivors.map(() => ({ code: 0, signal: null })));
    } finally {
      await killAll(mine);
    }

    // Nothing lost: every job completed; at most one extra attempt, and only for rescued jobs.
    const all = await h.jobs('true');
    expect(all.filter((j) => j.state !== 'completed')).toEqual([]);
    const allHeld = new Set(heldByKill.flatMap((k) => k.ids));
    expect(all.filter((j) => j.attempt > 2)).toEqual([]);
    expect(all.filter((j) => j.attempt === 2).map((j) => j.id).sort()).toEqual([...allHeld].sort());
    expect(all.filter((j) => j.errors.some((e) => e.name === 'Rescued')).map((j) => j.id).sort()).toEqual([...allHeld].sort());
    // Rescue reports over the whole run name exactly the held jobs, each once.
    const rescueIds = mine.flatMap((n) => n.all('rescue')).map((r) => r.id as string);
    expect([...rescueIds].sort()).toEqual([...allHeld].sort());
    // Clean stops removed their heartbeat rows and released the lease.
    const { rows: nodeRows } = await db.pool.query<{ id: string }>(`SELECT id FROM "${db.schema}".nodes`);
    const killed = new Set(heldByKill.map((k) => k.victim));
    expect(nodeRows.filter((r) => !killed.has(r.id))).toEqual([]);
    expect(await h.lease()).toBeUndefined();

    // Cron: exactly one job per tick, no gaps, across every failover.
    const minute = checkTicks(expect, 'minute', await h.ticks('minute'), 60_000);
    const every2s = checkTicks(expect, 'every2s', await h.ticks('every2s'), 2_000);
    expect(minute.length).toBeGreaterThanOrEqual(3);
    const span = (every2s.at(-1)! - every2s[0]!) / 1000;
    console.log(
      `[cluster] ${heldByKill.length} leader kills; failover ms: ${failovers.map((f) => f.toFixed(0)).join(', ')}; ` +
        `rescue ms (kill -> last held job rescued): ${rescues.map((f) => f.toFixed(0)).join(', ')}; ` +
        `minute ticks: ${minute.length}; 2-second ticks: ${every2s.length} over ${span} s; jobs rescued: ${allHeld.size}`,
    );
    // The 2-second schedule covered (nearly) the whole run: kills did not stop it for long.
    expect(every2s.length).toBeGreaterThanOrEqual((heldByKill.length * KILL_EVERY) / 2_000 - 10);
  }, 330_000);

  it('a child SIGKILLed mid-job: the in-process leader rescues its jobs and runs them; its own long job is never rescued', async ({ expect }) => {
    const h = helpers(soloDb.schema, soloDb.pool);
    const says: Report[] = [];
    const hostId = 'solo-host';
    const { slow, cron } = clusterWorkers({
      pool: soloDb.pool,
      quotedSchema: `"${soloDb.schema}"`,
      nodeId: () => hostId,
      say: (event, data = {}) => says.push({ event, node: hostId, at: performance.now(), ...data }),
    });
    // One slot: the long job fills it, so only the child can take the child's jobs.
    const host: Queue = await soloDb.queue({
      nodeId: hostId,
      workers: [slow, cron],
      queues: { 'cl-slow': 1 },
      heartbeatInterval: TIMINGS.heartbeatInterval,
      leaseTtl: TIMINGS.leaseTtl,
      plugins: [new Lifeline({ staleAfter: TIMINGS.staleAfter, interval: TIMINGS.lifelineInterval })],
    });
    await soloDb.pool.query(runsTableSql(`"${soloDb.schema}"`));
    const rescued: { job: Job; at: number }[] = [];
    const lost: string[] = [];
    host.on('job:rescue', ({ job }) => rescued.push({ job, at: performance.now() }));
    host.on('leader:lost', ({ reason }) => lost.push(reason));
    await host.start();
    await waitFor(() => host.isLeader, 'the in-process node to lead');

    // 30 s: the child boots after this starts (beside test 1's children, on a loaded machine
    // that can take over 10 s), and the long job must outlast the boot, the child's claims,
    // the kill and the rescue, or the host's free slot would take the child's jobs.
    const long = await host.insert(slow, { ms: 30_000, label: 'live-long' });
    await waitFor(() => says.some((s) => s.event === 'start' && s.id === long.id), 'the long job to start in-process');
    const longStart = says.find((s) => s.event === 'start' && s.id === long.id)!.at;

    const child = new ChildNode('solo-child', soloDb.url, soloDb.schema, { queues: { 'cl-slow': 3 }, plugins: 'none' });
    try {
      await child.report('ready', undefined, 60_000);
      // Runs until killed on the child; 200 ms once rescued.
      const jobs = await host.insertMany(slow, [0, 1, 2].map((i) => ({ ms: 120_000, thenMs: 200, label: `child-${i}` })));
      const ids = jobs.map((j) => j.id);
      await waitFor(() => ids.every((id) => child.find('start', (r) => r.id === id) !== undefined) || !child.alive, 'the child to run its 3 jobs', 20_000);
      expect(child.running().sort()).toEqual([...ids].sort());
      expect((await h.jobs(`state = 'executing'`)).map((j) => [j.id, j.attempted_by])).toEqual([
        [long.id, hostId],
        ...ids.map((id) => [id, 'solo-child']),
      ]);

      const tKill = await child.crash();
      // A rescue of any other job (the live node's own) ends the waits early: the first check below fails.
      const foreign = (): boolean => rescued.some((r) => !ids.includes(r.job.id));
      await waitFor(() => ids.every((id) => rescued.some((r) => r.job.id === id)) || foreign(), 'the child jobs to be rescued', 20_000);
      const rescueMs = Math.max(...rescued.map((r) => r.at)) - tKill;
      console.log(`[cluster solo] 3 jobs of the SIGKILLed child rescued ${rescueMs.toFixed(0)} ms after the kill (staleAfter ${TIMINGS.staleAfter}, interval ${TIMINGS.lifelineInterval})`);
      await waitFor(async () => foreign() || (await h.jobs(`state <> 'completed'`)).length === 0, 'every job to complete in-process', 60_000);
      expect(rescued.map((r) => r.job.id).sort(), 'rescued: exactly the jobs of the dead child').toEqual([...ids].sort());
      const longEnd = says.find((s) => s.event === 'finish' && s.id === long.id)!.at;

      // Only the child's jobs were rescued, each once, while the long job ran past staleAfter.
      for (const r of rescued) expect(r.job).toMatchObject({ state: 'retryable', attempt: 1, attemptedBy: 'solo-child' });
      const firstRescue = Math.min(...rescued.map((r) => r.at));
      expect(firstRescue - longStart, 'Lifeline ran while the live job was older than staleAfter').toBeGreaterThan(TIMINGS.staleAfter);
      expect(firstRescue).toBeLessThan(longEnd);

      for (const id of ids) {
        // Exactly one row per job across the live table and the history (the view reads both).
        const rows = await h.jobs('id = $1', [id]);
        expect(rows).toHaveLength(1);
        const [job] = rows;
        expect(job).toMatchObject({ state: 'completed', attempt: 2, attempted_by: hostId, result: { node: hostId } });
        expect(job!.errors).toEqual([expect.objectContaining({ attempt: 1, name: 'Rescued', message: expect.stringContaining('solo-child') })]);
      }
      const runs = await h.runs(ids);
      expect(runs.map((r) => [r.job_id, r.node, r.attempt, r.finished])).toEqual(
        ids.flatMap((id) => [
          [id, 'solo-child', 1, false],
          [id, hostId, 2, true],
        ]),
      );
      const [longJob] = await h.jobs('id = $1', [long.id]);
      expect(longJob).toMatchObject({ state: 'completed', attempt: 1, attempted_by: hostId, errors: [], result: { node: hostId } });
      const [longRun] = await h.runs([long.id]);
      expect(longRun).toMatchObject({ node: hostId, attempt: 1, finished: true });
      expect(longRun!.took).toBeGreaterThan(TIMINGS.staleAfter);

      // The child (no plugins) never led; the in-process node led throughout.
      expect(child.all('elected')).toEqual([]);
      expect(lost).toEqual([]);
      expect(host.isLeader).toBe(true);
    } finally {
      await killAll([child]);
      await host.stop({ timeout: 1_000 });
    }
  }, 150_000);
  it('a node stopped while its lease attempt is in flight leaves no lease held behind it', async ({ expect }) => {
    const h = helpers(stopDb.schema, stopDb.pool);
    const { slow } = clusterWorkers({ pool: stopDb.pool, quotedSchema: `"${stopDb.schema}"`, nodeId: () => 'unused', say: () => {} });
    const options = {
      workers: [slow],
      queues: { 'cl-slow': 1 },
      heartbeatInterval: TIMINGS.heartbeatInterval,
      leaseTtl: LEASE_TTL,
      plugins: [new Lifeline({ staleAfter: TIMINGS.staleAfter, interval: TIMINGS.lifelineInterval })],
    };
    // A pool that calls stop() the moment the node sends its first lease statement, so the stop
    // lands while that statement is in flight (stop() sets its flags within microtasks; the
    // statement's reply needs a round trip to the server).
    const pool = createPgPool(stopDb.url, `dkt-cluster-stop-${stopDb.schema}`, { max: 4 });
    let stopping: Promise<void> | undefined;
    let armed = true;
    const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
    pool.query = ((config: unknown, ...rest: unknown[]) => {
      if (armed && typeof (config as { name?: unknown })?.name === 'string' && (config as { name: string }).name.startsWith('docket_acquire_lease_')) {
        armed = false;
        queueMicrotask(() => (stopping = first.stop()));
      }
      return query(config, ...rest);
    }) as typeof pool.query;
    const first = await stopDb.queue({ ...options, connection: pool, nodeId: 'stopped-early' });
    const elected: string[] = [];
    first.on('leader:elected', ({ nodeId }) => elected.push(nodeId));
    try {
      await first.start();
      await waitFor(() => stopping !== undefined, 'the first lease attempt');
      await stopping;
      expect(first.running).toBe(false);
      const left = await h.lease();

      // What it costs: the next node can lead only once that lease expires.
      const next = await stopDb.queue({ ...options, nodeId: 'next' });
      const started = performance.now();
      await next.start();
      await waitFor(() => next.isLeader, 'the next node to lead', 4 * LEASE_TTL);
      console.log(
        `[cluster stop] lease after stopping mid-attempt: ${left === undefined ? 'none' : `held by ${left.owner}`}; ` +
          `the next node led ${(performance.now() - started).toFixed(0)} ms after starting (leaseTtl ${LEASE_TTL})`,
      );
      await next.stop();

      expect(elected, 'the stopping node never reported leading').toEqual([]);
      expect(left?.owner, 'a stopped node still holds the leader lease').toBeUndefined();
    } finally {
      await first.stop();
      await pool.end();
    }
  }, 60_000);
});
