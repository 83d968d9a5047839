// Wake-up paths: a plain insert on one node wakes an idle worker node through the merged
// NOTIFY hint (polling set to a minute, so nothing else could), scheduled jobs wake it when
// due, and job:insert reports what was inserted.
import { expect, it } from 'vitest';
import { z } from 'zod';
import { Worker } from '../../src/index.js';
import type { Job } from '../../src/index.js';
import { createPgPool } from '../support/db.js';
import { nextEvent, useSchema, waitFor } from '../support/queue.js';

const db = useSchema('wakeups');
const ping = new Worker({ name: 'ping', queue: 'wake', args: z.object({ n: z.number() }), perform: async (job) => job.args.n });

it('an insert on an insert-only node wakes a worker node via NOTIFY', async () => {
  const otherPool = createPgPool(db.url, `dkt-wake-${db.schema}`);
  try {
    const inserter = await db.queue({ connection: otherPool, workers: [ping], queues: {}, pollInterval: 60_000 });
    const worker = await db.queue({ workers: [ping], queues: { wake: 2 }, pollInterval: 60_000 });
    await worker.start();
    // The first poll happens at start; wait until the worker has its LISTEN in place.
    await waitFor(async () => {
      const { rows } = await db.pool.query(`SELECT 1 FROM pg_stat_activity WHERE query ILIKE 'listen %docket:${db.schema}%'`);
      return rows.length > 0;
    }, 'LISTEN');
    const inserted: Job[] = [];
    inserter.on('job:insert', (e) => inserted.push(...e.jobs));
    for (let n = 1; n <= 3; n++) {
      const done = nextEvent(worker, 'job:complete', (e) => e.job.result === n, 10_000);
      const job = await inserter.insert(ping, { n });
      expect((await done).job.id).toBe(job.id);
    }
    expect(inserted.map((j) => j.args)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);

    // A job due later wakes the worker node when it falls due, with no poll to help.
    const due = nextEvent(worker, 'job:complete', (e) => e.job.result === 4, 10_000);
    const later = await inserter.insert(ping, { n: 4 }, { delay: 200 });
    expect(later.state).toBe('scheduled');
    const event = await due;
    expect(event.job.attemptedAt!.getTime() - later.insertedAt.getTime()).toBeGreaterThanOrEqual(200);
    await inserter.stop();
    await worker.stop();
  } finally {
    await otherPool.end();
  }
});
