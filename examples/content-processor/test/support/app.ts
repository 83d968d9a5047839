// Builds the HTTP app for route tests: the real config loader, Storage in a temp folder, the real
// docket Queue (testing: 'manual', so jobs run only when a test drains them) on the test database
// in the test file's own schema, and buildApp. Plus small helpers: multipart bodies, job counts,
// metric values, PNGs made with sharp.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import sharp from 'sharp';
import type { Queue } from 'docket';
import { buildApp } from '../../src/app.js';
import type { AppConfig } from '../../src/config.js';
import { loadConfig } from '../../src/config.js';
import type { Workers } from '../../src/docket.js';
import { createDocket } from '../../src/docket.js';
import { Storage } from '../../src/storage.js';
import { TenantKeys } from '../../src/tenancy/tenant-keys.js';

export const ADMIN_KEY = 'test-admin-key-0123456789';

export interface TestApp {
  app: FastifyInstance;
  queue: Queue;
  workers: Workers;
  config: AppConfig;
  storage: Storage;
  /** The app's tenant API keys (in a schema of this app's own, dropped by close()). */
  tenants: TenantKeys;
  close(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  /** Start the queue (default true); an unstarted queue makes /health answer 503. */
  start?: boolean;
  /** Hand the pool to buildApp (default true). */
  withPool?: boolean;
}

/** The environment every test app starts from (each test overrides what it checks). */
export function baseEnv(dataDir: string): Record<string, string> {
  return {
    WEBHOOK_SECRET: 'test-webhook-secret-0123456789abcdef',
    ADMIN_API_KEY: ADMIN_KEY,
    // Development mode: requests without a key act for the tenant their body names, so tests of
    // other concerns need no keys. Tenancy itself is tested with INSECURE_DEV=false (tenancy.test.ts).
    INSECURE_DEV: 'true',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    RATE_LIMIT_MAX: '100000',
    BODY_LIMIT: String(64 * 1024),
    UPLOAD_LIMIT: String(200 * 1024),
  };
}

export async function tempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `${prefix}-`));
}

export async function createTestApp(pool: pg.Pool, schema: string, dataDir: string, options: TestAppOptions = {}): Promise<TestApp> {
  const config = loadConfig({ ...baseEnv(dataDir), ...options.env }, { warn: () => {} });
  const storage = new Storage(config.storageDir, { quota: config.tenantStorageQuota });
  await storage.init();
  const { queue, workers } = createDocket(config, pool, storage, { schema, testing: 'manual' });
  await queue.migrate();
  if (options.start ?? true) await queue.start();
  // The app's own tables, in a schema of this app's (two apps of one test file do not share keys).
  const appSchema = `${schema}_k${randomBytes(3).toString('hex')}`;
  const tenants = new TenantKeys(pool, appSchema);
  await tenants.migrate();
  const app = await buildApp({ config, queue, workers, storage, tenants, ...((options.withPool ?? true) ? { pool } : {}) });
  await app.ready();
  return {
    app,
    queue,
    workers,
    config,
    storage,
    tenants,
    async close() {
      await app.close();
      await queue.stop({ timeout: 1000 });
      await pool.query(`DROP SCHEMA IF EXISTS "${appSchema}" CASCADE`);
    },
  };
}

export interface Part {
  name: string;
  value: string | Buffer;
  filename?: string;
  type?: string;
}

/** A multipart/form-data body and its content-type header. */
export function multipart(parts: readonly Part[]): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----cp-test-${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename === undefined ? '' : `; filename="${p.filename}"`}`;
    const type = p.type === undefined ? '' : `Content-Type: ${p.type}\r\n`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${type}\r\n`));
    chunks.push(Buffer.isBuffer(p.value) ? p.value : Buffer.from(p.value));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/** A real PNG (sharp). */
export function png(width = 32, height = 24): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 40 } } }).png().toBuffer();
}

/** How many job rows the schema holds. */
export async function jobCount(pool: pg.Pool, schema: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".jobs`);
  return rows[0]!.n;
}

/** Every upload file: staged ones (`incoming/<uuid>`) and each tenant's (`<tenant>/uploads/<uuid>`). */
export async function uploads(storage: Storage): Promise<string[]> {
  const staged = (await fs.readdir(path.join(storage.root, 'incoming')).catch(() => [])).map((f) => `incoming/${f}`);
  const kept = await Promise.all((await storage.tenants()).map(async (t) => (await storage.forTenant(t).uploads()).map((u) => `${t}/${u.name}`)));
  return [...staged, ...kept.flat()].sort();
}

/** The current value of a label-less gauge of the app's registry. */
export async function gauge(app: FastifyInstance, name: string): Promise<number> {
  const metric = app.metrics.registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values[0]?.value ?? 0;
}

/** Polls `check` until it returns true (every 20 ms, up to `timeoutMs`). */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Parses an SSE payload into its events. */
export function parseSse(text: string): { event: string; data: unknown }[] {
  return text
    .split('\n\n')
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      return event === undefined ? undefined : { event, data: data === undefined ? undefined : (JSON.parse(data) as unknown) };
    })
    .filter((e): e is { event: string; data: unknown } => e !== undefined);
}
