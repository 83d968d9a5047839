// File retention tied to job retention (src/storage/sweeper.ts), through fastify.inject on a
// real docket Queue and the real database: a pruned or deleted job's folder is gone from disk
// (POST /admin/jobs/prune at once; queue.delete and deleteJobs at the next sweep, which docket's
// `jobs:pruned` event starts); an upload is gone once its job completes or is cancelled; the
// sweep takes orphan uploads past the grace and staged leftovers, never a fresh upload nor one
// an unfinished job (an image job, a media workflow's source step) still needs.
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drain } from 'docket/testing';
import { createPgPool, databaseUrl, dropSchema, uniqueSchemaName } from './support/db.js';
import type { TestApp } from './support/app.js';
import { ADMIN_KEY, createTestApp, multipart, png, tempDir, uploads, waitFor } from './support/app.js';
import { UPLOAD_GRACE_MS } from '../src/storage/sweeper.js';

let pool: pg.Pool;
let schema: string;
let dataDir: string;
let t: TestApp;
const admin = { 'x-api-key': ADMIN_KEY };

beforeAll(async () => {
  pool = createPgPool(databaseUrl(), 'cp-retention-test');
  schema = uniqueSchemaName('cp_retention');
  dataDir = await tempDir('cp-retention');
  t = await createTestApp(pool, schema, dataDir);
});

afterAll(async () => {
  await t?.close();
  await dropSchema(databaseUrl(), schema);
  await pool.end();
  await fs.rm(dataDir, { recursive: true, force: true });
});

const jobDir = (tenant: string, id: string) => path.join(t.storage.root, 'tenants', tenant, 'jobs', id);
const exists = (p: string) => fs.lstat(p).then(() => true, () => false);
/** Sets a file's times `ms` into the past. */
const age = (file: string, ms: number) => fs.utimes(file, new Date(Date.now() - ms), new Date(Date.now() - ms));

/** An email job run to completion: without SMTP it leaves message.eml in its folder. */
async function doneEmail(tenantId: string): Promise<string> {
  const res = await t.app.inject({ method: 'POST', url: '/jobs/emails', payload: { to: 'ada@example.org', subject: 'Hi', text: 'Hi Ada', tenantId } });
  expect(res.statusCode, res.body).toBe(201);
  const id = res.json<{ id: string }>().id;
  await drain(t.queue, { queues: ['emails'] });
  expect((await t.queue.getJob(id))?.state).toBe('completed');
  expect(await exists(path.join(jobDir(tenantId, id), 'message.eml'))).toBe(true);
  return id;
}

/** A multipart image job (not run): its id and the upload's file on disk. */
async function uploadJob(tenantId: string, url = '/jobs/images'): Promise<{ id: string; file: string }> {
  const parts = [
    { name: 'imageId', value: 'retention' },
    { name: 'tenantId', value: tenantId },
    { name: 'operations', value: JSON.stringify({ resize: { width: 16 }, format: 'png' }) },
    ...(url === '/workflows/media' ? [{ name: 'notify', value: JSON.stringify({ type: 'webhook', url: 'https://hooks.example.test/in' }) }] : []),
    { name: 'file', value: await png(), filename: 'red.png', type: 'image/png' },
  ];
  const res = await t.app.inject({ method: 'POST', url, ...multipart(parts) });
  expect(res.statusCode, res.body).toBe(url === '/workflows/media' ? 202 : 201);
  const body = res.json<{ id: string; args?: { uploadPath: string }; steps?: { name: string; jobId: string }[] }>();
  const id = body.steps?.find((s) => s.name === 'source')?.jobId ?? body.id;
  const job = await t.queue.getJob(id);
  const uploadPath = (job!.args as { uploadPath: string }).uploadPath;
  expect(uploadPath).toMatch(/^uploads\/[0-9a-f-]{36}$/);
  const file = t.storage.forTenant(tenantId).uploadFile(uploadPath);
  expect(await exists(file)).toBe(true);
  return { id, file };
}

