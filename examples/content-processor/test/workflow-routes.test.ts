// The media workflow through fastify.inject on a real docket Queue (testing: 'manual', steps run
// when the test drains): a URL source with a webhook, an upload with an email (.eml sink), a
// failed source reported as media.failed; bad bodies answered 400 naming the field with nothing
// written; unknown ids 404; the list of recent workflows behind the admin key, and a workflow's
// steps in docket's dashboard (mounted at /dashboard).
import fs from 'node:fs/promises';
import type pg from 'pg';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drain } from 'docket/testing';
import { createPgPool, databaseUrl, dropSchema, uniqueSchemaName } from './support/db.js';
import type { WorkflowView } from '../src/routes/workflow-view.js';
import type { TestApp } from './support/app.js';
import { ADMIN_KEY, createTestApp, jobCount, multipart, png, tempDir } from './support/app.js';
import { makePng, startReceiver, type Receiver } from './support/receivers.js';

let pool: pg.Pool;
let schema: string;
let dataDir: string;
let t: TestApp;
let strict: TestApp;
let receiver: Receiver;

beforeAll(async () => {
  pool = createPgPool(databaseUrl(), 'cp-workflow-routes');
  schema = uniqueSchemaName('cp_wf_routes');
  dataDir = await tempDir('cp-wf-routes');
  t = await createTestApp(pool, schema, dataDir, { env: { ALLOW_PRIVATE_TARGETS: 'true', UPLOAD_LIMIT: String(1024 * 1024) } });
  strict = await createTestApp(pool, schema, dataDir);
  const photo = await makePng(300, 200);
  receiver = await startReceiver((req, res) => {
    if (req.url === '/photo.png') res.writeHead(200, { 'content-type': 'image/png' }).end(photo);
    else if (req.url === '/hook') res.writeHead(204).end();
    else res.writeHead(404).end('not here');
  });
});

afterAll(async () => {
  await t?.close();
  await strict?.close();
  await receiver?.close();
  await dropSchema(databaseUrl(), schema);
  await pool.end();
  await fs.rm(dataDir, { recursive: true, force: true });
});

const operations = { resize: { width: 150 }, format: 'png', thumbnails: [32] };

async function start(body: Record<string, unknown>, app = t): Promise<{ id: string; links: { self: string } }> {
  const res = await app.app.inject({ method: 'POST', url: '/workflows/media', payload: body });
  expect(res.statusCode, res.body).toBe(202);
  const created = res.json<{ id: string; links: { self: string }; steps: { name: string; state: string }[] }>();
  expect(res.headers.location).toBe(created.links.self);
  expect(created.steps.map((s) => [s.name, s.state])).toEqual([
    ['source', 'available'],
    ['resize', 'held'],
    ['contact-sheet', 'held'],
    ['notify', 'held'],
  ]);
  return created;
}

