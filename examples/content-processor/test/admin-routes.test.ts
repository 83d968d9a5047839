// Admin route tests (fastify.inject, real docket Queue, real database, a schema of this file's
// own): the key (401/403, x-api-key or Bearer), admin routes absent without a key and open under
// INSECURE_DEV, queues (status, pause, resume, scale), recent jobs, retry/cancel, prune, rescue,
// cron schedules, and docket's dashboard mounted at /dashboard (the admin key as its auth hook,
// also as HTTP Basic for browsers; its CSP; CSRF-checked actions through Fastify; a real render
// in headless Chromium when /usr/bin/chromium or CHROMIUM_PATH is there).
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drain } from 'docket/testing';
import { createPgPool, databaseUrl, dropSchema, uniqueSchemaName } from './support/db.js';
import type { TestApp } from './support/app.js';
import { ADMIN_KEY, createTestApp, jobCount, tempDir } from './support/app.js';

let pool: pg.Pool;
let schema: string;
let dataDir: string;
let t: TestApp;
const extra: TestApp[] = [];
const admin = { 'x-api-key': ADMIN_KEY };
const email = { to: 'ada@example.org', subject: 'Hello', text: 'Hi Ada', tenantId: 't1' };
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// Skipped only off CI: .ci/run installs Chromium, so under CI=true a missing browser fails the check.
const browserCheck = existsSync(CHROMIUM) || process.env.CI === 'true';

beforeAll(async () => {
  pool = createPgPool(databaseUrl(), 'cp-admin-test');
  schema = uniqueSchemaName('cp_admin');
  dataDir = await tempDir('cp-admin');
  t = await createTestApp(pool, schema, dataDir);
});

afterAll(async () => {
  for (const x of [t, ...extra]) await x?.close();
  await dropSchema(databaseUrl(), schema);
  await pool.end();
  await fs.rm(dataDir, { recursive: true, force: true });
});

async function another(env: Record<string, string>): Promise<TestApp> {
  const x = await createTestApp(pool, schema, dataDir, { env });
  extra.push(x);
  return x;
}

async function enqueueEmail(tenantId = 't1'): Promise<string> {
  const res = await t.app.inject({ method: 'POST', url: '/jobs/emails', payload: { ...email, tenantId } });
  expect(res.statusCode).toBe(201);
  return res.json().id as string;
}

