// Route tests: every endpoint through fastify.inject against a real docket Queue on the real
// database (a schema of this file's own, dropped after). Jobs run only when a test drains them
// (testing: 'manual'). Bad input must be a 400 naming the field and must enqueue nothing; the
// admin routes need the key (401/403) and vanish without one; limits answer 413 and 429.
import fs from 'node:fs/promises';
import http from 'node:http';
import type { InjectOptions } from 'fastify';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drain } from 'docket/testing';
import { createPgPool, databaseUrl, dropSchema, uniqueSchemaName } from './support/db.js';
import type { TestApp } from './support/app.js';
import { ADMIN_KEY, createTestApp, gauge, jobCount, multipart, parseSse, png, tempDir, uploads, waitFor } from './support/app.js';

let pool: pg.Pool;
let schema: string;
let dataDir: string;
let t: TestApp;
const extra: TestApp[] = [];

const admin = { 'x-api-key': ADMIN_KEY };
const email = { to: 'ada@example.org', subject: 'Hello', text: 'Hi Ada', tenantId: 't1' };
const doc = { documentId: 'd1', title: 'Report', paragraphs: ['First paragraph.', 'Second one.'], tenantId: 't1' };
const webhook = { url: 'https://hooks.example.test/in', event: 'order.paid', payload: { id: 1 }, tenantId: 't1' };
const exportJob = { format: 'csv', tenantId: 't1' };
const image = { imageId: 'img-1', sourceUrl: 'https://images.example.test/cat.png', operations: { resize: { width: 100 }, format: 'webp' }, tenantId: 't1' };

beforeAll(async () => {
  pool = createPgPool(databaseUrl(), 'cp-routes-test');
  schema = uniqueSchemaName('cp_routes');
  dataDir = await tempDir('cp-routes');
  t = await createTestApp(pool, schema, dataDir);
});

afterAll(async () => {
  for (const x of [t, ...extra]) await x?.close();
  await dropSchema(databaseUrl(), schema);
  await pool.end();
  await fs.rm(dataDir, { recursive: true, force: true });
});

async function another(env: Record<string, string>, options: { start?: boolean } = {}): Promise<TestApp> {
  const x = await createTestApp(pool, schema, dataDir, { env, ...options });
  extra.push(x);
  return x;
}

/** Sends a bad request: 400, the field named in message and issues, and no job written. */
async function rejected(request: InjectOptions, path: string, app = t.app): Promise<{ message: string; issues: { path: string }[] }> {
  const before = await jobCount(pool, schema);
  const res = await app.inject(request);
  expect(res.statusCode, res.body).toBe(400);
  const body = res.json<{ message: string; issues: { path: string; message: string }[] }>();
  expect(body.message).toContain(path);
  expect(body.issues.map((i) => i.path)).toContain(path);
  expect(await jobCount(pool, schema)).toBe(before);
  return body;
}

