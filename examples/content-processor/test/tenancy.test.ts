// Tenants as a security boundary, through fastify.inject on the real app and database, in the
// production mode (INSECURE_DEV=false): tenant API keys created, listed and revoked through the
// admin API (stored hashed, shown once); every job, file, event stream and workflow read scoped
// to the key's tenant (another tenant's answers 404, exactly like a job that does not exist);
// a job's tenant is the key's whatever the body says; the admin key acts as an operator; and a
// tenant's open event streams are capped.
import fs from 'node:fs/promises';
import http from 'node:http';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drain } from 'docket/testing';
import { createPgPool, databaseUrl, dropSchema, uniqueSchemaName } from './support/db.js';
import type { TestApp } from './support/app.js';
import { ADMIN_KEY, createTestApp, gauge, jobCount, tempDir, waitFor } from './support/app.js';
import type { PoolLike } from '../src/routes/common.js';
import { TenantKeys } from '../src/tenancy/tenant-keys.js';

let pool: pg.Pool;
let schema: string;
let dataDir: string;
let t: TestApp;
let keyA: string;
let keyB: string;
let keyAId: string;

const admin = { 'x-api-key': ADMIN_KEY };
const doc = { documentId: 'd1', title: 'Secret plan', paragraphs: ['Only for tenant A.'] };
const as = (key: string) => ({ 'x-api-key': key });

let port: string | undefined;
/** Opens GET /jobs/:id/events over real HTTP (the app listens on first use); `body` resolves when the stream ends. */
async function openEvents(id: string, key: string): Promise<{ status: number; close: () => void; body: () => Promise<string> }> {
  port ??= new URL(await t.app.listen({ port: 0, host: '127.0.0.1' })).port;
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: `/jobs/${id}/events`, headers: as(key) }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      const ended = new Promise<string>((r) => res.on('end', () => r(text)).on('close', () => r(text)));
      resolve({ status: res.statusCode ?? 0, close: () => req.destroy(), body: () => ended });
    });
    req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
  });
}

beforeAll(async () => {
  pool = createPgPool(databaseUrl(), 'cp-tenancy-test');
  schema = uniqueSchemaName('cp_tenancy');
  dataDir = await tempDir('cp-tenancy');
  t = await createTestApp(pool, schema, dataDir, { env: { INSECURE_DEV: 'false', EVENT_STREAMS_PER_TENANT: '1' } });
  const a = await t.app.inject({ method: 'POST', url: '/admin/tenants/tenant-a/keys', headers: admin, payload: { name: 'tests' } });
  expect(a.statusCode, a.body).toBe(201);
  keyA = a.json().key;
  keyAId = a.json().id;
  const b = await t.app.inject({ method: 'POST', url: '/admin/tenants/tenant-b/keys', headers: admin });
  expect(b.statusCode, b.body).toBe(201);
  keyB = b.json().key;
});

