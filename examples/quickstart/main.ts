// docket quickstart: defines three workers, enqueues jobs (one inside a transaction, one
// delayed, one that fails once), runs them, prints what happens, and exits.
// Database: DATABASE_URL when set; otherwise an embedded PostgreSQL started here.
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { z } from 'zod';
import { Queue, Worker, WorkerResults } from 'docket';
import { startEmbeddedPostgres } from '@docket/dev-postgres';

const log = (line: string): void => console.log(`[quickstart] ${line}`);

async function database(): Promise<{ url: string; stop: () => Promise<void> }> {
  if (process.env.DATABASE_URL) {
    log('using DATABASE_URL');
    return { url: process.env.DATABASE_URL, stop: async () => {} };
  }
  const dataDir = fileURLToPath(new URL('../../.cache/quickstart-pg', import.meta.url));
  log(`DATABASE_URL not set: starting an embedded PostgreSQL (data in ${dataDir})`);
  return startEmbeddedPostgres({ dataDir });
}

// Real (small) work: hashing, counting words, and a job that fails once to show retries.
const hashText = new Worker({
  name: 'hash-text',
  args: z.object({ text: z.string().min(1) }),
  perform: async (job) => ({ sha256: createHash('sha256').update(job.args.text).digest('hex').slice(0, 16) }),
});

const countWords = new Worker({
  name: 'count-words',
  args: z.object({ text: z.string() }),
  queue: 'analysis',
  perform: async (job) => {
    const counts = new Map<string, number>();
    for (const word of job.args.text.toLowerCase().match(/[a-z']+/g) ?? []) counts.set(word, (counts.get(word) ?? 0) + 1);
    return [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3);
  },
});

const flaky = new Worker({
  name: 'flaky-upload',
  args: z.object({ file: z.string() }),
  maxAttempts: 3,
  backoff: () => 200,
  perform: async (job) => {
    if (job.attempt === 1) throw new Error(`upload of ${job.args.file} timed out (first attempt always fails here)`);
    if (job.args.file.endsWith('.tmp')) return WorkerResults.discard('temporary files are not uploaded');
    return { uploaded: job.args.file, attempt: job.attempt };
  },
});

const db = await database();
const pool = new pg.Pool({ connectionString: db.url });
// Idle connections report a database restart here; without a listener Node ends the process.
pool.on('error', (error) => log(`idle connection error: ${error.message}`));
const queue = new Queue({
  connection: pool,
  schema: 'docket_quickstart',
  queues: { default: 5, analysis: 2 },
  workers: [hashText, countWords, flaky],
});

const ms = (n: number): string => `${n.toFixed(1)} ms`;
queue.on('job:start', ({ job, queueTime }) => log(`▶ #${job.id} ${job.worker} attempt ${job.attempt} (waited ${ms(queueTime)})`));
queue.on('job:complete', ({ job, runTime }) => log(`✔ #${job.id} ${job.worker} → ${JSON.stringify(job.result)} (ran ${ms(runTime)})`));
queue.on('job:retry', ({ job, error, delay }) => log(`↻ #${job.id} ${job.worker} failed: ${error.message}; retry in ${delay} ms`));
queue.on('job:discard', ({ job, reason }) => log(`✖ #${job.id} ${job.worker} discarded: ${reason}`));

try {
  const { applied, version } = await queue.migrate();
  log(`schema docket_quickstart at version ${version}${applied.length ? ` (applied ${applied.join(', ')})` : ''}`);
  await queue.start();

  const inserted = [
    await queue.insert(hashText, { text: 'hello docket' }),
    ...(await queue.insertMany(countWords, [
      { text: 'the queue is a table and the table is the queue' },
      { text: 'jobs are rows, rows are jobs' },
    ])),
    await queue.insert(flaky, { file: 'report.pdf' }),
    await queue.insert(flaky, { file: 'scratch.tmp' }),
    await queue.insert(hashText, { text: 'this one waits half a second' }, { delay: 500 }),
  ];
  // A job inserted in your own transaction exists only if the transaction commits.
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    inserted.push(await queue.insert(hashText, { text: 'inserted with my business data' }, { tx: client }));
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  log(`inserted ${inserted.length} jobs: ${inserted.map((j) => `#${j.id}`).join(' ')}`);

  // Wait until every job reached a final state.
  const finals = new Set(['completed', 'discarded', 'cancelled']);
  const pending = new Set(inserted.map((j) => j.id));
  await new Promise<void>((resolve) => {
    const check = async (): Promise<void> => {
      for (const id of [...pending]) if (finals.has((await queue.getJob(id))?.state ?? '')) pending.delete(id);
      if (pending.size === 0) resolve();
    };
    for (const event of ['job:complete', 'job:discard'] as const) queue.on(event, () => void check());
    void check();
  });
  log('all jobs finished:');
  for (const job of inserted) {
    const now = await queue.getJob(job.id);
    log(`  #${job.id} ${now!.worker.padEnd(12)} ${now!.state.padEnd(9)} attempts ${now!.attempt}/${now!.maxAttempts}`);
  }
} finally {
  await queue.stop();
  await pool.end();
  await db.stop();
  log('stopped');
}
