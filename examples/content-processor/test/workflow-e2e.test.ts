// The media workflow end to end, as users run it: the real server in a child process on a
// database of its own, with private targets allowed so it may reach the local peers (all on
// 127.0.0.1). An image served by a local receiver goes through source → resize + contact sheet
// → notify → a signed webhook back to the receiver; an uploaded image ends in an email in the
// mail sink (.eml, no SMTP configured). The test polls GET /workflows/:id until the workflow is
// finished and checks every step and every file: real PNG/JPEG dimensions, a real PDF. Bad
// bodies get a 400 naming the field; unknown ids a 404. With Chromium present, docket's
// dashboard (at /dashboard) shows the workflow's steps.
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PDFParse } from 'pdf-parse';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrl } from './support/db.js';
import type { WorkflowView } from '../src/routes/workflow-view.js';
import { makePng, startReceiver, type Receiver } from './support/receivers.js';
import { freshDatabase, startServer, tenantKey, type RunningServer } from './support/server.js';
import { browserPage } from './support/browser.js';

const SECRET = 'e2e-webhook-secret-0123456789abcdef';
const ADMIN_KEY = 'e2e-admin-key-0123456789';
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

let server: RunningServer;
/** tenant-e2e's API key (the server runs in production mode). */
let key: { 'x-api-key': string };
let receiver: Receiver;
beforeAll(async () => {
  const photo = await makePng(640, 480);
  receiver = await startReceiver((req, res) => {
    if (req.url === '/photo.png') res.writeHead(200, { 'content-type': 'image/png' }).end(photo);
    else if (req.url === '/hook') res.writeHead(204).end();
    else res.writeHead(404).end();
  });
  cleanups.push(() => receiver.close());
  const db = await freshDatabase(databaseUrl(), 'cp_wf_e2e');
  const dir = await mkdtemp(path.join(tmpdir(), 'cp-wf-e2e-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }), db.drop);
  server = await startServer({ DATABASE_URL: db.url, DATA_DIR: dir, WEBHOOK_SECRET: SECRET, ADMIN_API_KEY: ADMIN_KEY, ALLOW_PRIVATE_TARGETS: 'true' });
  cleanups.push(() => server.stop());
  key = { 'x-api-key': await tenantKey(server, ADMIN_KEY, 'tenant-e2e') };
}, 120_000);

async function post(body: unknown): Promise<Response> {
  const init = body instanceof FormData ? { body, headers: key } : { body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...key } };
  return fetch(`${server.base}/workflows/media`, { method: 'POST', ...init });
}

/** Polls the workflow (its link from the 202) until it leaves `running`, for at most 60 s. */
async function waitForWorkflow(link: string): Promise<WorkflowView> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await fetch(`${server.base}${link}`, { headers: key });
    expect(res.status).toBe(200);
    const wf = (await res.json()) as WorkflowView;
    if (wf.state !== 'running') return wf;
    if (Date.now() > deadline) throw new Error(`workflow still running: ${wf.steps.map((s) => `${s.name}=${s.state}`).join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function download(url: string): Promise<Buffer> {
  const res = await fetch(`${server.base}${url}`, { headers: key });
  expect(res.status, url).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

const stepOf = (wf: WorkflowView, name: string) => wf.steps.find((s) => s.name === name)!;

/** Every step completed, in the planned shape, and each has files where it should. */
function expectCompleted(wf: WorkflowView, deliverer: string): void {
  expect(wf.state, JSON.stringify(wf.steps.map((s) => [s.name, s.state, s.errors]))).toBe('completed');
  expect(wf.steps.map((s) => [s.name, s.state, s.deps])).toEqual([
    ['source', 'completed', []],
    ['resize', 'completed', ['source']],
    ['contact-sheet', 'completed', ['source']],
    ['notify', 'completed', ['resize', 'contact-sheet']],
    ['deliver', 'completed', ['notify']],
  ]);
  expect(stepOf(wf, 'deliver').worker).toBe(deliverer);
  expect(wf.finishedAt).not.toBeNull();
}

/** The contact sheet is a real PDF with the image's title on it. */
async function expectContactSheet(wf: WorkflowView, imageId: string): Promise<void> {
  const [file] = stepOf(wf, 'contact-sheet').files;
  expect(file?.name).toBe('contact-sheet.pdf');
  const pdf = await download(file!.url);
  expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
  const parser = new PDFParse({ data: pdf });
  try {
    const text = await parser.getText();
    expect(text.total).toBeGreaterThanOrEqual(1);
    expect(text.text).toContain(`Contact sheet: ${imageId}`);
  } finally {
    await parser.destroy();
  }
}

describe('POST /workflows/media on the running server', () => {
  it('fetches a local image, makes the PNG sizes and the PDF contact sheet, and delivers a signed webhook', async () => {
    const created = await post({
      imageId: 'e2e-url',
      sourceUrl: `${receiver.url}/photo.png`,
      operations: { resize: { width: 320 }, format: 'png', thumbnails: [64] },
      notify: { type: 'webhook', url: `${receiver.url}/hook` },
      tenantId: 'tenant-e2e',
    });
    expect(created.status, await created.clone().text()).toBe(202);
    const { id, links } = (await created.json()) as { id: string; links: { self: string } };
    expect(links.self).toBe(`/workflows/${id}`);
    expect(created.headers.get('location')).toBe(links.self);

    const wf = await waitForWorkflow(links.self);
    expectCompleted(wf, 'deliver-webhook');
    expect(wf.tenantId).toBe('tenant-e2e');

    const source = await download(stepOf(wf, 'source').files.find((f) => f.name === 'source.png')!.url);
    expect(await sharp(source).metadata()).toMatchObject({ format: 'png', width: 640, height: 480 });
    const sizes: string[] = [];
    for (const file of stepOf(wf, 'resize').files) {
      const bytes = await download(file.url);
      expect(bytes.subarray(0, 8).toString('hex'), file.name).toBe('89504e470d0a1a0a'); // the PNG signature
      const meta = await sharp(bytes).metadata();
      sizes.push(`${file.name}:${meta.width}x${meta.height}:${meta.format}`);
    }
    expect(sizes).toEqual(['image.png:320x240:png', 'thumb-64.png:64x48:png']);
    await expectContactSheet(wf, 'e2e-url');

    const hooks = receiver.requests.filter((r) => r.url === '/hook');
    expect(hooks).toHaveLength(1);
    const [{ headers, body }] = hooks as [(typeof hooks)[number]];
    const timestamp = headers['x-docket-timestamp'] as string;
    expect(headers['x-docket-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${body}`).digest('hex')}`);
    expect(headers['x-docket-event']).toBe('media.completed');
    const delivered = JSON.parse(body) as { payload: { workflowId: string; outcome: string; links: { workflow: string }; files: { url: string }[] } };
    expect(delivered.payload).toMatchObject({ workflowId: id, outcome: 'completed', links: { workflow: links.self }, failedSteps: [] });
    const expectedUrls = [...stepOf(wf, 'resize').files, ...stepOf(wf, 'contact-sheet').files].map((f) => f.url);
    expect(delivered.payload.files.map((f) => f.url).sort()).toEqual(expectedUrls.sort());
  });

  it('takes an uploaded image, makes JPEG sizes and the contact sheet, and emails the links (into the mail sink)', async () => {
    const png = await makePng(400, 300);
    const form = new FormData();
    form.append('file', new Blob([png], { type: 'image/png' }), 'upload.png');
    form.append('imageId', 'e2e-upload');
    form.append('tenantId', 'tenant-e2e');
    form.append('operations', JSON.stringify({ resize: { width: 200 }, format: 'jpeg', thumbnails: [50] }));
    form.append('notify', JSON.stringify({ type: 'email', to: 'ada@example.test', subject: 'Your media' }));
    const created = await post(form);
    expect(created.status, await created.clone().text()).toBe(202);
    const wf = await waitForWorkflow(((await created.json()) as { links: { self: string } }).links.self);
    expectCompleted(wf, 'send-email');

    const sizes: string[] = [];
    for (const file of stepOf(wf, 'resize').files) {
      const bytes = await download(file.url);
      expect(bytes.subarray(0, 3).toString('hex'), file.name).toBe('ffd8ff'); // the JPEG SOI marker
      const meta = await sharp(bytes).metadata();
      sizes.push(`${file.name}:${meta.width}x${meta.height}:${meta.format}`);
    }
    expect(sizes).toEqual(['image.jpg:200x150:jpeg', 'thumb-50.jpg:50x38:jpeg']);
    await expectContactSheet(wf, 'e2e-upload');

    const eml = (await download(stepOf(wf, 'deliver').files.find((f) => f.name === 'message.eml')!.url)).toString('utf8');
    expect(eml).toMatch(/^To: ada@example\.test$/m);
    expect(eml).toMatch(/^Subject: Your media$/m);
    expect(eml).toContain(`/workflows/${wf.id}`);
    expect(eml).toContain(stepOf(wf, 'contact-sheet').files[0]!.url);
  });

  it('answers 400 naming the bad field, and 404 for an unknown workflow', async () => {
    const good = { imageId: 'bad', sourceUrl: `${receiver.url}/photo.png`, notify: { type: 'email', to: 'ada@example.test' }, tenantId: 'tenant-e2e' };
    for (const [field, body] of [
      ['body.notify', { ...good, notify: undefined }],
      ['body.notify.to', { ...good, notify: { type: 'email', to: 'nobody' } }],
      ['body.sourceUrl', { ...good, sourceUrl: 'file:///etc/passwd' }],
    ] as const) {
      const res = await post(body);
      expect(res.status, field).toBe(400);
      const error = (await res.json()) as { message: string; issues: { path: string }[] };
      expect(error.message).toContain(field);
      expect(error.issues.map((i) => i.path)).toContain(field);
    }
    const missing = await fetch(`${server.base}/workflows/987654321`, { headers: key });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { message: string }).message).toContain('987654321');
  });
});

describe('the dashboard', () => {
  it("shows a workflow with the state of each step (docket's dashboard, in headless Chromium)", async (ctx) => {
    const opened = await browserPage(ctx, 'workflow dashboard', cleanups);
    if (opened === undefined) return;
    const { page, pageErrors } = opened;
    const recent = (await (await fetch(`${server.base}/admin/workflows/recent?limit=10`, { headers: { 'x-api-key': ADMIN_KEY } })).json()) as {
      workflows: { id: string; state: string; steps: { name: string }[] }[];
    };
    const delivered = recent.workflows.find((w) => w.state === 'completed' && w.steps.some((s) => s.name === 'deliver'));
    expect(delivered, JSON.stringify(recent)).toBeDefined();
    await page.authenticate({ username: 'admin', password: ADMIN_KEY });
    await page.goto(`${server.base}/dashboard#/workflows/${delivered!.id}`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('#workflow-steps tr', { timeout: 15_000 });
    const steps = await page.$$eval('#workflow-steps tr', (rows) => rows.map((r) => [...r.children].slice(0, 2).map((c) => c.textContent).join(': ')));
    for (const step of ['source: completed', 'resize: completed', 'contact-sheet: completed', 'notify: completed', 'deliver: completed']) expect(steps).toContain(step);
    expect(pageErrors).toEqual([]);
  });
});