describe('the admin key', () => {
  it.each(['/admin/queues', '/admin/queues/emails', '/admin/jobs/recent', '/admin/schedules'])('GET %s: 401 without, 403 wrong, 200 right', async (url) => {
    const none = await t.app.inject(url);
    expect(none.statusCode).toBe(401);
    expect(none.json().message).toContain('x-api-key');
    expect((await t.app.inject({ url, headers: { 'x-api-key': 'wrong-key-00000000000' } })).statusCode).toBe(403);
    expect((await t.app.inject({ url, headers: { authorization: 'Bearer wrong-key-0000000' } })).statusCode).toBe(403);
    expect((await t.app.inject({ url, headers: admin })).statusCode).toBe(200);
    expect((await t.app.inject({ url, headers: { authorization: `Bearer ${ADMIN_KEY}` } })).statusCode).toBe(200);
  });

  it('POST routes check the key before reading the body', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/admin/queues/emails/scale', payload: { limit: 'not even valid' } });
    expect(res.statusCode).toBe(401);
  });

  it.each(['/dashboard', '/dashboard/api/queues', '/dashboard/api/nodes'])('GET %s: the key in x-api-key, Bearer or Basic; 401 otherwise, with a Basic challenge', async (url) => {
    const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
    for (const headers of [{}, { 'x-api-key': 'wrong-key-00000000000' }, { authorization: 'Bearer wrong-key-0000000' }, basic('admin', 'wrong-key'), basic('admin', '')]) {
      const res = await t.app.inject({ url, headers });
      expect(res.statusCode, JSON.stringify(headers)).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Basic realm="content-processor admin", charset="UTF-8"');
    }
    for (const headers of [admin, { authorization: `Bearer ${ADMIN_KEY}` }, basic('anyone', ADMIN_KEY)]) {
      expect((await t.app.inject({ url, headers })).statusCode, JSON.stringify(headers)).toBe(200);
    }
  });

  it('takes the key from no query string', async () => {
    expect((await t.app.inject(`/dashboard?key=${ADMIN_KEY}`)).statusCode).toBe(401);
    expect((await t.app.inject(`/admin/queues?key=${ADMIN_KEY}`)).statusCode).toBe(401);
  });

  it('without a key configured the admin routes do not exist', async () => {
    const closed = await another({ ADMIN_API_KEY: '', INSECURE_DEV: 'false' });
    for (const [method, url] of [['GET', '/admin/queues'], ['POST', '/admin/queues/emails/pause'], ['GET', '/admin/schedules'], ['GET', '/dashboard'], ['DELETE', '/jobs']] as const) {
      expect((await closed.app.inject({ method, url, payload: method === 'GET' ? undefined : {} })).statusCode, `${method} ${url}`).toBe(404);
    }
    expect((await closed.app.inject('/health')).statusCode).toBe(200);
  });

  it('INSECURE_DEV without a key opens them', async () => {
    const open = await another({ ADMIN_API_KEY: '', INSECURE_DEV: 'true' });
    expect((await open.app.inject('/admin/queues')).statusCode).toBe(200);
    expect((await open.app.inject('/dashboard')).statusCode).toBe(200);
  });

  it('ADMIN_API_KEY_HASH works like ADMIN_API_KEY', async () => {
    const { hashApiKey } = await import('../src/auth.js');
    const hashed = await another({ ADMIN_API_KEY: '', ADMIN_API_KEY_HASH: hashApiKey('another-key-0123456789') });
    expect((await hashed.app.inject({ url: '/admin/queues', headers: { 'x-api-key': 'another-key-0123456789' } })).statusCode).toBe(200);
    expect((await hashed.app.inject({ url: '/admin/queues', headers: admin })).statusCode).toBe(403);
  });
});

describe('queues', () => {
  it('lists every queue with its state, limits and counts', async () => {
    await enqueueEmail();
    const res = await t.app.inject({ url: '/admin/queues', headers: admin });
    const queues = res.json().queues as { name: string; state: string; limit: number; counts: Record<string, number> }[];
    expect(queues.map((q) => q.name)).toEqual(expect.arrayContaining(['images', 'documents', 'emails', 'webhooks', 'exports', 'default']));
    const emails = queues.find((q) => q.name === 'emails')!;
    expect(emails).toMatchObject({ state: 'running', limit: 10, configuredLimit: 10 });
    expect(emails.counts.available).toBeGreaterThan(0);
  });

  it('pauses, resumes and scales a queue; 404 for an unknown one; 400 for a bad limit', async () => {
    const post = (url: string, payload?: object) => t.app.inject({ method: 'POST', url, headers: admin, ...(payload ? { payload } : {}) });
    expect((await post('/admin/queues/emails/pause')).json()).toMatchObject({ name: 'emails', paused: true, state: 'paused' });
    expect((await t.queue.queueStats()).find((q) => q.name === 'emails')?.paused).toBe(true);
    expect((await post('/admin/queues/emails/resume')).json()).toMatchObject({ paused: false, state: 'running' });
    expect((await post('/admin/queues/images/scale', { limit: 2 })).json()).toMatchObject({ concurrency: 2, limit: 2 });
    expect((await post('/admin/queues/images/scale', { limit: null })).json()).toMatchObject({ concurrency: null, limit: 5 });
    const bad = await post('/admin/queues/images/scale', { limit: -1 });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().issues[0].path).toBe('body.limit');
    expect((await post('/admin/queues/nope/pause')).statusCode).toBe(404);
    expect((await t.app.inject({ url: '/admin/queues/nope', headers: admin })).statusCode).toBe(404);
    expect((await t.app.inject({ url: '/admin/queues/emails', headers: admin })).json()).toMatchObject({ name: 'emails', state: 'running' });
  });
});

