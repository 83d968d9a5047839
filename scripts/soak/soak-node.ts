// One node of the soak run (scripts/soak/soak.ts): inserts DOCKET_RATE jobs a second and runs
// them (5-50 ms each; one attempt in ten throws, retried after 200 ms, up to 5 attempts), with
// Lifeline and the Pruner (they run on whichever node leads). Reports on stdout, one JSON object
// per line: ready, sample (every 5 s: RSS, heap, active handles, jobs completed and failed since
// the last sample), inserted (ids, batched), complete (ids, batched), unhandled.
// A line "stop-inserting" on stdin ends the inserts.
//
// Env: DATABASE_URL, DOCKET_SCHEMA (migrated), DOCKET_NODE_ID, DOCKET_RATE.
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { Lifeline, Pruner, Queue, Worker } from '../../src/index.js';

const url = process.env.DATABASE_URL;
const schema = process.env.DOCKET_SCHEMA;
const nodeId = process.env.DOCKET_NODE_ID;
const rate = Number(process.env.DOCKET_RATE ?? '50');
if (!url || !schema || !nodeId) {
  console.error('soak-node: DATABASE_URL, DOCKET_SCHEMA and DOCKET_NODE_ID are required');
  process.exit(2);
}
const say = (event: string, data: Record<string, unknown> = {}): void => {
  process.stdout.write(`${JSON.stringify({ event, node: nodeId, at: Date.now(), ...data })}\n`);
};
process.on('unhandledRejection', (reason) => say('unhandled', { message: String((reason as Error)?.message ?? reason) }));

const work = new Worker({
  name: 'soak',
  args: z.object({ n: z.number().int(), ms: z.number().int() }),
  queue: 'soak',
  maxAttempts: 5,
  backoff: () => 200,
  perform: async (job) => {
    await new Promise((resolve) => setTimeout(resolve, job.args.ms));
    if (Math.random() < 0.1) throw new Error('one attempt in ten fails');
    return { n: job.args.n };
  },
});
const queue = new Queue({
  connection: url,
  poolSize: 5,
  schema,
  nodeId,
  workers: [work],
  queues: { soak: 20 },
  heartbeatInterval: 1_000,
  plugins: [new Lifeline({ staleAfter: 5_000, interval: 1_000 }), new Pruner({ interval: 10_000 })],
});
let completed: string[] = [];
let failed = 0;
let inserted: string[] = [];
queue.on('job:complete', ({ job }) => completed.push(job.id));
queue.on('job:retry', () => failed++);
queue.on('job:error', () => failed++);
let completedSince = 0;
setInterval(() => {
  if (inserted.length > 0) say('inserted', { ids: inserted });
  if (completed.length > 0) say('complete', { ids: completed });
  completedSince += completed.length;
  inserted = [];
  completed = [];
}, 500).unref();
setInterval(() => {
  const memory = process.memoryUsage();
  say('sample', {
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    handles: process.getActiveResourcesInfo().length,
    completed: completedSince,
    failed,
  });
  completedSince = 0;
  failed = 0;
}, 5_000).unref();

let n = 0;
const inserting = setInterval(() => {
  queue.insert(work, { n: n++, ms: 5 + Math.floor(Math.random() * 45) }).then(
    (job) => inserted.push(job.id),
    () => {}, // the server is down: this insert did not happen (the soak counts only acknowledged ones)
  );
}, 1000 / rate);
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'stop-inserting') clearInterval(inserting);
});

await queue.start();
say('ready', { pid: process.pid });
process.once('SIGTERM', () => {
  clearInterval(inserting);
  void queue.stop({ timeout: 5_000 }).then(() => {
    if (inserted.length > 0) say('inserted', { ids: inserted });
    if (completed.length > 0) say('complete', { ids: completed });
    process.exit(0);
  });
});
