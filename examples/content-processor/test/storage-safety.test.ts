// Storage limits and safety through fastify.inject (real docket Queue, real database): the
// per-tenant quota (an upload that does not fit: 413 naming the quota and what is left; any
// new job while the tenant is at its quota: 429 naming it; other tenants unaffected), and
// files served only as regular files: a symlink planted in a job's folder, a job folder that
// is a symlink, a tenant folder that is a symlink: 404 and not listed.
import fs from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drain } from 'docket/testing';
import { createPgPool, databaseUrl, dropSchema, uniqueSchemaName } from './support/db.js';
import type { TestApp } from './support/app.js';
import { createTestApp, jobCount, multipart, png, tempDir, uploads } from './support/app.js';

const QUOTA = 6000;
let pool: pg.Pool;
let schema: string;
let dataDir: string;
let t: TestApp;

beforeAll(async () => {
  pool = createPgPool(databaseUrl(), 'cp-storage-safety-test');
  schema = uniqueSchemaName('cp_storage_safety');
  dataDir = await tempDir('cp-storage-safety');
  t = await createTestApp(pool, schema, dataDir, { env: { TENANT_STORAGE_QUOTA: String(QUOTA) } });
});

afterAll(async () => {
  await t?.close();
  await dropSchema(databaseUrl(), schema);
  await pool.end();
  await fs.rm(dataDir, { recursive: true, force: true });
});

const email = (tenantId: string) => ({ to: 'ada@example.org', subject: 'Hi', text: 'Hi Ada', tenantId });
const imageForm = async (tenantId: string, file: Buffer) =>
  multipart([
    { name: 'imageId', value: 'quota' },
    { name: 'tenantId', value: tenantId },
    { name: 'operations', value: JSON.stringify({ format: 'png' }) },
    { name: 'file', value: file, filename: 'x.png', type: 'image/png' },
  ]);
/** A PNG of noise: it does not compress, so it is bigger than the quota. */
const noisyPng = () => sharp({ create: { width: 80, height: 80, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 60 } } }).png().toBuffer();