describe('POST /jobs/*', () => {
  it.each([
    ['/jobs/emails', email, 'send-email', 'emails'],
    ['/jobs/documents', doc, 'generate-document', 'documents'],
    ['/jobs/webhooks', webhook, 'deliver-webhook', 'webhooks'],
    ['/jobs/exports', exportJob, 'export-data', 'exports'],
    ['/jobs/images', image, 'process-image', 'images'],
  ])('%s enqueues a job and answers 201 with it', async (url, payload, worker, queue) => {
    const res = await t.app.inject({ method: 'POST', url, payload });
    expect(res.statusCode, res.body).toBe(201);
    const job = res.json();
    expect(job).toMatchObject({ worker, queue, state: 'available', tags: ['tenant:t1'], attempt: 0 });
    expect((await t.queue.getJob(job.id))?.worker).toBe(worker);
  });

  it.each([
    ['/jobs/emails', { ...email, to: 'not-an-email' }, 'body.to'],
    ['/jobs/emails', { to: email.to, subject: 'x', tenantId: 't1' }, 'body'],
    ['/jobs/emails', { ...email, tenantId: 'bad tenant!' }, 'body.tenantId'],
    ['/jobs/documents', { ...doc, paragraphs: [] }, 'body.paragraphs'],
    ['/jobs/documents', { ...doc, title: undefined }, 'body.title'],
    ['/jobs/webhooks', { ...webhook, url: 'not a url' }, 'body.url'],
    ['/jobs/webhooks', { ...webhook, url: 'http://127.0.0.1:9/hook' }, 'body.url'],
    ['/jobs/webhooks', { ...webhook, url: 'http://169.254.169.254/latest/meta-data' }, 'body.url'],
    ['/jobs/exports', { ...exportJob, format: 'xlsx' }, 'body.format'],
    ['/jobs/images', { ...image, sourceUrl: undefined }, 'body.sourceUrl'],
    ['/jobs/images', { ...image, sourceUrl: 'ftp://images.example.test/cat.png' }, 'body.sourceUrl'],
    ['/jobs/images', { ...image, sourceUrl: 'http://10.0.0.7/cat.png' }, 'body.sourceUrl'],
    ['/jobs/images', { ...image, operations: { resize: { width: 0 } } }, 'body.operations.resize.width'],
    ['/jobs/images', { ...image, operations: { format: 'bmp' } }, 'body.operations.format'],
  ])('%s refuses %j naming %s', async (url, payload, path) => {
    await rejected({ method: 'POST', url, payload }, path);
  });

  it('refuses an uploadPath from a client (only uploads set it)', async () => {
    const body = await rejected({ method: 'POST', url: '/jobs/images', payload: { ...image, sourceUrl: undefined, uploadPath: 'uploads/../../etc/passwd' } }, 'body');
    expect(body.message).toContain('uploadPath');
  });

  it('refuses a body that is not JSON, and a missing body', async () => {
    const before = await jobCount(pool, schema);
    const bad = await t.app.inject({ method: 'POST', url: '/jobs/emails', payload: '{"to":', headers: { 'content-type': 'application/json' } });
    expect(bad.statusCode).toBe(400);
    const none = await t.app.inject({ method: 'POST', url: '/jobs/emails' });
    expect(none.statusCode).toBe(400);
    expect(none.json().message).toContain('body');
    expect(await jobCount(pool, schema)).toBe(before);
  });

  it('takes an image upload (multipart: a file part plus fields) and stores it', async () => {
    const form = multipart([
      { name: 'imageId', value: 'upload-1' },
      { name: 'tenantId', value: 't2' },
      { name: 'operations', value: JSON.stringify({ resize: { width: 16 }, format: 'png', thumbnails: [16] }) },
      { name: 'file', value: await png(), filename: 'red.png', type: 'image/png' },
    ]);
    const res = await t.app.inject({ method: 'POST', url: '/jobs/images', ...form });
    expect(res.statusCode, res.body).toBe(201);
    const job = res.json();
    expect(job.args).toMatchObject({ imageId: 'upload-1', tenantId: 't2', operations: { format: 'png', thumbnails: [16] } });
    expect(job.args.uploadPath).toMatch(/^uploads\/[0-9a-f-]{36}$/);
    expect(job.args.sourceUrl).toBeUndefined();
    const stored = await t.storage.forTenant('t2').readUpload(job.args.uploadPath);
    expect(stored.subarray(1, 4).toString()).toBe('PNG');
  });

  it.each([
    ['a file that is not an image', [{ name: 'file', value: Buffer.from('just text'), filename: 'x.png' }], 'body.file'],
    ['operations that are not JSON', [{ name: 'operations', value: '{nope' }, { name: 'file', value: 'PNG', filename: 'x.png' }], 'body.operations'],
    ['a file and a sourceUrl', [{ name: 'sourceUrl', value: image.sourceUrl }, { name: 'file', value: 'PNG', filename: 'x.png' }], 'body.sourceUrl'],
    ['a file under another name', [{ name: 'picture', value: 'PNG', filename: 'x.png' }], 'body.picture'],
  ])('refuses an upload with %s, keeping no file', async (_what, parts, path) => {
    const real = await png();
    const withImage = parts.map((p) => (p.value === 'PNG' ? { ...p, value: real } : p));
    const before = await uploads(t.storage);
    const form = multipart([{ name: 'imageId', value: 'bad-upload' }, { name: 'tenantId', value: 't1' }, ...withImage]);
    await rejected({ method: 'POST', url: '/jobs/images', ...form }, path);
    expect(await uploads(t.storage)).toEqual(before);
  });

  it('answers 415 to multipart on routes that take JSON only', async () => {
    const before = await jobCount(pool, schema);
    const form = multipart([{ name: 'to', value: email.to }]);
    const res = await t.app.inject({ method: 'POST', url: '/jobs/emails', ...form });
    expect(res.statusCode).toBe(415);
    expect(await jobCount(pool, schema)).toBe(before);
  });
});

