// queue.nodes(): the cluster as the database sees it, read from a Queue that never started (what
// a CLI or a dashboard holds): every started node with its queues, the one leader, and a node
// that stopped cleanly gone from the list.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Lifeline, Worker } from '../../src/index.js';
import { nextEvent, useSchema } from '../support/queue.js';

const db = useSchema('nodes');
const noop = new Worker({ name: 'noop', args: z.object({}), queue: 'alpha', perform: async () => undefined });

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
});
