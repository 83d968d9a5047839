// Workflow release under competition and at size: 20 parents completing at the same instant on
// three Queue instances (two on pg, one on postgres.js) release their child exactly once and
// never early, round after round; a 1,000-step fan-out/fan-in and a 50-level chain complete; and
// the Workflow plugin's sweep releases a step whose release was lost and finishes its workflow.
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Worker, Workflow } from '../../src/index.js';
import type { Queue, WorkflowSummary } from '../../src/index.js';
import { createPgPool, createPostgresJs } from '../support/db.js';
import { finishBySql } from '../support/storage.js';
import { nextEvent, useSchema, waitFor } from '../support/queue.js';

const db = useSchema('wf_fan_in');
const PARENTS = 20;
const ROUNDS = 12;
/** Beyond WIDE_FAN_IN (32): the child's releases are recorded by the acks and applied after. */
const WIDE = 40;
const WIDE_ROUNDS = 6;

const pools = [createPgPool(db.url, `wf-fan-in-a-${db.schema}`, { max: 6 }), createPgPool(db.url, `wf-fan-in-b-${db.schema}`, { max: 6 })];
const sql = createPostgresJs(db.url, `wf-fan-in-c-${db.schema}`, { max: 6 });
afterAll(async () => {
  await Promise.all([...pools.map((p) => p.end()), sql.end({ timeout: 1 })]);
});

/** Parents of the current round wait here until all of them are running, then return together. */
let barrier: { arrived: number; expected: number; release: () => void; released: Promise<void> } = makeBarrier(PARENTS);
function makeBarrier(expected: number): typeof barrier {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  return { arrived: 0, expected, release, released };
}
/** Per workflow: every start of its child, with whether all parents were completed by then (from the rows). */
const childRuns = new Map<string, boolean[]>();

const parent = new Worker({
  name: 'fi-parent',
  queue: 'fi',
  args: z.object({ i: z.number() }),
  perform: async (job) => {
    const round = barrier;
    if (++round.arrived === round.expected) round.release();
    await round.released;
    return { i: job.args.i };
  },
});
const child = new Worker({
  name: 'fi-child',
  queue: 'fi',
  args: z.object({}),
  perform: async (job) => {
    const { rows } = await db.pool.query<{ done: number; parents: number }>(
      `SELECT count(*)::int AS done, (SELECT count(*)::int FROM "${db.schema}".jobs WHERE workflow_id = $1 AND step LIKE 'p%') AS parents
       FROM "${db.schema}".jobs_finished WHERE workflow_id = $1 AND state = 'completed' AND step LIKE 'p%'`,
      [job.workflow!.id],
    );
    childRuns.set(job.workflow!.id, [...(childRuns.get(job.workflow!.id) ?? []), rows[0]!.done === rows[0]!.parents]);
    return Object.keys(await job.results()).length;
  },
});
const noop = new Worker({ name: 'fi-noop', queue: 'fi-big', args: z.object({ n: z.number() }), perform: (job) => job.args.n });
const workers = [parent, child, noop];

function endedOnAny(queues: readonly Queue[], id: string, timeout = 30_000): Promise<WorkflowSummary> {
  return Promise.race(
    queues.flatMap((q) => [
      nextEvent(q, 'workflow:complete', ({ workflow }) => workflow.id === id, timeout).then((e) => e.workflow),
      nextEvent(q, 'workflow:fail', ({ workflow }) => workflow.id === id, timeout).then((e) => e.workflow),
    ]),
  );
}

