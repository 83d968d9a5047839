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
  workflow: "queue.workflow(name).add(step, worker, { i }, { deps }).insert(): every step of the DAG in one statement; steps are jobs of the same no-op worker",
};

/** The peer factory for the docket bundle at `dist` (a file: URL). */
export function docketAdapter(dist) {
  return (opts) => createDocketPeer(dist, opts);
}

export const createPeer = docketAdapter(distUrl('DOCKET_DIST', '../../dist/index.js'));

async function createDocketPeer(dist, { url, concurrency = 10, poolMax = 10, retryDelayMs = 1000, perform }) {
  const { Queue, Worker, Pruner } = await import(dist);
  const errors = [];
  const pool = new pg.Pool({ connectionString: url, max: poolMax });
  pool.on('error', (e) => errors.push(`pool: ${e.message}`));
  const worker = new Worker({
    name: 'noop',
    args: z.object({ i: z.number().int() }),
    maxAttempts: 5,
    backoff: () => retryDelayMs,
    perform: async (job) => {
      perform(job.args.i, job);
    },
  });
  const queue = new Queue({ connection: pool, schema: 'docket', queues: { default: concurrency }, workers: [worker] });
  // startPruner(): the Pruner as most users run it (completed jobs kept a day), ticking every
  // second, on a node of its own (it leads: it is the only one with a leader plugin).
  let prunerNode = null;
  // docket 0.1 kept every job in docket.jobs; since migration 6 the live ones are in jobs_live.
  let split = false;
  const finishedTable = () => (split ? 'docket.jobs_finished' : 'docket.jobs');
  // n completed jobs of queue 'old' (never fetched: no worker runs it), finished at `ago`.
  const seedFinished = async (admin, n, ago) => {
    if (split) {
      // As the Pruner would have created them back then: past days have partitions of their own.
      await admin.query(`SELECT docket.create_finished_partitions(-3, 0)`);
    }
    for (let from = 0; from < n; from += 500_000) {
      await admin.query(
        `INSERT INTO ${finishedTable()} (${split ? 'id, ' : ''}state, queue, worker, args, attempt, max_attempts, attempted_at, completed_at)
         SELECT ${split ? "nextval(pg_get_serial_sequence('docket.jobs_live', 'id')), " : ''}'completed', 'old', 'noop',
                jsonb_build_object('i', -i), 1, 5, now() - ${ago}, now() - ${ago} + (i % 3600000) * interval '1 ms'
         FROM generate_series($1::int + 1, $2::int) i`,
        [from, Math.min(n, from + 500_000)],
      );
    }
  };
  queue.on('queue:error', ({ error, context }) => errors.push(`${context}: ${error?.message ?? error}`));
  return {
    name: 'docket',
    errors,
    schemas: ['docket'],
    unfinishedSql: "select count(*)::int as n from docket.jobs where state not in ('completed', 'discarded', 'cancelled')",
    rowsSql: "select (args->>'i')::int as i from docket.jobs",
    /** Database-clock times (epoch ms) of each job: claimed (attempted_at) and finished (completed_at, now() of its ack). */
    timesSql:
      "select (args->>'i')::int as i, (extract(epoch from attempted_at) * 1000)::float8 as started, (extract(epoch from completed_at) * 1000)::float8 as completed from docket.jobs",
    setup: async () => {
      await queue.migrate();
      split = (await pool.query(`SELECT to_regclass('docket.jobs_live') IS NOT NULL AS split`)).rows[0].split;
    },
    get hotTable() {
      return split ? 'docket.jobs_live' : 'docket.jobs';
    },
    /** n finished jobs in the history (spread over the last hour) before the drain. */
    seedHistory: (admin, n) => seedFinished(admin, n, "interval '1 hour'"),
    /** n jobs finished two days ago: past a max age of one day. */
    seedPrunable: (admin, n) => seedFinished(admin, n, "interval '2 days' - interval '1 hour'"),
    /** Whether any of them is left (0 or 1: a cheap probe, polled while latency is measured). */
    prunable: async (admin) => (await admin.query(`SELECT count(*)::int AS n FROM (SELECT 1 FROM docket.jobs WHERE queue = 'old' LIMIT 1) o`)).rows[0].n,
    insertOne: (i) => queue.insert(worker, { i }),
    insertBatch: (is) => queue.insertMany(worker, is.map((i) => ({ i }))),
    start: () => queue.start(),
    /** Listens to a queue event (job:complete, workflow:complete, ...). */
    on: (event, fn) => queue.on(event, fn),
    /**
     * A workflow of no-op steps, built now and written by the returned `insert()` (one statement):
     * `steps` is [{ name, i, deps? }], each a job of the no-op worker with args { i }.
     */
    buildWorkflow(name, steps) {
      if (typeof queue.workflow !== 'function') throw new Error('this docket build has no workflows (queue.workflow is missing)');
      const builder = queue.workflow(name);
      for (const s of steps) builder.add(s.name, worker, { i: s.i }, s.deps ? { deps: s.deps } : undefined);
      return { insert: () => builder.insert() };
    },
    async startPruner() {
      prunerNode = new Queue({ connection: pool, schema: 'docket', queues: {}, plugins: [new Pruner({ maxAge: 86_400_000, interval: 1000 })] });
      prunerNode.on('queue:error', ({ error, context }) => errors.push(`pruner ${context}: ${error?.message ?? error}`));
      prunerNode.on('plugin:error', ({ error }) => errors.push(`pruner: ${error?.message ?? error}`));
      await prunerNode.start();
    },
    stop: async () => {
      await prunerNode?.stop({ timeout: 10_000 });
      await queue.stop({ timeout: 10_000 });
    },
    close: () => pool.end(),
  };
}
