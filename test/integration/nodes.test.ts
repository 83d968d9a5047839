// queue.nodes(): the cluster as the database sees it, read from a Queue that never started (what
// a CLI or a dashboard holds): every started node with its queues, the one leader, and a node
// that stopped cleanly gone from the list. queue.rescueJobs(): an operator's rescue of jobs
// stuck on a node that stopped heartbeating, never of a live node's.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Lifeline, Worker } from '../../src/index.js';
import { nextEvent, useSchema } from '../support/queue.js';

const db = useSchema('nodes');
const noop = new Worker({ name: 'noop', args: z.object({}), queue: 'alpha', perform: async () => undefined });
// A queue no node of this file runs: rescued jobs stay as the rescue left them.
const idle = new Worker({ name: 'idle', args: z.object({}), queue: 'idle', perform: async () => undefined });

describe('queue.nodes()', () => {
  it('lists started nodes, their queues and the leader; a stopped node leaves the list', async () => {
    const observer = await db.queue({ workers: [noop] });
    expect(await observer.nodes()).toEqual([]);

    const leader = await db.queue({ workers: [noop], queues: { alpha: 3 }, plugins: [new Lifeline({ interval: 500 })] });
    const elected = nextEvent(leader, 'leader:elected');
    await leader.start();
    await elected;
    const follower = await db.queue({ workers: [noop], queues: { alpha: 2, beta: 1 } });
    await follower.start();

    const nodes = await observer.nodes();
    expect(nodes.map((n) => n.id).sort()).toEqual([leader.nodeId, follower.nodeId].sort());
    const byId = new Map(nodes.map((n) => [n.id, n]));
    expect(byId.get(leader.nodeId)).toMatchObject({ leader: true, queues: { alpha: 3 }, pid: process.pid });
    expect(byId.get(follower.nodeId)).toMatchObject({ leader: false, queues: { alpha: 2, beta: 1 } });
    for (const n of nodes) {
      expect(n.startedAt).toBeInstanceOf(Date);
      expect(n.silentMs).toBeGreaterThanOrEqual(0);
      expect(typeof n.host).toBe('string');
    }

    await leader.stop();
    const after = await observer.nodes();
    expect(after.map((n) => n.id)).toEqual([follower.nodeId]);
    expect(after[0]!.leader).toBe(false);
  });

  it('rescueJobs() takes back the jobs of a silent node (or of none), never of a live one', async () => {
    const queue = await db.queue({ workers: [idle] });
    const [ghost, live, orphan, young] = await queue.insertMany(idle, [{}, {}, {}, {}]);
    const t = `"${db.schema}"`;
    await db.pool.query(
      `INSERT INTO ${t}.nodes (id, host, pid, beat_at) VALUES ('ghost', 'h', 1, now() - interval '1 minute'), ('alive', 'h', 2, now())`,
    );
    const claim = async (id: string, node: string, ago: string): Promise<void> => {
      await db.pool.query(
        `UPDATE ${t}.jobs_live SET state = 'executing', attempt = 1, attempted_by = $2, attempted_at = now() - $3::interval, claim = gen_random_uuid() WHERE id = $1`,
        [id, node, ago],
      );
    };
    await claim(ghost!.id, 'ghost', '1 second');
    await claim(live!.id, 'alive', '2 hours');
    await claim(orphan!.id, 'vanished', '2 hours');
    await claim(young!.id, 'vanished', '1 second');
    const events: string[] = [];
    queue.on('job:rescue', ({ job }) => events.push(job.id));

    await expect(queue.rescueJobs({ staleAfter: 10 })).rejects.toThrow(/rescueJobs: staleAfter/);
    const rescued = await queue.rescueJobs({ staleAfter: 10_000, rescueAfter: 60_000 });
    expect(rescued.map((j) => j.id).sort()).toEqual([ghost!.id, orphan!.id].sort());
    const byId = new Map(rescued.map((j) => [j.id, j]));
    expect(byId.get(ghost!.id)).toMatchObject({ state: 'retryable' });
    expect(byId.get(ghost!.id)!.errors.at(-1)!.message).toBe('node ghost stopped heartbeating while running the job');
    expect(byId.get(orphan!.id)).toMatchObject({ state: 'retryable' });
    expect(byId.get(orphan!.id)!.errors.at(-1)!.message).toMatch(/left no heartbeat/);
    expect(events.sort()).toEqual([ghost!.id, orphan!.id].sort());
    expect((await queue.getJob(live!.id))!.state).toBe('executing');
    expect((await queue.getJob(young!.id))!.state).toBe('executing');
    const { rows } = await db.pool.query<{ claim: string | null }>(`SELECT claim FROM ${t}.jobs_live WHERE id = $1`, [ghost!.id]);
    expect(rows[0]!.claim).toBeNull();
    expect(await queue.rescueJobs({ staleAfter: 10_000, rescueAfter: 60_000 })).toEqual([]);
  });
});
