// The hot statements' plans, on a live table that has churned: the claim walks the fetch index,
// and the ack finds its rows by primary key. Planned through the partial executing index (its
// predicate matches the ack's fence), the ack would walk every dead entry the churn left there.
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Worker } from '../../src/index.js';
import { buildStatements } from '../../src/engine/sql/jobs.js';
import { useSchema } from '../support/queue.js';

const db = useSchema('plans');
const explain = async (text: string, params: unknown[]): Promise<string> => {
  const client = await db.pool.connect();
  try {
    // EXPLAIN ANALYZE runs the statement: inside a transaction rolled back afterwards.
    await client.query('BEGIN');
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF) ${text}`, params);
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
};

describe('plans of the hot statements', () => {
  const sql = buildStatements(`"${db.schema}"`);
  let claimed: { id: string; claim: string }[] = [];

  beforeAll(async () => {
    await db.queue({ workers: [], queues: {} }); // migrates
    const live = `"${db.schema}".jobs_live`;
    await db.pool.query(`INSERT INTO ${live} (queue, worker, args) SELECT 'q', 'w', jsonb_build_object('i', i) FROM generate_series(1, 20000) i`);
    // Churn: 10,000 jobs claimed and finished (deleted from the live table) leave dead entries
    // in its indexes, as a drain does; statistics as autovacuum would leave them.
    await db.pool.query(`UPDATE ${live} SET state = 'executing', claim = gen_random_uuid(), attempted_at = now() WHERE id <= (SELECT min(id) + 9999 FROM ${live})`);
    await db.pool.query(`DELETE FROM ${live} WHERE state = 'executing'`);
    await db.pool.query(`ANALYZE ${live}`);
    const { rows } = await db.pool.query<{ packed: string }>(sql.fetchJobs.text, ['q', 200, 'plans-node']);
    claimed = rows.map((r) => {
      const [id, claim] = JSON.parse(r.packed) as [string, string];
      return { id, claim };
    });
    expect(claimed).toHaveLength(200);
  });

  it('the claim walks the fetch index and updates by primary key', async () => {
    const plan = await explain(sql.fetchJobs.text, ['q', 200, 'plans-node']);
    expect(plan).toMatch(/Index Scan using jobs_fetch_idx/);
    expect(plan).toMatch(/Index Scan using jobs_pkey/);
    expect(plan).not.toMatch(/Seq Scan/);
  });

  it('the ack finds its rows by primary key, never through the executing index', async () => {
    const batch = JSON.stringify(claimed.map((j, i) => ({ id: j.id, claim: j.claim, state: i % 2 === 0 ? 'completed' : 'retryable', delay_ms: 1000 })));
    for (const statement of [sql.ackJobs, sql.ackJobsLean]) {
      const plan = await explain(statement.text, [batch, false, 'plans_channel']);
      expect(plan).not.toMatch(/jobs_executing_idx|Seq Scan on jobs_live/);
      // The finished half and the kept half each probe the primary key (the release of workflow
      // children probes it too, and touches nothing for plain jobs).
      // (PostgreSQL 18 prints row counts with two decimals.)
      expect(plan).toMatch(/Delete on jobs_live j \(actual[^\n]*rows=100(\.00)? /);
      expect(plan).toMatch(/Update on jobs_live j_1 \(actual[^\n]*rows=100(\.00)? /);
      expect(plan).toMatch(/Update on jobs_live c \(actual[^\n]*rows=0(\.00)? /);
      expect(plan).not.toMatch(/Seq Scan on workflow_deps/);
    }
  });

  it('the release of a wide fan-out stays linear when the statistics saw none so wide', async () => {
    const noop = new Worker({ name: 'plans-noop', queue: 'plans-wf', args: z.object({}), perform: () => null });
    const queue = await db.queue({ workers: [noop], queues: {} });
    const fanOut = async (width: number): Promise<string> => {
      let builder = queue.workflow('plans').add('root', noop, {});
      for (let i = 0; i < width; i++) builder = builder.add(`c${i}`, noop, {}, { deps: ['root'] });
      return (await builder.insert()).steps.root!.id;
    };
    // Statistics taken after a small fan-out finished: its edges, a live table without it.
    await fanOut(100);
    await db.pool.query(`DELETE FROM "${db.schema}".jobs_live WHERE workflow_id IS NOT NULL`);
    await db.pool.query(`ANALYZE "${db.schema}".jobs_live; ANALYZE "${db.schema}".workflow_deps`);
    const root = await fanOut(3_000);
    const { rows } = await db.pool.query<{ claim: string }>(
      `UPDATE "${db.schema}".jobs_live SET state = 'executing', claim = gen_random_uuid(), attempt = 1, attempted_at = now() WHERE id = $1 RETURNING claim::text AS claim`,
      [root],
    );
    const plan = await explain(sql.ackJobsLean.text, [JSON.stringify([{ id: root, claim: rows[0]!.claim, state: 'completed', result: null }]), false, 'plans_channel']);
    expect(plan).toMatch(/Update on jobs_live c \(actual[^\n]*rows=3000(\.00)? /);
    // Each child is reached by key, never by rescanning the set of freed children per row.
    expect(plan).not.toMatch(/Rows Removed by Join Filter: [1-9]/);
    expect(plan).not.toMatch(/CTE Scan on freed(?!_map)[^\n]*loops=[1-9][0-9]{2,}/);
  });
});
