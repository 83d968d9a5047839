// A measurement, not a test: how fast the export-data worker writes a tenant's jobs out of a
// big table. It seeds a schema of its own with ROWS jobs of tenant "bench-big" and 1% as many of
// tenant "bench-small", interleaved in id (docket's insertMany, 10,000 a call, then docket's
// cancelJobs moves every other batch into the finished history, so the scan crosses both job
// tables as it would in production), VACUUM ANALYZEs it, then runs real export jobs through a
// docket Queue (the worker's own code, run by docket/testing's drain) and prints rows/s for CSV
// and JSON, for each tenant. The schema and the files are removed afterwards (--keep keeps the
// schema, for EXPLAIN; --reuse <schema> runs the exports again on a kept one).
//
//   cd examples/content-processor
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node --import tsx scripts/export-bench.ts [--rows 1000000] [--keep]
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Job, Logger, Queue } from 'docket';
import { drain } from 'docket/testing';
import { loadConfig } from '../src/config.js';
import { createDocket, type Workers } from '../src/docket.js';
import { Storage } from '../src/storage.js';
import type { ExportResult } from '../src/workers/export.js';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i === -1 ? undefined : (argv[i + 1] ?? '');
};
const ROWS = Number(flag('--rows') ?? 1_000_000);
const KEEP = argv.includes('--keep');
const BATCH = 10_000;
const BIG = 'bench-big';
const SMALL = 'bench-small';
const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REUSE = flag('--reuse'); // a schema kept by an earlier --keep run: no seeding
const schema = REUSE ?? `cp_export_bench_${randomBytes(4).toString('hex')}`;

/** What the worker logged about the last export (its pages read each way). */
let written: { pages?: { tagged: number; all: number } } = {};
const logger: Logger = {
  debug: () => {},
  info: (message, meta) => void (message === 'export written' && (written = meta as typeof written)),
  warn: (message, meta) => console.warn(message, meta),
  error: (message, meta) => console.error(message, meta),
};

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function seed(queue: Queue, workers: Workers): Promise<void> {
  const started = performance.now();
  const smallPerBatch = Math.max(1, Math.round(BATCH / 100));
  const email = (tenantId: string, b: number, i: number) => ({
    to: `user${i}@example.org`,
    subject: i % 97 === 0 ? `=cmd|' /C calc'!A0, "quoted" ${b}-${i}` : `Invoice ${b}-${i}`,
    text: 'Your invoice is attached.',
    tenantId,
  });
  // Scheduled a day ahead, so nothing runs them; every other batch goes to the history below.
  const options = (tenant: string, b: number) => ({ delay: 86_400_000, tags: [`tenant:${tenant}`, ...(b % 2 === 0 ? ['bench:history'] : [])] });
  for (let b = 0, done = 0; done < ROWS; b++) {
    const n = Math.min(BATCH, ROWS - done);
    await queue.insertMany(workers.email, Array.from({ length: n }, (_, i) => email(BIG, b, i)), options(BIG, b));
    await queue.insertMany(workers.email, Array.from({ length: smallPerBatch }, (_, i) => email(SMALL, b, i)), options(SMALL, b));
    done += n;
  }
  const inserted = performance.now();
  const moved = await queue.cancelJobs({ tags: ['bench:history'] });
  console.log(`seeded ${fmt(ROWS)} + ${fmt(Math.ceil(ROWS / BATCH) * smallPerBatch)} jobs with insertMany in ${seconds(inserted - started)}; cancelJobs moved ${fmt(moved)} into the history in ${seconds(performance.now() - inserted)}`);
}

async function exportOnce(queue: Queue, workers: Workers, storage: Storage, tenantId: string, format: 'csv' | 'json', filter: { state?: 'scheduled' } = {}) {
  let progressWrites = 0;
  const onProgress = ({ job }: { job: Job }) => void (job.worker === 'export-data' && progressWrites++);
  queue.on('job:progress', onProgress);
  const job = await queue.insert(workers.exporter, { format, filter, tenantId }, { tags: [`tenant:${tenantId}`] });
  const started = performance.now();
  await drain(queue, { queues: ['exports'] });
  const ms = performance.now() - started;
  queue.off('job:progress', onProgress);
  const done = await queue.getJob(job.id);
  if (done?.state !== 'completed') throw new Error(`export ${job.id} ended ${done?.state}: ${done?.errors.at(-1)?.message}`);
  const result = done.result as ExportResult;
  await storage.forTenant(tenantId).remove(job.id);
  const what = `${tenantId}${filter.state ? ` state=${filter.state}` : ''}`;
  console.log(
    `${format.padEnd(4)} ${what.padEnd(28)} ${fmt(result.rows).padStart(9)} rows of ${fmt(result.scanned).padStart(9)} read in ${seconds(ms).padStart(8)}: ` +
      `${fmt(result.rows / (ms / 1000)).padStart(7)} rows/s, ${fmt(result.scanned / (ms / 1000)).padStart(7)} read/s, ${(result.bytes / 1e6).toFixed(0)} MB, ${progressWrites} progress writes (last ${done.lastProgress?.percent}%), pages by tag/all ${written.pages?.tagged}/${written.pages?.all}`,
  );
}

async function main(): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 4, application_name: 'export-bench' });
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'export-bench-'));
  const storage = new Storage(path.join(dataDir, 'storage'));
  await storage.init();
  const config = loadConfig({ DATA_DIR: dataDir, WEBHOOK_SECRET: 'export-bench-secret-0123456789abcdef', ALLOW_PRIVATE_TARGETS: 'true' }, { warn: () => {} });
  const { queue, workers } = createDocket(config, pool, storage, { schema, testing: 'manual', logger });
  try {
    const [info] = (await pool.query<{ version: string; autovacuum: string }>(`SELECT version(), current_setting('autovacuum') AS autovacuum`)).rows;
    console.log(`${info?.version.split(' on ')[0]}, autovacuum ${info?.autovacuum}, ${os.cpus().length} cores, schema ${schema}`);
    await queue.migrate();
    await queue.start();
    if (REUSE === undefined) {
      await seed(queue, workers);
      // autovacuum may be off (it is on the machine the README's figures come from): the
      // planner needs the statistics, and index-only visibility the vacuum.
      const vacuumed = performance.now();
      await pool.query(`VACUUM ANALYZE "${schema}".jobs_live`);
      await pool.query(`VACUUM ANALYZE "${schema}".jobs_finished`);
      console.log(`VACUUM ANALYZE of both job tables: ${seconds(performance.now() - vacuumed)}`);
    }

    // What a count of the tenant's jobs (for a progress percent) would cost; the worker uses
    // the snapshot's id range instead, which costs no query.
    let t = performance.now();
    await queue.queueStats();
    const statsMs = performance.now() - t;
    t = performance.now();
    await pool.query(`SELECT count(*) FROM "${schema}".jobs WHERE tags @> $1::text[]`, [[`tenant:${BIG}`]]);
    console.log(`for comparison: queueStats() ${fmt(statsMs)} ms, count(*) of a tenant's jobs ${fmt(performance.now() - t)} ms`);

    for (const tenant of [BIG, SMALL]) for (const format of ['csv', 'json'] as const) await exportOnce(queue, workers, storage, tenant, format);
    await exportOnce(queue, workers, storage, BIG, 'csv', { state: 'scheduled' });
  } finally {
    await queue.stop({ timeout: 5000 });
    if (KEEP || REUSE !== undefined) console.log(`kept schema ${schema} (drop it with: DROP SCHEMA "${schema}" CASCADE)`);
    else await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