describe('TENANT_STORAGE_QUOTA', () => {
  it('413 for an upload that would take the tenant over its quota, naming the quota and what is left', async () => {
    const big = await noisyPng();
    expect(big.length).toBeGreaterThan(QUOTA);
    const before = { jobs: await jobCount(pool, schema), files: await uploads(t.storage) };
    const res = await t.app.inject({ method: 'POST', url: '/jobs/images', ...(await imageForm('qa', big)) });
    expect(res.statusCode, res.body).toBe(413);
    expect(res.json().message).toBe(`body.file: the upload (${big.length} bytes) would take tenant qa over its storage quota of ${QUOTA} bytes: ${QUOTA} bytes are left`);
    expect(await jobCount(pool, schema)).toBe(before.jobs);
    expect(await uploads(t.storage)).toEqual(before.files);

    // What fits is taken, and counts: the same tenant has less left afterwards.
    const small = await png();
    expect((await t.app.inject({ method: 'POST', url: '/jobs/images', ...(await imageForm('qa', small)) })).statusCode).toBe(201);
    const again = await t.app.inject({ method: 'POST', url: '/jobs/images', ...(await imageForm('qa', big)) });
    expect(again.statusCode).toBe(413);
    expect(again.json().message).toContain(`${QUOTA - small.length} bytes are left`);
  });

  it('429 for any new job while the tenant is at its quota; other tenants go on; removing files frees it', async () => {
    const files = t.storage.forTenant('qb');
    await files.write('1', 'filler.bin', Buffer.alloc(QUOTA));
    const refused = [
      { url: '/jobs/emails', payload: email('qb') },
      { url: '/jobs/documents', payload: { documentId: 'd', title: 'T', paragraphs: ['x'], tenantId: 'qb' } },
      { url: '/jobs/batch', payload: { jobs: [{ type: 'email', args: email('qz') }, { type: 'email', args: email('qb') }] } },
      { url: '/workflows/media', payload: { imageId: 'i', sourceUrl: 'https://images.example.test/cat.png', operations: { format: 'png' }, notify: { type: 'email', to: 'ada@example.org' }, tenantId: 'qb' } },
    ];
    const before = await jobCount(pool, schema);
    for (const request of refused) {
      const res = await t.app.inject({ method: 'POST', ...request });
      expect(res.statusCode, `${request.url}: ${res.body}`).toBe(429);
      expect(res.json().message).toContain(`Tenant qb is at its storage quota of ${QUOTA} bytes`);
    }
    const upload = await t.app.inject({ method: 'POST', url: '/jobs/images', ...(await imageForm('qb', await png())) });
    expect(upload.statusCode).toBe(429);
    expect(await jobCount(pool, schema)).toBe(before);
    expect(await uploads(t.storage)).not.toEqual(expect.arrayContaining([expect.stringMatching(/^qb\//)]));

    expect((await t.app.inject({ method: 'POST', url: '/jobs/emails', payload: email('qc') })).statusCode).toBe(201);
    await files.remove('1');
    expect((await t.app.inject({ method: 'POST', url: '/jobs/emails', payload: email('qb') })).statusCode).toBe(201);
  });
});

describe('TENANT_STORAGE_QUOTA and queued work', () => {
  it('jobs accepted under the quota stop writing once it is reached: their attempts fail, to be retried', async () => {
    // Two documents accepted while the tenant has room; the first one's files take it over.
    const files = t.storage.forTenant('qd');
    await files.write('filler', 'filler.bin', Buffer.alloc(QUOTA - 10));
    const doc = { documentId: 'd', title: 'Report', paragraphs: ['A paragraph long enough to matter.'], tenantId: 'qd' };
    const first = (await t.app.inject({ method: 'POST', url: '/jobs/documents', payload: doc })).json();
    const second = (await t.app.inject({ method: 'POST', url: '/jobs/documents', payload: doc })).json();
    await drain(t.queue, { queues: ['documents'] });
    expect((await t.queue.getJob(first.id))?.state).toBe('completed');
    const refused = await t.queue.getJob(second.id);
    expect(refused?.state).toBe('retryable');
    expect(refused?.errors.at(-1)?.message).toMatch(new RegExp(`^tenant qd is at its storage quota of ${QUOTA} bytes \\(using \\d+\\): the file is not written`));
    expect(await files.list(second.id)).toEqual([]);
    await t.queue.cancel(second.id);
  });
});

describe('only regular files are served', () => {
  let outside: string;
  beforeAll(async () => {
    // A secret outside the storage root, and a folder that looks like a job's.
    outside = path.join(dataDir, 'outside');
    await fs.mkdir(path.join(outside, 'jobs', 'x'), { recursive: true });
    await fs.writeFile(path.join(outside, 'secret.txt'), 'not for you');
    await fs.writeFile(path.join(outside, 'message.eml'), 'not for you');
  });

  const jobDir = (tenant: string, id: string) => path.join(t.storage.root, 'tenants', tenant, 'jobs', id);
  const insertEmail = async (tenantId: string) => (await t.app.inject({ method: 'POST', url: '/jobs/emails', payload: email(tenantId) })).json<{ id: string }>().id;
  const get = (url: string) => t.app.inject({ method: 'GET', url });

  it('a symlink planted in a job folder: 404, not listed', async () => {
    const id = await insertEmail('sa');
    await drain(t.queue, { queues: ['emails'] });
    await fs.symlink(path.join(outside, 'secret.txt'), path.join(jobDir('sa', id), 'leak.txt'));
    expect((await get(`/jobs/${id}/files/message.eml`)).statusCode).toBe(200);
    const leak = await get(`/jobs/${id}/files/leak.txt`);
    expect(leak.statusCode).toBe(404);
    expect(leak.body).not.toContain('not for you');
    expect((await get(`/jobs/${id}/files`)).json().files.map((f: { name: string }) => f.name)).toEqual(['message.eml']);
    await expect(t.storage.forTenant('sa').readFile(id, 'leak.txt')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a job folder that is a symlink: 404, nothing listed, nothing written through it', async () => {
    const id = await insertEmail('sb');
    await fs.mkdir(path.dirname(jobDir('sb', id)), { recursive: true });
    await fs.symlink(outside, jobDir('sb', id));
    const res = await get(`/jobs/${id}/files/secret.txt`);
    expect(res.statusCode).toBe(404);
    expect(res.body).not.toContain('not for you');
    expect((await get(`/jobs/${id}/files`)).json().files).toEqual([]);
    await expect(t.storage.forTenant('sb').write(id, 'new.txt', 'x')).rejects.toMatchObject({ code: 'EUNSAFEPATH' });
    await expect(fs.access(path.join(outside, 'new.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a tenant folder that is a symlink: 404, nothing listed', async () => {
    const id = await insertEmail('sc');
    await fs.symlink(outside, path.join(t.storage.root, 'tenants', 'sc'));
    await fs.rename(path.join(outside, 'jobs', 'x'), path.join(outside, 'jobs', id));
    await fs.writeFile(path.join(outside, 'jobs', id, 'message.eml'), 'not for you');
    const res = await get(`/jobs/${id}/files/message.eml`);
    expect(res.statusCode).toBe(404);
    expect(res.body).not.toContain('not for you');
    expect((await get(`/jobs/${id}/files`)).json().files).toEqual([]);
  });
});
