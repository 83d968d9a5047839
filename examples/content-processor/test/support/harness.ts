// A docket of the content processor for worker tests: its own schema on the test database
// (dropped afterwards), storage in a temporary folder, config from loadConfig with test
// overrides, and `testing: 'manual'` so each test runs jobs with drain() when it wants.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import type { Job, Queue } from 'docket';
import { drain } from 'docket/testing';
import { createPgPool, databaseUrl, dropSchema, uniqueSchemaName } from './db.js';
import { loadConfig, type AppConfig } from '../../src/config.js';
import { createDocket, type Workers } from '../../src/docket.js';
import { Storage } from '../../src/storage.js';

export const SECRET = 'test-webhook-secret-0123456789abcdef';

export interface TestDocket {
  queue: Queue;
  workers: Workers;
  config: AppConfig;
}

export interface Harness {
  url: string;
  pool: pg.Pool;
  storage: Storage;
  dataDir: string;
  /** A docket on the harness schema: manual testing mode unless `started`. */
  docket(env?: Record<string, string>, options?: { started?: boolean; schema?: string }): Promise<TestDocket>;
  /** Drains the job's queue and returns the job as stored afterwards. */
  run(d: TestDocket, job: Job, options?: { withScheduled?: boolean }): Promise<Job>;
  close(): Promise<void>;
}

export async function createHarness(name: string): Promise<Harness> {
  const url = databaseUrl();
  const schemas = new Set<string>();
  const main = uniqueSchemaName(name);
  const pool = createPgPool(url, `cp-${name}`, { max: 10 });
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `cp-${name}-`));
  const storage = new Storage(path.join(dataDir, 'storage'));
  await storage.init();
  const queues: Queue[] = [];

  return {
    url,
    pool,
    storage,
    dataDir,
    async docket(env = {}, options = {}) {
      const config = loadConfig(
        { WEBHOOK_SECRET: SECRET, ALLOW_PRIVATE_TARGETS: 'true', DATA_DIR: dataDir, FETCH_TIMEOUT: '3000', ...env },
        { warn: () => {} },
      );
      const schema = options.schema ?? main;
      schemas.add(schema);
      const created = createDocket(config, pool, storage, { schema, ...(options.started ? {} : { testing: 'manual' as const }) });
      queues.push(created.queue);
      await created.queue.migrate();
      await created.queue.start();
      return { ...created, config };
    },
    async run(d, job, options = {}) {
      await drain(d.queue, { queues: [job.queue], ...options });
      const stored = await d.queue.getJob(job.id);
      if (!stored) throw new Error(`job ${job.id} is gone`);
      return stored;
    },
    async close() {
      await Promise.all(queues.map((q) => q.stop({ timeout: 2000 })));
      await pool.end();
      for (const schema of schemas) await dropSchema(url, schema);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` every 25 ms until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function until<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Words of a text, for comparing what went into a PDF with what came out. */
export function words(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