describe('jobs', () => {
  it('lists recent jobs, filtered and paged; 400 for a bad filter', async () => {
    const a = await enqueueEmail('recent');
    const b = await enqueueEmail('recent');
    const page = (await t.app.inject({ url: '/admin/jobs/recent?limit=1&queue=emails&state=available', headers: admin })).json();
    expect(page.jobs.map((j: { id: string }) => j.id)).toEqual([b]);
    const next = (await t.app.inject({ url: `/admin/jobs/recent?limit=1&queue=emails&after=${page.next}`, headers: admin })).json();
    expect(next.jobs[0].id).toBe(a);
    const bad = await t.app.inject({ url: '/admin/jobs/recent?state=stuck', headers: admin });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().issues[0].path).toBe('querystring.state');
  });

  it('cancels and retries one job', async () => {
    const id = await enqueueEmail();
    expect((await t.app.inject({ method: 'POST', url: `/admin/jobs/${id}/cancel`, headers: admin })).json()).toMatchObject({ state: 'cancelled' });
    expect((await t.app.inject({ method: 'POST', url: `/admin/jobs/${id}/retry`, headers: admin })).json()).toMatchObject({ state: 'available' });
    expect((await t.app.inject({ method: 'POST', url: '/admin/jobs/987654321/retry', headers: admin })).statusCode).toBe(404);
  });

  it('prunes finished jobs older than the given age, and only those', async () => {
    const done = await enqueueEmail('prune');
    await t.queue.cancel(done);
    const waiting = await enqueueEmail('prune');
    const keep = await t.app.inject({ method: 'POST', url: '/admin/jobs/prune', headers: admin, payload: { olderThanSeconds: 3600 } });
    expect(keep.json()).toMatchObject({ deleted: 0 });
    const res = await t.app.inject({ method: 'POST', url: '/admin/jobs/prune', headers: admin, payload: { olderThanSeconds: 0, states: ['cancelled'] } });
    expect(res.statusCode).toBe(200);
    expect(res.json().deleted).toBeGreaterThanOrEqual(1);
    expect(await t.queue.getJob(done)).toBeNull();
    expect((await t.queue.getJob(waiting))?.state).toBe('available');
    const bad = await t.app.inject({ method: 'POST', url: '/admin/jobs/prune', headers: admin, payload: { states: ['executing'] } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().issues[0].path).toMatch(/^body\.states/);
  });

  it('rescues jobs stuck on a node that stopped heartbeating (or that left none, after rescueAfterSeconds), not those of a live node', async () => {
    const dead = await enqueueEmail('rescue');
    const live = await enqueueEmail('rescue');
    const orphan = await enqueueEmail('rescue');
    const q = `"${schema}"`;
    await pool.query(`INSERT INTO ${q}.nodes (id, host, pid, beat_at) VALUES ('live-node', 'test', 1, now()), ('dead-node', 'test', 2, now() - interval '1 hour')`);
    const claim = `UPDATE ${q}.jobs_live SET state = 'executing', attempt = 1, attempted_by = $2, attempted_at = now() - interval '2 hours' WHERE id = $1`;
    await pool.query(claim, [dead, 'dead-node']);
    await pool.query(claim, [live, 'live-node']);
    await pool.query(claim, [orphan, 'vanished-node']);
    // The orphan's attempt (2 h, no heartbeat row) is younger than a day: only the dead node's job goes back.
    const first = await t.app.inject({ method: 'POST', url: '/admin/jobs/rescue?rescueAfterSeconds=86400', headers: admin });
    expect(first.json().rescued).toEqual([dead]);
    const res = await t.app.inject({ method: 'POST', url: '/admin/jobs/rescue?rescueAfterSeconds=60', headers: admin });
    expect(res.json().rescued).toEqual([orphan]);
    for (const id of [dead, orphan]) expect(['retryable', 'available', 'executing', 'completed']).toContain((await t.queue.getJob(id))?.state);
    const rescued = (await t.queue.getJob(dead))!;
    expect(rescued.errors.at(-1)?.message).toBe('node dead-node stopped heartbeating while running the job');
    expect((await t.queue.getJob(live))?.state).toBe('executing');
    expect((await t.app.inject({ method: 'POST', url: '/admin/jobs/rescue?rescueAfterSeconds=-5', headers: admin })).statusCode).toBe(400);
    await t.queue.cancel(live);
  });
});

