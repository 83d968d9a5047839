// docket, measured through its BUILT bundle (dist/index.js, snapshotted by run.mjs into
// bench/.docket-dist so a concurrent rebuild cannot change it mid-run).
import pg from 'pg';
import { z } from 'zod';

const DIST = process.env.DOCKET_DIST
  ? new URL(`file://${process.env.DOCKET_DIST}`).href
  : new URL('../../dist/index.js', import.meta.url).href;

export const settings = {
  connection: 'own pg.Pool, max 10 per process (docket claims a whole batch in one statement, so it needs few connections); LISTEN on its own extra client',
  worker: "Worker({ name: 'noop', args: z.object({ i: z.number().int() }), backoff: () => retryDelayMs, maxAttempts: 5 })",
  queue: "new Queue({ connection: pool, schema: 'docket', queues: { default: C }, workers: [worker] }), pollInterval default (1000 ms)",
  insert: 'queue.insert(worker, { i }) / queue.insertMany(worker, [...])',
  retry: 'backoff: () => 1000 ms (any value >= 0 is accepted)',
};

export async function createPeer({ url, concurrency = 10, poolMax = 10, retryDelayMs = 1000, perform }) {
  const { Queue, Worker } = await import(DIST);
  const errors = [];
  const pool = new pg.Pool({ connectionString: url, max: poolMax });
  pool.on('error', (e) => errors.push(`pool: ${e.message}`));
  const worker = new Worker({
    name: 'noop',
    args: z.object({ i: z.number().int() }),
    maxAttempts: 5,
    backoff: () => retryDelayMs,
    perform: async (job) => {
      perform(job.args.i);
    },
  });
  const queue = new Queue({ connection: pool, schema: 'docket', queues: { default: concurrency }, workers: [worker] });
  queue.on('queue:error', ({ error, context }) => errors.push(`${context}: ${error?.message ?? error}`));
  return {
    name: 'docket',
    errors,
    schemas: ['docket'],
    unfinishedSql: "select count(*)::int as n from docket.jobs where state not in ('completed', 'discarded', 'cancelled')",
    rowsSql: "select (args->>'i')::int as i from docket.jobs",
    setup: () => queue.migrate(),
    insertOne: (i) => queue.insert(worker, { i }),
    insertBatch: (is) => queue.insertMany(worker, is.map((i) => ({ i }))),
    start: () => queue.start(),
    stop: () => queue.stop({ timeout: 10_000 }),
    close: () => pool.end(),
  };
}