afterAll(async () => {
  await t?.close();
  await dropSchema(databaseUrl(), schema);
  await pool.end();
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('tenant API keys', () => {
  it('are created through the admin API, shown once, stored only as a hash, and listed without the key', async () => {
    expect(keyA).toMatch(/^cpk_[a-z0-9]{16}_[A-Za-z0-9_-]{43}$/);
    const list = await t.app.inject({ url: '/admin/tenants/tenant-a/keys', headers: admin });
    expect(list.statusCode).toBe(200);
    expect(list.json().keys).toEqual([{ id: keyAId, tenantId: 'tenant-a', name: 'tests', createdAt: expect.any(String), revokedAt: null }]);
    expect(list.body).not.toContain(keyA.slice(21));
    const schemas = await pool.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname LIKE $1`, [`${schema}_k%`]);
    const rows = await pool.query(`SELECT * FROM "${schemas.rows[0]!.nspname}".api_keys`);
    expect(JSON.stringify(rows.rows)).not.toContain(keyA.slice(21));
    expect(rows.rows.every((r: { key_hash: Buffer }) => r.key_hash.length === 32)).toBe(true);
  });

  it('a lookup that was under way when its key was revoked does not bring the key back through the cache', async () => {
    const own = `${schema}_race`;
    let release: (() => void) | undefined;
    let lookups = 0;
    // A pool whose first key lookup reads the row, then holds its answer until released, so a
    // revoke lands between the read and the cache.
    const slow: PoolLike = {
      query: async (text, values) => {
        const result = await pool.query(text, values);
        if (text.startsWith('SELECT id, tenant_id FROM') && lookups++ === 0) await new Promise<void>((r) => (release = r));
        return result;
      },
      connect: () => pool.connect(),
    };
    const keys = new TenantKeys(slow, own);
    try {
      await keys.migrate();
      const created = await keys.create('tenant-r', 'race');
      const underway = keys.resolve(created.key);
      await waitFor(() => release !== undefined, 5000, 'the lookup to start');
      await keys.revoke(created.id);
      release!();
      expect(await underway).toMatchObject({ tenantId: 'tenant-r' }); // read before the revoke
      expect(await keys.resolve(created.key)).toBeNull();
      expect(lookups).toBe(2); // the second answer came from the database, not a cache
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS "${own}" CASCADE`);
    }
  });

  it('need the admin key to manage', async () => {
    expect((await t.app.inject({ method: 'POST', url: '/admin/tenants/tenant-a/keys' })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'POST', url: '/admin/tenants/tenant-a/keys', headers: as(keyA) })).statusCode).toBe(403);
    expect((await t.app.inject({ url: '/admin/tenants/tenant-a/keys', headers: as(keyB) })).statusCode).toBe(403);
    const bad = await t.app.inject({ method: 'POST', url: '/admin/tenants/bad%20tenant/keys', headers: admin });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toContain('params.tenantId');
  });

  it('are required on every tenant route outside development mode; unknown keys are refused', async () => {
    const before = await jobCount(pool, schema);
    for (const [method, url] of [['POST', '/jobs/documents'], ['GET', '/jobs/1'], ['GET', '/jobs/1/files'], ['GET', '/jobs/1/events'], ['GET', '/workflows/1'], ['POST', '/jobs/batch']] as const) {
      const none = await t.app.inject({ method, url, ...(method === 'POST' ? { payload: { ...doc, tenantId: 'tenant-a' } } : {}) });
      expect(none.statusCode, `${method} ${url}`).toBe(401);
      expect(none.json().message).toContain('tenant API key is required');
      const forged = await t.app.inject({ method, url, headers: as(`cpk_0123456789abcdef_${'x'.repeat(43)}`) });
      expect(forged.statusCode, `${method} ${url}`).toBe(401);
      expect(forged.json().message).toContain('not valid');
    }
    expect(await jobCount(pool, schema)).toBe(before);
  });
});