describe('schedules', () => {
  const def = { expression: '0 9 * * MON-FRI', worker: 'send-email', args: email, timezone: 'Europe/London' };

  it('creates, reads, replaces, lists and deletes a schedule', async () => {
    const created = await t.app.inject({ method: 'POST', url: '/admin/schedules', headers: admin, payload: { name: 'digest', ...def } });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ name: 'digest', worker: 'send-email', timezone: 'Europe/London', missed: 'skip' });
    expect((await t.app.inject({ method: 'POST', url: '/admin/schedules', headers: admin, payload: { name: 'digest', ...def } })).statusCode).toBe(409);
    const replaced = await t.app.inject({ method: 'PUT', url: '/admin/schedules/digest', headers: admin, payload: { ...def, expression: '*/5 * * * *' } });
    expect(replaced.json()).toMatchObject({ expression: '*/5 * * * *' });
    expect((await t.queue.schedules.get('digest'))?.expression).toBe('*/5 * * * *');
    const list = (await t.app.inject({ url: '/admin/schedules', headers: admin })).json();
    expect(list.schedules.map((s: { name: string }) => s.name)).toContain('digest');
    expect((await t.app.inject({ url: '/admin/schedules/digest', headers: admin })).json()).toMatchObject({ name: 'digest' });
    expect((await t.app.inject({ method: 'DELETE', url: '/admin/schedules/digest', headers: admin })).statusCode).toBe(204);
    expect((await t.app.inject({ url: '/admin/schedules/digest', headers: admin })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'DELETE', url: '/admin/schedules/digest', headers: admin })).statusCode).toBe(404);
  });

  it("tags the jobs it enqueues with the tenant of its args, so they are that tenant's on every route", async () => {
    const res = await t.app.inject({ method: 'PUT', url: '/admin/schedules/tagged', headers: admin, payload: { ...def, opts: { tags: ['digest'] } } });
    expect(res.statusCode, res.body).toBe(200);
    expect((await t.queue.schedules.get('tagged'))?.opts.tags).toEqual(['digest', `tenant:${email.tenantId}`]);
    await t.queue.schedules.remove('tagged');
  });

  it.each([
    [{ ...def, expression: '0 9 * *' }, 'body.expression'],
    [{ ...def, expression: '99 * * * *' }, 'body.expression'],
    [{ ...def, timezone: 'Mars/Olympus' }, 'body.timezone'],
    [{ ...def, worker: 'no-such-worker' }, 'body.worker'],
    [{ ...def, args: { ...email, to: 'nope' } }, 'body.args.to'],
    [{ ...def, opts: { tags: ['tenant:someone-else'] } }, 'body.opts.tags'],
  ])('refuses %j naming %s, storing nothing', async (payload, path) => {
    const res = await t.app.inject({ method: 'PUT', url: '/admin/schedules/bad', headers: admin, payload });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().message).toContain(path);
    expect(await t.queue.schedules.get('bad')).toBeNull();
  });
});