describe('POST /jobs/batch', () => {
  it('inserts every item (one insert per worker and tenant) and answers in request order', async () => {
    const items = [
      { type: 'email', args: { ...email, tenantId: 'ta' } },
      { type: 'document', args: { ...doc, tenantId: 'ta' } },
      { type: 'email', args: { ...email, subject: 'second', tenantId: 'tb' } },
      { type: 'webhook', args: webhook },
    ];
    const res = await t.app.inject({ method: 'POST', url: '/jobs/batch', payload: { jobs: items } });
    expect(res.statusCode, res.body).toBe(201);
    const jobs = res.json().jobs as { worker: string; tags: string[]; args: { subject?: string } }[];
    expect(jobs.map((j) => j.worker)).toEqual(['send-email', 'generate-document', 'send-email', 'deliver-webhook']);
    expect(jobs.map((j) => j.tags[0])).toEqual(['tenant:ta', 'tenant:ta', 'tenant:tb', 'tenant:t1']);
    expect(jobs[2]!.args.subject).toBe('second');
  });

  it('enqueues nothing when one item is bad, and names it', async () => {
    const items = [{ type: 'email', args: email }, { type: 'email', args: { ...email, to: 'nope' } }];
    await rejected({ method: 'POST', url: '/jobs/batch', payload: { jobs: items } }, 'body.jobs.1.args.to');
    await rejected({ method: 'POST', url: '/jobs/batch', payload: { jobs: [{ type: 'fax', args: {} }] } }, 'body.jobs.0.type');
    await rejected({ method: 'POST', url: '/jobs/batch', payload: { jobs: [] } }, 'body.jobs');
    await rejected({ method: 'POST', url: '/jobs/batch', payload: { jobs: [{ type: 'image', args: { ...image, sourceUrl: 'http://192.168.1.1/x.png' } }] } }, 'body.jobs.0.args.sourceUrl');
  });
});