describe('scoping', () => {
  let jobA: string;
  let workflowA: string;

  beforeAll(async () => {
    const res = await t.app.inject({ method: 'POST', url: '/jobs/documents', headers: as(keyA), payload: doc });
    expect(res.statusCode, res.body).toBe(201);
    jobA = res.json().id;
    await drain(t.queue, { queues: ['documents'] });
    const wf = await t.app.inject({
      method: 'POST',
      url: '/workflows/media',
      headers: { authorization: `Bearer ${keyA}` },
      payload: { imageId: 'img-a', sourceUrl: 'https://images.example.test/a.png', notify: { type: 'email', to: 'a@example.org' } },
    });
    expect(wf.statusCode, wf.body).toBe(202);
    workflowA = wf.json().id;
  });

  it("a job is the key's tenant's, whatever the body says", async () => {
    const job = await t.queue.getJob(jobA);
    expect(job?.args).toMatchObject({ tenantId: 'tenant-a' });
    expect(job?.tags).toContain('tenant:tenant-a');
    const before = await jobCount(pool, schema);
    const other = await t.app.inject({ method: 'POST', url: '/jobs/documents', headers: as(keyA), payload: { ...doc, tenantId: 'tenant-b' } });
    expect(other.statusCode).toBe(400);
    expect(other.json().issues).toEqual([{ path: 'body.tenantId', message: expect.stringContaining("not your API key's tenant") }]);
    const batch = await t.app.inject({
      method: 'POST',
      url: '/jobs/batch',
      headers: as(keyA),
      payload: { jobs: [{ type: 'document', args: doc }, { type: 'email', args: { to: 'x@example.org', subject: 's', text: 't', tenantId: 'tenant-b' } }] },
    });
    expect(batch.statusCode).toBe(400);
    expect(batch.json().issues[0].path).toBe('body.jobs.1.args.tenantId');
    expect(await jobCount(pool, schema)).toBe(before);
    const same = await t.app.inject({ method: 'POST', url: '/jobs/emails', headers: as(keyA), payload: { to: 'x@example.org', subject: 's', text: 't', tenantId: 'tenant-a' } });
    expect(same.statusCode).toBe(201);
  });

  it("another tenant's job, files, events and workflow answer 404, like ids that do not exist", async () => {
    const own = await t.app.inject({ url: `/jobs/${jobA}`, headers: as(keyA) });
    expect(own.statusCode).toBe(200);
    expect(own.json().state).toBe('completed');
    const files = (await t.app.inject({ url: `/jobs/${jobA}/files`, headers: as(keyA) })).json().files as { name: string; url: string }[];
    expect(files.length).toBeGreaterThan(0);
    const file = files[0]!;
    expect((await t.app.inject({ url: file.url, headers: as(keyA) })).statusCode).toBe(200);
    expect((await t.app.inject({ url: `/workflows/${workflowA}`, headers: as(keyA) })).statusCode).toBe(200);

    for (const url of [`/jobs/${jobA}`, `/jobs/${jobA}/files`, file.url, `/jobs/${jobA}/events`, `/workflows/${workflowA}`]) {
      const theirs = await t.app.inject({ url, headers: as(keyB) });
      expect(theirs.statusCode, url).toBe(404);
      const missing = await t.app.inject({ url: url.replace(url.startsWith('/workflows') ? workflowA : jobA, '987654321'), headers: as(keyB) });
      expect(missing.statusCode, url).toBe(404);
      expect(theirs.json().message, url).toBe(missing.json().message.replace('987654321', url.startsWith('/workflows') ? workflowA : jobA));
    }
  });

  it('the admin key acts as an operator: it reads any job and names the tenant of the jobs it creates', async () => {
    expect((await t.app.inject({ url: `/jobs/${jobA}`, headers: admin })).statusCode).toBe(200);
    const unnamed = await t.app.inject({ method: 'POST', url: '/jobs/documents', headers: admin, payload: doc });
    expect(unnamed.statusCode).toBe(400);
    expect(unnamed.json().issues[0].path).toBe('body.tenantId');
    const named = await t.app.inject({ method: 'POST', url: '/jobs/documents', headers: admin, payload: { ...doc, tenantId: 'tenant-b' } });
    expect(named.statusCode).toBe(201);
    expect((await t.app.inject({ url: `/jobs/${named.json().id}`, headers: as(keyB) })).statusCode).toBe(200);
    expect((await t.app.inject({ url: `/jobs/${named.json().id}`, headers: as(keyA) })).statusCode).toBe(404);
  });

  it('caps the event streams each caller holds (a tenant, the operator), and frees the slot when a stream ends', async () => {
    const pending = await t.app.inject({ method: 'POST', url: '/jobs/documents', headers: as(keyB), payload: doc });
    const id = pending.json().id as string;
    const open = (key: string) => openEvents(id, key);
    // The admin key's streams are the operator's own: they do not use up B's allowance.
    const operator = await open(ADMIN_KEY);
    expect(operator.status).toBe(200);
    const first = await open(keyB);
    expect(first.status).toBe(200);
    const second = await open(keyB);
    expect(second.status).toBe(429);
    expect(await second.body()).toContain('at most 1 per instance');
    // Another tenant's cap is its own (and it cannot follow B's job at all).
    expect((await open(keyA)).status).toBe(404);
    first.close();
    operator.close();
    await waitFor(async () => (await gauge(t.app, 'sse_streams_open')) === 0, 5000, 'the streams to close');
    const again = await open(keyB);
    expect(again.status).toBe(200);
    again.close();
  });

  it('a revoked key is refused at once, and the event streams it opened end', async () => {
    const extra = (await t.app.inject({ method: 'POST', url: '/admin/tenants/tenant-a/keys', headers: admin, payload: { name: 'temp' } })).json();
    expect((await t.app.inject({ url: `/jobs/${jobA}`, headers: as(extra.key) })).statusCode).toBe(200);
    // A job that stays pending (nothing runs jobs here unless a test drains them): its stream stays open.
    const pending = (await t.app.inject({ method: 'POST', url: '/jobs/documents', headers: as(extra.key), payload: doc })).json().id as string;
    const stream = await openEvents(pending, extra.key);
    expect(stream.status).toBe(200);
    const revoked = await t.app.inject({ method: 'DELETE', url: `/admin/keys/${extra.id}`, headers: admin });
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json().revokedAt).toEqual(expect.any(String));
    const after = await t.app.inject({ url: `/jobs/${jobA}`, headers: as(extra.key) });
    expect(after.statusCode).toBe(401);
    expect((await t.app.inject({ url: `/jobs/${jobA}`, headers: as(keyA) })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'DELETE', url: '/admin/keys/0000000000000000', headers: admin })).statusCode).toBe(404);
    // The stream the key opened before it was revoked ends at its next key check, saying why.
    const text = await stream.body();
    expect(text).toMatch(/event: end\ndata: \{"reason":"revoked"\}/);
  });
});