describe('dashboard', () => {
  it("serves docket's page under a nonce CSP, self-contained", async () => {
    const res = await t.app.inject({ url: '/dashboard', headers: admin });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    const csp = String(res.headers['content-security-policy']);
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeDefined();
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.body).toContain(`<script nonce="${nonce}">`);
    // Nothing loaded from elsewhere: no script src, no stylesheet or icon but inline data.
    expect(res.body).not.toMatch(/<script[^>]+src=|<link[^>]+href="(?!data:)/);
    // Not in the app's OpenAPI document: its API is the page's.
    const docs = (await t.app.inject('/documentation/json')).json<{ paths: Record<string, unknown> }>();
    expect(Object.keys(docs.paths).filter((p) => p.startsWith('/dashboard'))).toEqual([]);
  });

  it("takes an action through Fastify only with the page's CSRF token from the same origin", async () => {
    const page = await t.app.inject({ url: '/dashboard', headers: { ...admin, host: 'cp.test' } });
    const token = /<meta name="docket-csrf" content="([^"]+)">/.exec(page.body)?.[1] ?? '';
    const pause = (headers: Record<string, string>) =>
      t.app.inject({ method: 'POST', url: '/dashboard/api/queues/exports/pause', payload: {}, headers: { ...admin, host: 'cp.test', 'content-type': 'application/json', ...headers } });
    expect((await pause({ origin: 'http://cp.test', 'sec-fetch-site': 'same-origin' })).statusCode).toBe(403);
    expect((await pause({ origin: 'http://evil.test', 'x-docket-csrf': token })).statusCode).toBe(403);
    expect((await t.queue.queueStats()).find((q) => q.name === 'exports')?.paused).toBe(false);
    const res = await pause({ origin: 'http://cp.test', 'sec-fetch-site': 'same-origin', 'x-docket-csrf': token });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ queue: { name: 'exports', paused: true } });
    expect((await t.queue.queueStats()).find((q) => q.name === 'exports')?.paused).toBe(true);
    await t.queue.resumeQueue('exports');
  });

  it.skipIf(!browserCheck)('renders queues and jobs in headless Chromium without errors, the key given as Basic auth', async () => {
    await enqueueEmail('dash');
    await drain(t.queue, { queues: ['emails'] });
    const puppeteer = (await import('puppeteer-core')).default;
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(`pageerror: ${String(error)}`));
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console: ${message.text()} (${message.location().url ?? ''})`);
      });
      page.on('requestfailed', (request) => problems.push(`requestfailed: ${request.url()}`));
      // What a person does at the browser's login prompt: any user name, the admin key.
      await page.authenticate({ username: 'admin', password: ADMIN_KEY });
      await page.goto(`${address}/dashboard`, { waitUntil: 'load' });
      await page.waitForSelector('body[data-loaded="true"]', { timeout: 10_000 });
      const queues = await page.$$eval('#queues tr td:first-child', (cells) => cells.map((c) => c.textContent));
      expect(queues).toEqual(expect.arrayContaining(['images', 'documents', 'emails', 'webhooks', 'exports', 'default']));
      const states = await page.$$eval('#jobs tr td:nth-child(4)', (cells) => cells.map((c) => c.textContent));
      expect(states).toContain('completed');
      // Live: a job enqueued now shows up without a reload.
      const id = await enqueueEmail('dash-live');
      await page.waitForFunction(`[...document.querySelectorAll('#jobs tr')].some((r) => r.getAttribute('data-id') === ${JSON.stringify(id)})`, { timeout: 15_000 });
      // Pause from the page (through Fastify, CSRF-checked), then resume.
      await page.click('#queues tr[data-queue="exports"] button[data-action="pause"]');
      await page.waitForSelector('#queues tr[data-queue="exports"] button[data-action="resume"]', { timeout: 10_000 });
      expect((await t.queue.queueStats()).find((q) => q.name === 'exports')?.paused).toBe(true);
      await t.queue.resumeQueue('exports');
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
    expect(await jobCount(pool, schema)).toBeGreaterThan(0);
  });

  it.skipIf(!browserCheck)('the API docs (swagger UI, /documentation) render in headless Chromium without errors', async () => {
    const puppeteer = (await import('puppeteer-core')).default;
    const address = t.app.server.listening ? `http://127.0.0.1:${(t.app.server.address() as { port: number }).port}` : await t.app.listen({ port: 0, host: '127.0.0.1' });
    const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(`pageerror: ${String(error)}`));
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console: ${message.text()}`);
      });
      await page.goto(`${address}/documentation`, { waitUntil: 'load' });
      await page.waitForSelector('.opblock-summary-path', { timeout: 15_000 });
      const paths = await page.$$eval('.opblock-summary-path', (cells) => cells.map((c) => c.textContent?.replace(/\u200b/g, '')));
      expect(paths).toEqual(expect.arrayContaining(['/jobs/images', '/admin/queues', '/health']));
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