describe('job folders follow their jobs', () => {
  it('POST /admin/jobs/prune removes the pruned jobs’ folders, and only theirs', async () => {
    const pruned = await doneEmail('rt-prune');
    const doc = await t.app.inject({ method: 'POST', url: '/jobs/documents', payload: { documentId: 'd', title: 'Kept', paragraphs: ['x'], tenantId: 'rt-prune' } });
    const kept = doc.json<{ id: string }>().id;
    await drain(t.queue, { queues: ['documents'] });
    expect(await exists(path.join(jobDir('rt-prune', kept), 'document.pdf'))).toBe(true);

    const res = await t.app.inject({ method: 'POST', url: '/admin/jobs/prune', headers: admin, payload: { olderThanSeconds: 0, queue: 'emails' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().deleted).toBeGreaterThanOrEqual(1);
    expect(await t.queue.getJob(pruned)).toBeNull();
    expect(await exists(jobDir('rt-prune', pruned))).toBe(false);
    expect(await exists(path.join(jobDir('rt-prune', kept), 'document.pdf'))).toBe(true);
  });

  it('a job deleted by docket (the Pruner’s jobs:pruned, queue.delete, deleteJobs) loses its folder at the next sweep', async () => {
    const byPruner = await doneEmail('rt-delete');
    const bySweep = await doneEmail('rt-delete');
    const alive = await doneEmail('rt-delete');

    // What the Pruner does on the leader: delete rows, then emit jobs:pruned on that node.
    expect(await t.queue.delete(byPruner)).not.toBeNull();
    t.queue.emit('jobs:pruned', { queue: 'emails', state: 'completed', count: 1 });
    await waitFor(async () => !(await exists(jobDir('rt-delete', byPruner))), 10_000, 'the pruned job’s folder to go');

    expect(await t.queue.deleteJobs({ ids: [bySweep] })).toBe(1);
    expect(await exists(jobDir('rt-delete', bySweep))).toBe(true);
    const report = await t.app.storageSweeper.sweep();
    expect(report.jobFolders).toBeGreaterThanOrEqual(1);
    expect(report.bytes).toBeGreaterThan(0);
    expect(await exists(jobDir('rt-delete', bySweep))).toBe(false);
    expect(await exists(path.join(jobDir('rt-delete', alive), 'message.eml'))).toBe(true);
  });
});

describe('uploads follow their jobs', () => {
  it('an upload is removed once its image job completes', async () => {
    const { id, file } = await uploadJob('rt-up');
    await drain(t.queue, { queues: ['images'] });
    expect((await t.queue.getJob(id))?.state).toBe('completed');
    await waitFor(async () => !(await exists(file)), 10_000, 'the upload to go');
    // The job's results stay.
    expect((await t.storage.forTenant('rt-up').list(id)).map((f) => f.name)).toContain('image.png');
  });

  it('an upload is removed when its job is cancelled', async () => {
    const { id, file } = await uploadJob('rt-up');
    const res = await t.app.inject({ method: 'POST', url: `/admin/jobs/${id}/cancel`, headers: admin });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().state).toBe('cancelled');
    expect(await exists(file)).toBe(false);
  });

  it('the sweep takes orphan uploads past the grace and staged leftovers, never fresh or still-needed ones', async () => {
    const files = t.storage.forTenant('rt-sweep');
    const orphan = files.uploadFile((await files.saveUpload(Readable.from([await png()]), 1 << 20)).uploadPath);
    const fresh = files.uploadFile((await files.saveUpload(Readable.from([await png()]), 1 << 20)).uploadPath);
    const waiting = await uploadJob('rt-sweep');
    const workflow = await uploadJob('rt-sweep', '/workflows/media');
    const staged = (await t.storage.stageUpload(Readable.from([Buffer.from('half an upload')]), 1 << 20)).path;
    const past = UPLOAD_GRACE_MS + 60_000;
    for (const file of [orphan, waiting.file, workflow.file, staged]) await age(file, past);

    const report = await t.app.storageSweeper.sweep();
    expect(report.uploads).toBeGreaterThanOrEqual(1);
    expect(report.staged).toBeGreaterThanOrEqual(1);
    expect(await exists(orphan)).toBe(false);
    expect(await exists(staged)).toBe(false);
    expect(await exists(fresh)).toBe(true);
    expect(await exists(waiting.file)).toBe(true);
    expect(await exists(workflow.file)).toBe(true);
    expect(await uploads(t.storage)).toEqual(expect.arrayContaining([`rt-sweep/uploads/${path.basename(fresh)}`]));

    // Once the job is final (cancelled in bulk: no event on this node), the sweep takes its upload too.
    await t.queue.cancelJobs({ ids: [waiting.id] });
    await t.app.storageSweeper.sweep();
    expect(await exists(waiting.file)).toBe(false);
  });
});