async function finished(id: string): Promise<WorkflowView> {
  await drain(t.queue);
  const res = await t.app.inject(`/workflows/${id}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json<WorkflowView>();
}

const step = (wf: WorkflowView, name: string) => wf.steps.find((s) => s.name === name)!;

describe('POST /workflows/media, GET /workflows/:id', () => {
  it('fetches, resizes and renders the contact sheet, then delivers the webhook', async () => {
    const hooks = receiver.requests.length;
    const run = await start({ imageId: 'wf-1', sourceUrl: `${receiver.url}/photo.png`, operations, notify: { type: 'webhook', url: `${receiver.url}/hook` }, tenantId: 'tenant-a' });
    const wf = await finished(run.id);
    expect(wf.state).toBe('completed');
    expect(wf.tenantId).toBe('tenant-a');
    expect(wf.steps.map((s) => [s.name, s.state, s.deps])).toEqual([
      ['source', 'completed', []],
      ['resize', 'completed', ['source']],
      ['contact-sheet', 'completed', ['source']],
      ['notify', 'completed', ['resize', 'contact-sheet']],
      ['deliver', 'completed', ['notify']],
    ]);
    expect(step(wf, 'resize').files.map((f) => f.name)).toEqual(['image.png', 'thumb-32.png']);
    const image = await t.app.inject(step(wf, 'resize').files[0]!.url);
    expect(await sharp(image.rawPayload).metadata()).toMatchObject({ format: 'png', width: 150, height: 100 });
    const pdf = await t.app.inject(step(wf, 'contact-sheet').files[0]!.url);
    expect(pdf.rawPayload.subarray(0, 5).toString()).toBe('%PDF-');

    const hook = receiver.requests.slice(hooks).find((r) => r.url === '/hook');
    const body = JSON.parse(hook!.body) as { event: string; payload: { workflowId: string; outcome: string; files: { url: string }[] } };
    expect(body.event).toBe('media.completed');
    expect(body.payload).toMatchObject({ workflowId: run.id, outcome: 'completed', failedSteps: [] });
    expect(body.payload.files.map((f) => f.url)).toEqual([...step(wf, 'resize').files.map((f) => f.url), step(wf, 'contact-sheet').files[0]!.url]);
  });

  it('takes an uploaded image and notifies by email (written as .eml without SMTP)', async () => {
    const { payload, headers } = multipart([
      { name: 'file', value: await png(80, 60), filename: 'p.png', type: 'image/png' },
      { name: 'imageId', value: 'wf-upload' },
      { name: 'tenantId', value: 'tenant-b' },
      { name: 'operations', value: JSON.stringify({ format: 'jpeg', thumbnails: [16] }) },
      { name: 'notify', value: JSON.stringify({ type: 'email', to: 'ada@example.org' }) },
    ]);
    const res = await t.app.inject({ method: 'POST', url: '/workflows/media', payload, headers });
    expect(res.statusCode, res.body).toBe(202);
    const wf = await finished(res.json<{ id: string }>().id);
    expect(wf.state).toBe('completed');
    const deliver = step(wf, 'deliver');
    expect(deliver.worker).toBe('send-email');
    const eml = (await t.app.inject(deliver.files.find((f) => f.name === 'message.eml')!.url)).body;
    expect(eml).toContain('Subject: Media ready: wf-upload');
    expect(eml).toContain(step(wf, 'contact-sheet').files[0]!.url);
  });

  it('reports a source that can never work: the branches are cancelled, notify says media.failed', async () => {
    const hooks = receiver.requests.length;
    const run = await start({ imageId: 'wf-404', sourceUrl: `${receiver.url}/missing.png`, notify: { type: 'webhook', url: `${receiver.url}/hook` }, tenantId: 'tenant-a' });
    const wf = await finished(run.id);
    expect(wf.state).toBe('failed');
    expect(wf.steps.map((s) => [s.name, s.state])).toEqual([
      ['source', 'discarded'],
      ['resize', 'cancelled'],
      ['contact-sheet', 'cancelled'],
      ['notify', 'completed'],
      ['deliver', 'completed'],
    ]);
    expect(step(wf, 'source').errors.at(-1)?.message).toContain('HTTP 404');
    const hook = receiver.requests.slice(hooks).find((r) => r.url === '/hook');
    expect(JSON.parse(hook!.body)).toMatchObject({ event: 'media.failed', payload: { outcome: 'failed', failedSteps: ['resize', 'contact-sheet'], files: [] } });
  });

  const good = { imageId: 'x', sourceUrl: 'https://images.example.test/cat.png', notify: { type: 'email', to: 'ada@example.org' }, tenantId: 't1' };
  it.each([
    ['body.notify', { ...good, notify: undefined }],
    ['body.notify.type', { ...good, notify: { type: 'pigeon' } }],
    ['body.notify.to', { ...good, notify: { type: 'email', to: 'not an address' } }],
    ['body.notify.url', { ...good, notify: { type: 'webhook', url: 'ftp://x.example.test/' } }],
    ['body.tenantId', { ...good, tenantId: 'bad tenant!' }],
    ['body.sourceUrl', { ...good, sourceUrl: undefined }],
    ['body.operations.thumbnails.0', { ...good, operations: { thumbnails: [1] } }],
  ])('400 naming %s, nothing written', async (path, body) => {
    const before = await jobCount(pool, schema);
    const res = await t.app.inject({ method: 'POST', url: '/workflows/media', payload: body });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json<{ message: string }>().message).toContain(path);
    expect(await jobCount(pool, schema)).toBe(before);
  });

  it('refuses loopback targets unless private targets are allowed', async () => {
    const before = await jobCount(pool, schema);
    const res = await strict.app.inject({ method: 'POST', url: '/workflows/media', payload: { ...good, notify: { type: 'webhook', url: 'http://127.0.0.1:9/hook' } } });
    expect(res.statusCode).toBe(400);
    expect(res.json<{ issues: { path: string }[] }>().issues.map((i) => i.path)).toEqual(['body.notify.url']);
    expect(await jobCount(pool, schema)).toBe(before);
  });

  it('404 for an unknown workflow, 400 for a malformed id', async () => {
    expect((await t.app.inject('/workflows/999999999')).statusCode).toBe(404);
    expect((await t.app.inject('/workflows/abc')).statusCode).toBe(400);
    expect((await t.app.inject('/workflows/9223372036854775808')).statusCode).toBe(400);
  });
});

describe('GET /admin/workflows/recent', () => {
  it('lists recent workflows, newest first, with their steps; admin key required', async () => {
    expect((await t.app.inject('/admin/workflows/recent')).statusCode).toBe(401);
    const res = await t.app.inject({ url: '/admin/workflows/recent?limit=2', headers: { 'x-api-key': ADMIN_KEY } });
    expect(res.statusCode, res.body).toBe(200);
    const { workflows } = res.json<{ workflows: { id: string; state: string; steps: { name: string }[] }[] }>();
    expect(workflows).toHaveLength(2);
    expect(BigInt(workflows[0]!.id)).toBeGreaterThan(BigInt(workflows[1]!.id));
    expect(workflows[0]!.state).toBe('failed');
    expect(workflows[0]!.steps.map((s) => s.name)).toContain('deliver');
  });

  it('the dashboard shows a workflow and its steps, and /metrics counts finished workflows', async () => {
    const recent = (await t.app.inject({ url: '/admin/workflows/recent?limit=1', headers: { 'x-api-key': ADMIN_KEY } })).json<{ workflows: { id: string }[] }>();
    const id = recent.workflows[0]!.id;
    expect((await t.app.inject(`/dashboard/api/workflows/${id}`)).statusCode).toBe(401);
    const res = await t.app.inject({ url: `/dashboard/api/workflows/${id}`, headers: { 'x-api-key': ADMIN_KEY } });
    expect(res.statusCode, res.body).toBe(200);
    const { workflow } = res.json<{ workflow: { name: string; state: string; steps: { name: string }[] } }>();
    expect(workflow).toMatchObject({ name: 'media', state: 'failed' });
    expect(workflow.steps.map((s) => s.name)).toContain('deliver');
    const metrics = (await t.app.inject('/metrics')).body;
    expect(metrics).toContain('workflows_finished_total{name="media",state="completed"} 2');
    expect(metrics).toContain('workflows_finished_total{name="media",state="failed"} 1');
  });
});