describe('workflow release', () => {
  for (const [width, rounds, how] of [
    [PARENTS, ROUNDS, 'released in the acks'],
    [WIDE, WIDE_ROUNDS, 'a wide fan-in, released after the acks'],
  ] as const) {
    it(`releases a fan-in child exactly once, never early, when ${width} parents complete at once on 3 instances (${rounds} rounds, ${how})`, async () => {
      const nodes = await Promise.all([
        db.queue({ workers, queues: { fi: 16 }, connection: pools[0]!, nodeId: `fi-a-${width}` }),
        db.queue({ workers, queues: { fi: 16 }, connection: pools[1]!, nodeId: `fi-b-${width}` }),
        db.queue({ workers, queues: { fi: 16 }, connection: sql, nodeId: `fi-c-${width}` }),
      ]);
      await Promise.all(nodes.map((n) => n.start()));
      // Stopped whatever happens: nodes left running would take the next test's jobs.
      try {
        const spread: number[] = [];
        for (let round = 0; round < rounds; round++) {
          barrier = makeBarrier(width);
          let builder = nodes[round % 3]!.workflow('fan-in');
          for (let i = 0; i < width; i++) builder = builder.add(`p${i}`, parent, { i });
          builder = builder.add('child', child, {}, { deps: Array.from({ length: width }, (_, i) => `p${i}`) });
          const run = await builder.insert();
          const end = await endedOnAny(nodes, run.id);
          expect(end.state).toBe('completed');
          expect(childRuns.get(run.id), `round ${round}`).toEqual([true]);
          // From the rows: every step completed once. (That the child started only after every
          // parent committed is childRuns' check, made by the child itself. Timestamps cannot
          // tell it: attempted_at and completed_at are now(), each statement's transaction start,
          // which can precede the statement's snapshot by milliseconds when the protocol's messages
          // arrive apart; on Node 26 the child's claim regularly started 5-8 ms before the last
          // parent's ack that it saw committed.)
          const { rows } = await db.pool.query<{ step: string; attempt: number; attempted_by: string }>(
            `SELECT step, attempt, attempted_by FROM "${db.schema}".jobs WHERE workflow_id = $1`,
            [run.id],
          );
          expect(rows).toHaveLength(width + 1);
          expect(rows.every((r) => r.attempt === 1)).toBe(true);
          expect((await nodes[0]!.getJob(run.steps.child!.id))!.result).toBe(width);
          spread.push(new Set(rows.filter((r) => r.step !== 'child').map((r) => r.attempted_by)).size);
        }
        // The parents really were spread over the nodes (else this tested no race at all).
        expect(spread.filter((n) => n >= 2).length).toBeGreaterThan(rounds / 2);
        const { rows: pending } = await db.pool.query(`SELECT count(*)::int AS n FROM "${db.schema}".workflow_releases`);
        expect(pending[0].n).toBe(0);
      } finally {
        await Promise.all(nodes.map((n) => n.stop()));
      }
    }, 120_000);
  }

  it('completes a 1,000-step fan-out/fan-in and a 50-level chain', async () => {
    const queue = await db.queue({ workers, queues: { 'fi-big': 20 } });
    await queue.start();
    let wide = queue.workflow('wide').add('root', noop, { n: -1 });
    for (let i = 0; i < 1_000; i++) wide = wide.add(`m${i}`, noop, { n: i }, { deps: ['root'] });
    wide = wide.add('sink', noop, { n: 1_000 }, { deps: Array.from({ length: 1_000 }, (_, i) => `m${i}`) });
    const wideRun = await wide.insert();
    let chain = queue.workflow('chain').add('l0', noop, { n: 0 });
    for (let i = 1; i < 50; i++) chain = chain.add(`l${i}`, noop, { n: i }, { deps: [`l${i - 1}`] });
    const chainRun = await chain.insert();
    const [wideEnd, chainEnd] = await Promise.all([endedOnAny([queue], wideRun.id, 60_000), endedOnAny([queue], chainRun.id, 60_000)]);
    expect(wideEnd.state).toBe('completed');
    expect(chainEnd.state).toBe('completed');
    const { rows } = await db.pool.query<{ wf: string; n: number; first: Date; last: Date }>(
      `SELECT workflow_id::text AS wf, count(*)::int AS n, min(attempted_at) AS first, max(completed_at) AS last
       FROM "${db.schema}".jobs_finished WHERE workflow_id = ANY($1::bigint[]) AND state = 'completed' AND attempt = 1 GROUP BY workflow_id`,
      [[wideRun.id, chainRun.id]],
    );
    expect(Object.fromEntries(rows.map((r) => [r.wf, r.n]))).toEqual({ [wideRun.id]: 1_002, [chainRun.id]: 50 });
    // The chain ran level by level: each level started after the one before completed.
    const { rows: levels } = await db.pool.query<{ step: string; attempted_at: Date; completed_at: Date }>(
      `SELECT step, attempted_at, completed_at FROM "${db.schema}".jobs_finished WHERE workflow_id = $1 ORDER BY id`,
      [chainRun.id],
    );
    for (let i = 1; i < 50; i++) expect(levels[i]!.attempted_at.getTime()).toBeGreaterThanOrEqual(levels[i - 1]!.completed_at.getTime());
    const sink = (await queue.getWorkflow(wideRun.id))!.steps.at(-1)!;
    expect(sink.deps).toHaveLength(1_000);
    await queue.stop();
  }, 120_000);

  it('the Workflow plugin releases a step whose release was lost, and finishes the workflow', async () => {
    const queue = await db.queue({ workers, queues: { 'fi-big': 2 }, plugins: [new Workflow({ interval: 200 })] });
    await queue.start();
    await waitFor(() => queue.isLeader, 'the leader lease');
    // 'a' sits in a queue nobody runs; it is then finished behind docket's back (no release).
    const run = await queue.workflow('lost').add('a', noop, { n: 1 }, { delay: 3_600_000 }).add('b', noop, { n: 2 }, { deps: ['a'] }).insert();
    const done = nextEvent(queue, 'workflow:complete', ({ workflow }) => workflow.id === run.id);
    expect(await finishBySql(db.pool, db.schema, 'completed', 'j.id = $1', [run.steps.a!.id])).toBe(1);
    const end = await done;
    expect(end.workflow.state).toBe('completed');
    const b = await queue.getJob(run.steps.b!.id);
    expect(b).toMatchObject({ state: 'completed', attempt: 1, result: 2 });

    // A failure whose settling was lost: the sweep applies the policy.
    const failing = await queue.workflow('lost-fail').add('a', noop, { n: 1 }, { delay: 3_600_000 }).add('b', noop, { n: 2 }, { deps: ['a'] }).insert();
    const failed = nextEvent(queue, 'workflow:fail', ({ workflow }) => workflow.id === failing.id);
    await finishBySql(db.pool, db.schema, 'discarded', 'j.id = $1', [failing.steps.a!.id]);
    expect((await failed).workflow.state).toBe('failed');
    expect((await queue.getJob(failing.steps.b!.id))!.state).toBe('cancelled');

    // A wide fan-in whose parents' acks recorded their releases, and whose node died before
    // applying them: the sweep applies them (once), and the child runs.
    let wide = queue.workflow('lost-wide');
    for (let i = 0; i < 40; i++) wide = wide.add(`p${i}`, noop, { n: i }, { delay: 3_600_000 });
    const wideRun = await wide.add('child', noop, { n: 40 }, { deps: Array.from({ length: 40 }, (_, i) => `p${i}`) }).insert();
    const wideDone = nextEvent(queue, 'workflow:complete', ({ workflow }) => workflow.id === wideRun.id);
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO "${db.schema}".workflow_releases (child_id, n) VALUES ($1, 25), ($1, 15)`, [wideRun.steps.child!.id]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect(await finishBySql(db.pool, db.schema, 'completed', `j.workflow_id = $1 AND j.step LIKE 'p%'`, [wideRun.id])).toBe(40);
    expect((await wideDone).workflow.state).toBe('completed');
    expect(await queue.getJob(wideRun.steps.child!.id)).toMatchObject({ state: 'completed', attempt: 1, result: 40 });
    const { rows: pending } = await db.pool.query(`SELECT count(*)::int AS n FROM "${db.schema}".workflow_releases`);
    expect(pending[0].n).toBe(0);

    // Once the Pruner took every step of a finished workflow, the sweep forgets it and its edges.
    await db.pool.query(`DELETE FROM "${db.schema}".jobs_finished WHERE workflow_id = $1`, [wideRun.id]);
    await waitFor(async () => (await queue.getWorkflow(wideRun.id)) === null, 'the sweep to forget the pruned workflow');
    const { rows: edges } = await db.pool.query(`SELECT count(*)::int AS n FROM "${db.schema}".workflow_deps WHERE workflow_id = $1`, [wideRun.id]);
    expect(edges[0].n).toBe(0);
    expect(await queue.getWorkflow(run.id)).not.toBeNull(); // its steps are still kept
    await queue.stop();
  }, 60_000);
});