describe('GET /jobs/:id, files and events', () => {
  let docId: string;

  beforeAll(async () => {
    const res = await t.app.inject({ method: 'POST', url: '/jobs/documents', payload: { ...doc, documentId: 'files-doc' } });
    docId = res.json().id;
  });

  it('reads a job; 404 for none; 400 for a bad id', async () => {
    expect((await t.app.inject(`/jobs/${docId}`)).json()).toMatchObject({ id: docId, state: 'available' });
    const missing = await t.app.inject('/jobs/987654321');
    expect(missing.statusCode).toBe(404);
    const bad = await t.app.inject('/jobs/abc');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().issues[0].path).toBe('params.id');
  });

  it('streams state changes over SSE until the job completes, then ends', async () => {
    const pending = t.app.inject({ method: 'GET', url: `/jobs/${docId}/events` });
    await waitFor(async () => (await gauge(t.app, 'sse_streams_open')) === 1, 10_000, 'the stream to open');
    const result = await drain(t.queue, { queues: ['documents'] });
    expect(result.completed).toBeGreaterThan(0);
    const res = await pending;
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/event-stream');
    const events = parseSse(res.body);
    const states = events.filter((e) => e.event === 'state').map((e) => (e.data as { state: string }).state);
    expect(states[0]).toBe('available');
    expect(states.at(-1)).toBe('completed');
    expect(events.at(-1)).toEqual({ event: 'end', data: { state: 'completed' } });
    expect(await gauge(t.app, 'sse_streams_open')).toBe(0);
  });

  it('ends at once for a finished job; 404 for none', async () => {
    const res = await t.app.inject(`/jobs/${docId}/events`);
    const events = parseSse(res.body);
    expect(events[0]).toMatchObject({ event: 'state', data: { state: 'completed' } });
    expect(events.at(-1)).toEqual({ event: 'end', data: { state: 'completed' } });
    expect((await t.app.inject('/jobs/987654321/events')).statusCode).toBe(404);
  });

  it('closes the stream and its timers when the client goes away', async () => {
    const job = (await t.app.inject({ method: 'POST', url: '/jobs/exports', payload: exportJob })).json();
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = new URL(address);
    await new Promise<void>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: `/jobs/${job.id}/events` }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
    });
    await waitFor(async () => (await gauge(t.app, 'sse_streams_open')) === 0, 5000, 'the stream to close');
  });

  it('lists and downloads result files', async () => {
    const list = await t.app.inject(`/jobs/${docId}/files`);
    expect(list.statusCode).toBe(200);
    const names = (list.json().files as { name: string }[]).map((f) => f.name);
    const pdf = names.find((n) => n.endsWith('.pdf'));
    expect(pdf).toBeDefined();
    const file = await t.app.inject(`/jobs/${docId}/files/${pdf}`);
    expect(file.statusCode).toBe(200);
    expect(file.headers['content-type']).toBe('application/pdf');
    expect(file.rawPayload.subarray(0, 4).toString()).toBe('%PDF');
    expect((await t.app.inject(`/jobs/${docId}/files/nothing.pdf`)).statusCode).toBe(404);
    expect((await t.app.inject(`/jobs/${docId}/files/..%2F..%2Fetc%2Fpasswd`)).statusCode).toBe(400);
    expect((await t.app.inject('/jobs/987654321/files')).statusCode).toBe(404);
  });
});

describe('DELETE /jobs', () => {
  it('needs the admin key', async () => {
    expect((await t.app.inject({ method: 'DELETE', url: '/jobs', payload: { queue: 'emails' } })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'DELETE', url: '/jobs', payload: { queue: 'emails' }, headers: { 'x-api-key': 'wrong-key-000000000' } })).statusCode).toBe(403);
  });

  it('cancels the jobs matching the filter and refuses an empty one', async () => {
    for (let i = 0; i < 2; i++) await t.app.inject({ method: 'POST', url: '/jobs/emails', payload: { ...email, tenantId: 'cancel-me' } });
    const res = await t.app.inject({ method: 'DELETE', url: '/jobs', headers: admin, payload: { tags: ['tenant:cancel-me'], queue: 'emails' } });
    expect(res.json()).toEqual({ cancelled: 2 });
    const left = await t.queue.listJobs({ tags: ['tenant:cancel-me'] });
    expect(left.jobs.every((j) => j.state === 'cancelled')).toBe(true);
    const empty = await t.app.inject({ method: 'DELETE', url: '/jobs', headers: admin, payload: {} });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().message).toContain('at least one');
    const bad = await t.app.inject({ method: 'DELETE', url: '/jobs', headers: admin, payload: { state: 'completed' } });
    expect(bad.json().issues[0].path).toMatch(/^body\.state/);
  });
});

describe('health, metrics, docs', () => {
  it('GET /health: 200 with the database reachable and the queue running', async () => {
    const res = await t.app.inject('/health');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ok', database: { reachable: true }, queue: { running: true, schema } });
  });

  it('GET /health: 503 when the queue is not running on this node', async () => {
    const idle = await another({}, { start: false });
    const res = await idle.app.inject('/health');
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ status: 'unavailable', queue: { running: false } });
  });

  it('GET /metrics: prometheus text with the queue and job metrics', async () => {
    const res = await t.app.inject('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    for (const name of ['queue_limit', 'queue_running', 'queue_state', 'queue_depth', 'queue_jobs', 'job_duration_seconds', 'http_requests_total', 'sse_streams_open']) {
      expect(res.body).toContain(`# TYPE ${name} `);
    }
    expect(res.body).toMatch(/queue_limit\{queue="images"\} 5/);
    expect(res.body).toMatch(/queue_state\{queue="emails"\} 1/);
    expect(res.body).toMatch(/job_duration_seconds_count\{queue="documents",worker="generate-document",outcome="completed"\} [1-9]/);
  });

  it('GET /documentation/json: OpenAPI built from the zod schemas', async () => {
    const res = await t.app.inject('/documentation/json');
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/jobs/images', '/jobs/{id}', '/admin/queues', '/health']));
    expect(doc.paths['/jobs/emails'].post.requestBody.content['application/json'].schema.required).toContain('to');
  });
});

