// docket, measured through its BUILT bundle (dist/index.js, snapshotted by run.mjs into
// bench/.docket-dist so a concurrent rebuild cannot change it mid-run). The same adapter measures
// an older build of docket (peers/docket-base.mjs, run.mjs --baseline <ref>): only the bundle differs.
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { z } from 'zod';

/** The bundle to import: `$<envVar>` (a file path) when set, else `fallback` (relative to this file). */
export function distUrl(envVar, fallback) {
  return process.env[envVar] ? pathToFileURL(process.env[envVar]).href : new URL(fallback, import.meta.url).href;
}

export const settings = {
  connection: 'own pg.Pool, max 10 per process (docket claims a whole batch in one statement, so it needs few connections); LISTEN on its own extra client',
  worker: "Worker({ name: 'noop', args: z.object({ i: z.number().int() }), backoff: () => retryDelayMs, maxAttempts: 5 })",
  queue: "new Queue({ connection: pool, schema: 'docket', queues: { default: C }, workers: [worker] }), pollInterval default (1000 ms)",
  insert: 'queue.insert(worker, { i }) / queue.insertMany(worker, [...])',
  retry: 'backoff: () => 1000 ms (any value >= 0 is accepted)',
};

/** The peer factory for the docket bundle at `dist` (a file: URL). */
export function docketAdapter(dist) {
  return (opts) => createDocketPeer(dist, opts);
}

export const createPeer = docketAdapter(distUrl('DOCKET_DIST', '../../dist/index.js'));

async function createDocketPeer(dist, { url, concurrency = 10, poolMax = 10, retryDelayMs = 1000, perform }) {
  const { Queue, Worker } = await import(dist);
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
