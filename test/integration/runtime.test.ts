// The runtime runs without the Queue facade: built from a config, an Engine and an emitter, it
// fetches, runs and acks jobs and emits their events; the Queue only composes it.
import { expect, it } from 'vitest';
import { z } from 'zod';
import { resolveConfig } from '../../src/config/config.js';
import { SafeEmitter } from '../../src/definitions/events.js';
import { Worker } from '../../src/index.js';
import type { Job } from '../../src/index.js';
import { createEngine } from '../../src/engine/create-engine.js';
import { hintPayload } from '../../src/engine/notice.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { dropSchema, uniqueSchemaName } from '../support/db.js';
import { useSchema, waitFor } from '../support/queue.js';

const db = useSchema('runtime_alone');

it('fetches, runs, acks and emits with an Engine and an emitter, no Queue', async () => {
  const schema = uniqueSchemaName('runtime_alone_engine');
  const double = new Worker({ name: 'double', queue: 'alone', args: z.object({ n: z.number() }), perform: (job) => job.args.n * 2 });
  const config = resolveConfig({ connection: db.url, schema, queues: { alone: 3 }, workers: [double], pollInterval: 60_000 }, () => 'alone-node');
  const engine = createEngine({ ...config, connection: db.url });
  const events = new SafeEmitter(config.logger);
  const completed: Job[] = [];
  events.on('job:complete', ({ job }) => void completed.push(job));
  const hints: string[][] = [];
  const runtime = new Runtime(config, engine, events, { announce: (queues) => hints.push([...queues]), leaseReleased: () => {} });
  try {
    await engine.migrate();
    runtime.start(await runtime.prepare());
    const batch = { queue: 'alone', worker: 'double', args: [1, 2, 3, 4, 5].map((n) => ({ n })), tags: [], priority: 0, max_attempts: 1, scheduled_at: null, delay_ms: 0 };
    // Committed outside any transaction; the hint (NOTIFY) is what wakes the runtime, whose poll is a minute away.
    const jobs = await engine.insertJobs({ batch, notify: null });
    await engine.sendHint({ payload: hintPayload(['alone'], false) });
    await waitFor(() => completed.length === 5, 'five job:complete events');
    expect(completed.map((j) => j.result as number).sort((a, b) => a - b)).toEqual([2, 4, 6, 8, 10]);
    const stored = await Promise.all(jobs.map((j) => engine.getJob({ id: j.id })));
    expect(stored.map((j) => [j!.state, j!.attemptedBy])).toEqual(jobs.map(() => ['completed', 'alone-node']));
    expect(await runtime.stop(1_000)).toEqual({ aborted: 0, allWritten: true });
  } finally {
    await runtime.close();
    await engine.close();
    await dropSchema(db.url, schema);
  }
});
