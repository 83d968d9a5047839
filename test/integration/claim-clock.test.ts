// A claim never records an attempt before the job's scheduled time. now() is when a claim's
// transaction began (for the extended protocol: when its first message arrived), and its
// snapshot is taken a moment later, so a job whose insert committed in between is visible to it
// with a scheduled_at after that now(). On a loaded machine the gap is milliseconds, and a
// claim that stamped now() recorded attempted_at < scheduled_at (a negative queue time; the
// clock-skew test caught it in CI). Here the gap is made as wide as we like: the claim runs in
// a transaction opened before the insert, which READ COMMITTED lets it see.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { buildStatements } from '../../src/engine/sql/jobs.js';
import { buildKeyedStatements } from '../../src/engine/sql/keyed.js';
import { buildControlStatements } from '../../src/engine/sql/control.js';
import { useSchema } from '../support/queue.js';

const db = useSchema('claimclock');
const schema = `"${db.schema}"`;
const jobs = buildStatements(schema);
const keyed = buildKeyedStatements(schema);
const control = buildControlStatements(schema);

let early: pg.PoolClient;
beforeAll(async () => {
  await db.queue({ workers: [], queues: {} }); // migrates
  early = await db.pool.connect();
});
afterAll(() => early.release());

/**
 * Opens a transaction on `early`, inserts one job on another connection and commits it, then
 * runs `claim` inside the early transaction; returns what the claimed row says of its times.
 */
async function claimAfterLateInsert(queue: string, claim: (id: string) => Promise<unknown>) {
  await early.query('BEGIN');
  try {
    const { rows: began } = await early.query<{ t: string }>(`SELECT now()::text AS t`);
    const { rows: inserted } = await db.pool.query<{ id: string; later: boolean }>(
      `INSERT INTO ${schema}.jobs_live (queue, worker, args) VALUES ($1, 'w', '{}')
       RETURNING id::text, scheduled_at > $2::timestamptz AS later`,
      [queue, began[0]!.t],
    );
    // The setup holds: the job is scheduled after the claim's transaction began.
    expect(inserted[0]!.later).toBe(true);
    await claim(inserted[0]!.id);
    const { rows } = await early.query<{ attempt: number; ok: boolean; queue_ms: number }>(
      `SELECT attempt, attempted_at >= scheduled_at AS ok,
              (extract(epoch FROM attempted_at - scheduled_at) * 1000)::float8 AS queue_ms
       FROM ${schema}.jobs_live WHERE id = $1`,
      [inserted[0]!.id],
    );
    return rows[0]!;
  } finally {
    await early.query('COMMIT');
  }
}

describe('a claim stamps attempted_at after the snapshot it claimed from', () => {
  it('the fetch', async () => {
    let packedQueueMs = Number.NaN;
    const row = await claimAfterLateInsert('plain', async () => {
      const { rows } = await early.query<{ packed: string }>(jobs.fetchJobs.text, ['plain', 10, 'clock-node']);
      expect(rows).toHaveLength(1);
      // The packed claim's queue time (index 14 of the packed array, see packedClaim).
      packedQueueMs = (JSON.parse(rows[0]!.packed) as unknown[])[14] as number;
    });
    expect(row).toMatchObject({ attempt: 1, ok: true });
    expect(packedQueueMs).toBeGreaterThanOrEqual(0);
  });

  it('the fetch of a partitioned or rate-limited queue', async () => {
    const row = await claimAfterLateInsert('limited', async () => {
      await early.query(keyed.fetchLock.text, ['limited']);
      const { rows } = await early.query<{ id: string | null; queue_ms: number }>(keyed.fetchLimited.text, ['limited', 10, 'clock-node', 100, 1_000, true]);
      expect(rows.map((r) => r.id)).toHaveLength(1);
      expect(Number(rows[0]!.queue_ms)).toBeGreaterThanOrEqual(0);
    });
    expect(row).toMatchObject({ attempt: 1, ok: true });
  });

  it('the claim by id (testing modes)', async () => {
    const row = await claimAfterLateInsert('inline', async (id) => {
      const { rows } = await early.query<{ queue_ms: number }>(control.claimIds.text, [JSON.stringify([id]), 'clock-node']);
      expect(rows).toHaveLength(1);
      expect(Number(rows[0]!.queue_ms)).toBeGreaterThanOrEqual(0);
    });
    expect(row).toMatchObject({ attempt: 1, ok: true });
  });
});