describe('HTTP plumbing', () => {
  it('sends CORS, helmet and request-id headers', async () => {
    const preflight = await t.app.inject({
      method: 'OPTIONS',
      url: '/jobs/emails',
      headers: { origin: 'https://app.example.test', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('*');
    const res = await t.app.inject('/jobs/987654321');
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toBeDefined();
    expect(res.json()).toMatchObject({ statusCode: 404, error: 'Not Found' });
  });

  it('unknown routes answer a 404 in the same error shape', async () => {
    const res = await t.app.inject('/no/such/route?key=secret');
    expect(res.statusCode).toBe(404);
    expect(res.json().message).toBe('Route GET /no/such/route not found');
  });

  it('the dashboard key never reaches the logs', async () => {
    const { redactUrl } = await import('../src/app.js');
    expect(redactUrl('/dashboard?x=1&key=s3cret&y=2')).toBe('/dashboard?x=1&key=[redacted]&y=2');
    expect(redactUrl('/dashboard?key=s3cret')).toBe('/dashboard?key=[redacted]');
  });

  it('closing the app ends open event streams (close is not held up)', async () => {
    const other = await createTestApp(pool, schema, dataDir);
    const job = (await other.app.inject({ method: 'POST', url: '/jobs/exports', payload: exportJob })).json();
    const address = await other.app.listen({ port: 0, host: '127.0.0.1' });
    const received = new Promise<string>((resolve, reject) => {
      http
        .get(`${address}/jobs/${job.id}/events`, (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve(text));
        })
        .on('error', reject);
    });
    await waitFor(async () => (await gauge(other.app, 'sse_streams_open')) === 1, 5000, 'the stream to open');
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(5000);
    const events = parseSse(await received);
    expect(events.at(-1)).toEqual({ event: 'end', data: { reason: 'shutdown' } });
  });
});

describe('limits', () => {
  it('413 for a JSON body over BODY_LIMIT, nothing enqueued', async () => {
    const before = await jobCount(pool, schema);
    const res = await t.app.inject({ method: 'POST', url: '/jobs/documents', payload: { ...doc, paragraphs: ['x'.repeat(9_000), ...Array(8).fill('y'.repeat(9_000))] } });
    expect(res.statusCode).toBe(413);
    expect(await jobCount(pool, schema)).toBe(before);
  });

  it('413 for an upload over UPLOAD_LIMIT, nothing enqueued and no file kept', async () => {
    const before = await jobCount(pool, schema);
    const files = await uploads(t.storage);
    const big = Buffer.concat([await png(), Buffer.alloc(t.config.uploadLimit + 1024, 1)]);
    const form = multipart([{ name: 'imageId', value: 'big' }, { name: 'tenantId', value: 't1' }, { name: 'file', value: big, filename: 'big.png' }]);
    const res = await t.app.inject({ method: 'POST', url: '/jobs/images', ...form });
    expect(res.statusCode, res.body).toBe(413);
    expect(res.json().message).toContain('body.file');
    expect(await jobCount(pool, schema)).toBe(before);
    expect(await uploads(t.storage)).toEqual(files);
  });

  it('429 after RATE_LIMIT_MAX requests in the window (health is exempt)', async () => {
    const limited = await another({ RATE_LIMIT_MAX: '3' });
    for (let i = 0; i < 3; i++) expect((await limited.app.inject('/jobs/1')).statusCode).not.toBe(429);
    const res = await limited.app.inject({ method: 'POST', url: '/jobs/emails', payload: email });
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toBeDefined();
    expect(res.json()).toMatchObject({ statusCode: 429, error: 'Too Many Requests' });
    expect((await limited.app.inject('/health')).statusCode).toBe(200);
  });
});
