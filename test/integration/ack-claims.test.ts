// Two outcomes of one job in one ack batch: the attempt whose claim a server crash lost (the
// claim commits without waiting for its WAL flush, by design) and the attempt of the same job
// claimed again, on the same node, after the restart. Only the current claim's outcome lands,
// and only it may be reported as landed: the completer used to match the rows it got back to
// its outcomes by job id alone, so both were reported and `job:complete` fired twice (the
// restart test saw it once).
import { expect, it } from 'vitest';
import { z } from 'zod';
import { resolveConfig } from '../../src/config/config.js';
import { Worker } from '../../src/index.js';
import { createEngine } from '../../src/engine/create-engine.js';
import type { AckedRow } from '../../src/engine/types.js';
import { Completer } from '../../src/runtime/completer.js';
import { buildAck } from '../../src/runtime/outcome.js';
import type { PendingAck } from '../../src/runtime/outcome.js';
import { useSchema, waitFor } from '../support/queue.js';

const db = useSchema('ackclaims');

it('reports as landed only the outcome whose claim the row still carries', async () => {
  const work = new Worker({ name: 'work', queue: 'claims', args: z.object({}), perform: () => 'done' });
  await db.queue({ workers: [work], queues: {} }); // migrates
  const config = resolveConfig({ connection: db.url, schema: db.schema, workers: [work], queues: {} }, () => 'claims-node');
  const engine = createEngine({ ...config, connection: db.url });
  try {
    for (const detailed of [true, false]) {
      const [inserted] = await engine.insertJobs({ batch: { queue: 'claims', worker: 'work', args: [{}], tags: [], priority: 0, max_attempts: 3, scheduled_at: null, delay_ms: 0 }, notify: null });
      const [lost] = await engine.fetchJobs({ queue: 'claims', limit: 1, nodeId: 'claims-node' });
      expect(lost!.job.id).toBe(inserted!.id);
      // What a crash before the claim's WAL flush leaves: the job available, as before the claim.
      await db.pool.query(`UPDATE "${db.schema}".jobs_live SET state = 'available', attempt = attempt - 1, claim = NULL WHERE id = $1`, [inserted!.id]);
      const [current] = await engine.fetchJobs({ queue: 'claims', limit: 1, nodeId: 'claims-node' });
      expect(current!.job.id).toBe(inserted!.id);
      expect(current!.claim).not.toBe(lost!.claim);

      const reported: { claim: string; row: AckedRow | undefined }[] = [];
      const completer = new Completer(engine, {
        detailed: () => detailed,
        onAcked: (ack: PendingAck, row) => void reported.push({ claim: ack.claim, row }),
        onRejected: () => {},
        onError: (error) => {
          throw error;
        },
        onBacklog: () => {},
      });
      const timing = { queueTime: 0, runTime: 1 };
      // Pushed in the same turn: one batch.
      completer.push(buildAck(lost!.job, lost!.claim, work, { kind: 'ok', value: 'first' }, timing));
      completer.push(buildAck(current!.job, current!.claim, work, { kind: 'ok', value: 'second' }, timing));
      await waitFor(() => reported.length === 2, 'both outcomes to be reported');
      expect(reported.map((r) => [r.claim, r.row?.id])).toEqual([
        [lost!.claim, undefined],
        [current!.claim, inserted!.id],
      ]);
      const { rows } = await db.pool.query<{ state: string; result: string }>(`SELECT state::text, result FROM "${db.schema}".jobs WHERE id = $1`, [inserted!.id]);
      expect(rows).toEqual([{ state: 'completed', result: 'second' }]);
    }
  } finally {
    await engine.close();
  }
});
