// Two tenants against the real server (a child process in production mode, on a database of
// its own), each with an API key the admin API created: every cross-tenant read answers 404
// (job, files, one file, events, export), an export holds only its tenant's jobs, a NUL byte
// answers 400 naming the field, and a pruned job's files are gone from disk.
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrl } from './support/db.js';
import { freshDatabase, startServer, tenantKey, type RunningServer } from './support/server.js';

const ADMIN_KEY = 'tenants-e2e-admin-key-0123456789';
const admin = { 'x-api-key': ADMIN_KEY };
const cleanups: (() => Promise<unknown>)[] = [];
let server: RunningServer;
let dataDir: string;
let a: Record<string, string>;
let b: Record<string, string>;

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

beforeAll(async () => {
  const db = await freshDatabase(databaseUrl(), 'cp_tenants');
  dataDir = await mkdtemp(path.join(tmpdir(), 'cp-tenants-'));
  cleanups.push(db.drop, () => rm(dataDir, { recursive: true, force: true }));
  server = await startServer({ DATABASE_URL: db.url, DATA_DIR: dataDir, WEBHOOK_SECRET: 'tenants-e2e-secret-0123456789abcdef', ADMIN_API_KEY: ADMIN_KEY });
  cleanups.push(() => server.stop());
  a = { 'x-api-key': await tenantKey(server, ADMIN_KEY, 'tenant-a') };
  b = { 'x-api-key': await tenantKey(server, ADMIN_KEY, 'tenant-b') };
}, 120_000);

async function call(url: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
  const res = await fetch(`${server.base}${url}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // a file or an event stream
  }
  return { status: res.status, json, text };
}

async function finished(id: string, key: Record<string, string>): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { json } = await call(`/jobs/${id}`, key);
    if (['completed', 'discarded', 'cancelled'].includes(json.state as string)) return json;
    if (Date.now() > deadline) throw new Error(`job ${id} is still ${String(json.state)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Whether a path exists. */
const exists = (p: string) => stat(p).then(() => true, () => false);

/** A job's folder on disk, wherever the storage layout puts it (found by walking the storage root). */
async function jobFolder(id: string): Promise<string | undefined> {
  const root = path.join(dataDir, 'storage');
  const walk = async (dir: string, depth: number): Promise<string | undefined> => {
    if (depth > 4) return undefined;
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (!entry.isDirectory()) continue;
      const full = path.join(dir, entry.name);
      if (entry.name === id && path.basename(dir) === 'jobs') return full;
      const found = await walk(full, depth + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return walk(root, 0);
}

describe('two tenants on the running server', () => {
  let docA: string;
  let fileA: string;

  it("tenant A's job, files, events and export are A's alone", async () => {
    const created = await call('/jobs/documents', a, { documentId: 'a-plan', title: 'A only', paragraphs: ['Secret of tenant A.'] });
    expect(created.status, created.text).toBe(201);
    docA = created.json.id as string;
    expect(await finished(docA, a)).toMatchObject({ state: 'completed', args: { tenantId: 'tenant-a' } });
    const files = (await call(`/jobs/${docA}/files`, a)).json.files as { name: string; url: string }[];
    fileA = files.find((f) => f.name.endsWith('.pdf'))!.url;
    expect((await call(fileA, a)).status).toBe(200);

    for (const url of [`/jobs/${docA}`, `/jobs/${docA}/files`, fileA, `/jobs/${docA}/events`]) {
      const res = await call(url, b);
      expect(res.status, url).toBe(404);
      expect(res.text, url).not.toContain('A only');
    }
    // Without a key nothing is served at all.
    expect((await call(`/jobs/${docA}`, {})).status).toBe(401);

    // B's export holds B's jobs only, though A's are in the same queue and table.
    const own = await call('/jobs/documents', b, { documentId: 'b-note', title: 'B only', paragraphs: ['Tenant B.'] });
    expect(own.status).toBe(201);
    await finished(own.json.id as string, b);
    const exported = await call('/jobs/exports', b, { format: 'json', filter: { queue: 'documents' } });
    expect(exported.status, exported.text).toBe(201);
    const exportId = exported.json.id as string;
    expect(await finished(exportId, b)).toMatchObject({ state: 'completed' });
    const rows = JSON.parse((await call(`/jobs/${exportId}/files/export.json`, b)).text) as { id: string; tenantId: string }[];
    expect(rows.map((r) => r.id)).toEqual([own.json.id]);
    expect(rows.every((r) => r.tenantId === 'tenant-b')).toBe(true);
    expect((await call(`/jobs/${exportId}/files/export.json`, a)).status).toBe(404);
  });

  it('a NUL byte answers 400 naming the field, and writes nothing', async () => {
    const before = (await call('/admin/queues/emails', admin)).json.total;
    const res = await call('/jobs/emails', a, { to: 'ada@example.org', subject: 'nul\u0000byte', text: 'hi' });
    expect(res.status).toBe(400);
    expect(res.json.message).toContain('body.subject');
    expect((await call('/admin/queues/emails', admin)).json.total).toBe(before);
  });

  it("a pruned job's files are gone from disk", async () => {
    const folder = await jobFolder(docA);
    expect(folder, 'the job folder of A’s document').toBeDefined();
    expect(await exists(folder!)).toBe(true);
    const pruned = await call('/admin/jobs/prune', admin, { olderThanSeconds: 0 });
    expect(pruned.status, pruned.text).toBe(200);
    expect(pruned.json.deleted).toBeGreaterThanOrEqual(1);
    const deadline = Date.now() + 15_000;
    while (await exists(folder!)) {
      if (Date.now() > deadline) throw new Error(`${folder} is still on disk after the prune`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await call(`/jobs/${docA}`, a)).status).toBe(404);
  });
});
