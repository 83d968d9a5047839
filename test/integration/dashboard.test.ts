// docket/dashboard over node:http on 127.0.0.1, backed by a Queue that never started (as an
// operator's process would hold one) on this file's schema, next to a started node that runs
// jobs: auth is required (ConfigError without it, 401 for every path), the page's CSP is strict
// with a fresh nonce, actions need the page's CSRF token AND a same-origin request (and really
// change the rows), GET never mutates, the JSON API filters and pages by keyset, bad input gets a
// 400 naming it, job data is never markup, and throughput counts the finished jobs.
// The headless-Chromium and Fastify checks are in dashboard-browser.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, Worker } from '../../src/index.js';
import type { Job, Queue } from '../../src/index.js';
import { createDashboard } from '../../src/dashboard/index.js';
import { broken, call, csrfTokenOf, echo, idle, serve, withFinishedJobs } from '../support/dashboard.js';
import { useSchema } from '../support/queue.js';

const db = useSchema('dashboard');
const TOKEN = 'dashboard-test-token';
const authorization = `Bearer ${TOKEN}`;
const idleOther = new Worker({ name: 'idle-other', queue: 'idle', args: z.object({}), perform: async () => undefined });
const workers = [echo, broken, idle, idleOther];

let admin: Queue;
let runner: Queue;
let base: string;
let origin: string;
let close: () => Promise<void>;
let idleJobs: Job[];
let xss: Job;
const XSS_ARGS = { html: '<img src=x onerror="window.__xss=1">', script: '</script><script>window.__xss=2</script>' };

const state = async (id: string): Promise<string> =>
  (await db.pool.query<{ state: string }>(`SELECT state::text FROM "${db.schema}".jobs WHERE id = $1`, [id])).rows[0]!.state;
const get = (path: string, headers: Record<string, string> = { authorization }) => call(`${base}${path}`, { headers });
async function token(): Promise<string> {
  return csrfTokenOf((await get('/')).text);
}
async function post(path: string, body: unknown = {}, headers: Record<string, string> = {}) {
  const csrf = await token();
  return call(`${base}${path}`, {
    method: 'POST',
    body,
    headers: { authorization, 'content-type': 'application/json', origin, 'sec-fetch-site': 'same-origin', 'x-docket-csrf': csrf, ...headers },
  });
}

beforeAll(async () => {
  ({ admin, runner } = await withFinishedJobs((options) => db.queue(options), workers));
  idleJobs = await admin.insertMany(idle, [{ i: 1 }, { i: 2 }, { i: 3 }, { i: 4 }, { i: 5 }]);
  await admin.insertMany(idleOther, [{}, {}]);
  xss = await admin.insert(idle, XSS_ARGS);
  await admin.schedules.set({ name: 'nightly', expression: '0 3 * * *', worker: idle, args: { nightly: true } });
  const dashboard = createDashboard({ queue: admin, basePath: '/dashboard', auth: (req) => req.headers.authorization === authorization });
  const server = await serve((req, res) => dashboard(req, res, () => ((res.statusCode = 418), res.end('not ours'))));
  ({ origin, close } = server);
  base = `${origin}/dashboard`;
});

afterAll(async () => {
  await close?.();
});

describe('auth', () => {
  it('is required: createDashboard throws a ConfigError without it, unless insecure: true', () => {
    expect(() => createDashboard({ queue: admin })).toThrow(ConfigError);
    expect(() => createDashboard({ queue: admin })).toThrow(/auth hook is required.*insecure: true/);
    expect(() => createDashboard({ queue: admin, insecure: false })).toThrow(ConfigError);
    expect(() => createDashboard({ queue: admin, auth: 'yes' as never })).toThrow(/auth must be a function/);
    expect(() => createDashboard({ queue: {} as never, auth: () => true })).toThrow(/queue must be a docket Queue/);
    expect(() => createDashboard({ queue: admin, auth: () => true, basePath: 'dash board' })).toThrow(/basePath/);
    expect(() => createDashboard({ queue: admin, auth: () => true, challenge: 'Basic\r\nX-Evil: 1' })).toThrow(/challenge/);
    expect(typeof createDashboard({ queue: admin, insecure: true })).toBe('function');
  });

  it('answers 401 to everything without it: the page, reads, actions, unknown paths', async () => {
    for (const [method, path] of [['GET', '/'], ['GET', '/api/queues'], ['GET', '/api/jobs/1'], ['GET', '/api/nope'], ['POST', '/api/jobs/1/retry'], ['POST', '/api/queues/idle/pause']]) {
      for (const headers of [{}, { authorization: 'Bearer wrong' }] as Record<string, string>[]) {
        const res = await call(`${base}${path}`, { method, headers });
        expect(res.status, `${method} ${path}`).toBe(401);
        expect(res.json()).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
      }
    }
    expect(await admin.queueStats().then((qs) => qs.find((q) => q.name === 'idle')?.paused)).toBe(false);
  });

  it('takes async hooks, sends the challenge with 401, and leaves what is outside basePath to next()', async () => {
    const dashboard = createDashboard({ queue: admin, basePath: '/ops/', challenge: 'Basic realm="docket"', auth: async (req) => req.headers['x-key'] === 'k' });
    const other = await serve((req, res) => dashboard(req, res, () => ((res.statusCode = 418), res.end('next'))));
    try {
      const denied = await call(`${other.origin}/ops/api/queues`);
      expect(denied.status).toBe(401);
      expect(denied.headers['www-authenticate']).toBe('Basic realm="docket"');
      expect((await call(`${other.origin}/ops/api/queues`, { headers: { 'x-key': 'k' } })).status).toBe(200);
      expect((await call(`${other.origin}/ops`, { headers: { 'x-key': 'k' } })).status).toBe(200);
      const outside = await call(`${other.origin}/opsx/api/queues`, { headers: { 'x-key': 'k' } });
      expect([outside.status, outside.text]).toEqual([418, 'next']);
    } finally {
      await other.close();
    }
  });
});

describe('the page', () => {
  it('is self-contained under a strict CSP with a fresh nonce, and its security headers', async () => {
    const [a, b] = [await get('/'), await get('/')];
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toBe('text/html; charset=utf-8');
    const csp = String(a.headers['content-security-policy']);
    const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name!, values]));
    const nonce = /^'nonce-([A-Za-z0-9+/=]{20,})'$/.exec(directives.get('script-src')?.[0] ?? '')?.[1];
    expect(nonce).toBeDefined();
    expect(directives.get('default-src')).toEqual(["'none'"]);
    expect(directives.get('script-src')).toEqual([`'nonce-${nonce}'`]);
    expect(directives.get('style-src')).toEqual([`'nonce-${nonce}'`]);
    expect(directives.get('connect-src')).toEqual(["'self'"]);
    expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*|https?:/);
    expect(String(b.headers['content-security-policy'])).not.toContain(nonce);
    expect(a.text).toContain(`<script nonce="${nonce}">`);
    expect(a.text).toContain(`<style nonce="${nonce}">`);
    expect(a.text.match(/<script/g)).toHaveLength(1);
    // Nothing from elsewhere: no script src, no stylesheet or icon but inline data, no URL.
    expect(a.text).not.toMatch(/<script[^>]+src=|<link[^>]+href="(?!data:)|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(a.text).not.toMatch(/\son[a-z]+=/i); // no inline event handlers (the CSP would block them)
    expect(csrfTokenOf(a.text)).not.toBe(csrfTokenOf(b.text));
    for (const res of [a, await get('/api/queues')]) {
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['x-frame-options']).toBe('DENY');
    }
  });
});

describe('actions are CSRF-safe', () => {
  it('refuse a POST without the token, with a forged token or from another origin: 403, nothing changes', async () => {
    const target = idleJobs[0]!;
    await admin.cancel(target.id);
    const csrf = await token();
    const same = { authorization, 'content-type': 'application/json', origin, 'sec-fetch-site': 'same-origin' };
    const attempts: Record<string, string>[] = [
      same, // no token
      { ...same, 'x-docket-csrf': csrf.slice(0, -2) + (csrf.endsWith('AA') ? 'BB' : 'AA') }, // forged signature
      { ...same, 'x-docket-csrf': 'not-a-token' },
      { ...same, 'x-docket-csrf': csrf, origin: 'http://evil.example' },
      { ...same, 'x-docket-csrf': csrf, origin: 'null' },
      { ...same, 'x-docket-csrf': csrf, 'sec-fetch-site': 'cross-site' },
      { ...same, 'x-docket-csrf': csrf, 'sec-fetch-site': 'same-site' },
      { authorization, 'content-type': 'application/json', 'x-docket-csrf': csrf }, // neither Origin nor Sec-Fetch-Site
    ];
    for (const headers of attempts) {
      const res = await call(`${base}/api/jobs/${target.id}/retry`, { method: 'POST', headers, body: {} });
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(res.json().message).toMatch(/x-docket-csrf|dashboard page/);
    }
    // GET never mutates: the action's path answers 405.
    expect((await get(`/api/jobs/${target.id}/retry`)).status).toBe(405);
    expect(await state(target.id)).toBe('cancelled');
    const ok = await post(`/api/jobs/${target.id}/retry`);
    expect(ok.status, ok.text).toBe(200);
    expect(ok.json()).toMatchObject({ job: { id: target.id, state: 'available' } });
    expect(await state(target.id)).toBe('available');
  });

  it('cancel, discard, pause, resume and scale change the rows', async () => {
    const [a, b] = [idleJobs[1]!, idleJobs[2]!];
    expect((await post(`/api/jobs/${a.id}/cancel`, { reason: 'from the test' })).json()).toMatchObject({ job: { state: 'cancelled' } });
    expect(await state(a.id)).toBe('cancelled');
    expect((await admin.getJob(a.id))?.errors.at(-1)?.message).toContain('from the test');
    expect((await post(`/api/jobs/${b.id}/discard`)).json()).toMatchObject({ job: { state: 'discarded' } });
    expect(await state(b.id)).toBe('discarded');
    const stats = async () => (await admin.queueStats()).find((q) => q.name === 'idle')!;
    expect((await post('/api/queues/idle/pause')).json()).toMatchObject({ queue: { name: 'idle', paused: true } });
    expect((await stats()).paused).toBe(true);
    expect((await post('/api/queues/idle/resume')).json()).toMatchObject({ queue: { paused: false } });
    expect((await post('/api/queues/idle/scale', { limit: 3 })).json()).toMatchObject({ queue: { concurrency: 3 } });
    expect((await stats()).concurrency).toBe(3);
    await post('/api/queues/idle/scale', { limit: null });
    expect((await stats()).concurrency).toBeNull();
  });

  it('refuse bad input with a 400 naming it, unknown targets with a 404, and big or non-JSON bodies', async () => {
    const cases: [string, unknown, number, RegExp][] = [
      ['/api/jobs/abc/retry', {}, 400, /job id must be a positive integer id, got "abc"/],
      ['/api/jobs/0/cancel', {}, 400, /job id/],
      ['/api/jobs/99999999999/retry', {}, 404, /No job 99999999999/],
      ['/api/jobs/1/explode', {}, 404, /No API route/],
      ['/api/queues/idle/scale', { limit: -1 }, 400, /limit must be an integer 0–10000 or null, got -1/],
      ['/api/queues/idle/scale', {}, 400, /limit is required/],
      ['/api/queues/idle/scale', [1], 400, /body must be a JSON object/],
      ['/api/queues/no-such-queue/pause', {}, 404, /No queue "no-such-queue"/],
      [`/api/queues/${encodeURIComponent('bad queue!')}/pause`, {}, 400, /queue must be 1–128 characters/],
      [`/api/jobs/${idleJobs[3]!.id}/cancel`, { reason: 42 }, 400, /reason must be a string/],
      [`/api/jobs/${idleJobs[3]!.id}/cancel`, { reason: 'x'.repeat(20_000) }, 413, /larger than 16384 bytes/],
    ];
    for (const [path, body, status, message] of cases) {
      const res = await post(path, body);
      expect(res.status, `${path}: ${res.text}`).toBe(status);
      expect(res.json().message).toMatch(message);
    }
    expect((await post(`/api/queues/idle/scale`, 'limit=3', { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(415);
    expect((await post(`/api/queues/idle/scale`, '{"limit":', {})).json().message).toBe('The body is not valid JSON');
    expect(await state(idleJobs[3]!.id)).toBe('available');
  });
});

describe('the JSON API', () => {
  it('lists jobs newest first, filtered by queue, state and worker, one keyset page at a time', async () => {
    const all = (await admin.listJobs({ queue: 'idle', limit: 100 })).jobs.map((j) => j.id);
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const res = await get(`/api/jobs?queue=idle&limit=3${after ? `&after=${after}` : ''}`);
      const page = res.json<{ jobs: { id: string; queue: string; args?: unknown }[]; next: string | null }>();
      expect(page.jobs.length).toBeLessThanOrEqual(3);
      expect(page.jobs.every((j) => j.queue === 'idle' && j.args === undefined)).toBe(true);
      seen.push(...page.jobs.map((j) => j.id));
      after = page.next;
    } while (after !== null);
    expect(seen).toEqual(all);
    expect(seen).toHaveLength(8);
    const others = (await get('/api/jobs?queue=idle&worker=idle-other')).json<{ jobs: { worker: string }[] }>().jobs;
    expect(others.map((j) => j.worker)).toEqual(['idle-other', 'idle-other']);
    const discarded = (await get('/api/jobs?state=discarded&queue=mail')).json<{ jobs: { worker: string; lastError: string }[] }>().jobs;
    expect(discarded).toEqual([expect.objectContaining({ worker: 'broken', lastError: 'Error: SMTP said no' })]);
    const oldest = (await get('/api/jobs?queue=idle&order=asc&limit=1')).json<{ jobs: { id: string }[] }>().jobs;
    expect(oldest.map((j) => j.id)).toEqual([all.at(-1)]);
    for (const [query, message] of [
      ['state=stuck', /state must be one of held, available/],
      ['limit=0', /limit must be an integer between 1 and 200/],
      ['limit=ten', /limit must be an integer/],
      ['after=abc', /after must be a positive integer id/],
      ['queue=a&queue=b', /queue may be given once/],
      ['order=sideways', /order must be asc or desc/],
    ] as const) {
      const res = await get(`/api/jobs?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.json().message).toMatch(message);
    }
  });

  it('shows one job in full, one workflow, the schedules, the nodes and the leader', async () => {
    const { job } = (await get(`/api/jobs/${xss.id}`)).json<{ job: Job }>();
    expect(job).toMatchObject({ id: xss.id, worker: 'idle-work', args: XSS_ARGS, errors: [], lastProgress: null });
    expect((await get('/api/jobs/987654321')).status).toBe(404);
    const run = await admin.workflow('dash-flow').add('first', idle, { step: 1 }).add('second', idle, { step: 2 }, { deps: ['first'] }).insert();
    const { workflow } = (await get(`/api/workflows/${run.id}`)).json<{ workflow: { name: string; steps: { name: string; deps: string[]; job: { state: string } }[] } }>();
    expect(workflow.name).toBe('dash-flow');
    expect(workflow.steps.map((s) => [s.name, s.deps, s.job.state])).toEqual([['first', [], 'available'], ['second', ['first'], 'held']]);
    expect((await get('/api/workflows/987654321')).status).toBe(404);
    const { schedules } = (await get('/api/schedules')).json<{ schedules: { name: string; expression: string }[] }>();
    expect(schedules).toEqual([expect.objectContaining({ name: 'nightly', expression: '0 3 * * *' })]);
    const { nodes } = (await get('/api/nodes')).json<{ nodes: { id: string; leader: boolean; queues: object }[] }>();
    expect(nodes).toEqual([expect.objectContaining({ id: runner.nodeId, leader: true, queues: { default: 2, mail: 1 } })]);
    const { queues } = (await get('/api/queues')).json<{ queues: { name: string; counts: Record<string, number> }[] }>();
    expect(queues.find((q) => q.name === 'default')?.counts.completed).toBe(3);
    expect(queues.find((q) => q.name === 'mail')?.counts.discarded).toBe(1);
  });

  it('counts finished jobs per minute over the last hour, for all queues or one', async () => {
    const sum = (minutes: { completed: number; discarded: number; cancelled: number }[], key: 'completed' | 'discarded' | 'cancelled') =>
      minutes.reduce((n, m) => n + m[key], 0);
    const all = (await get('/api/throughput')).json<{ minutes: { at: string; completed: number; discarded: number; cancelled: number }[] }>().minutes;
    expect(all).toHaveLength(60);
    expect(Date.parse(all.at(-1)!.at) - Date.parse(all[0]!.at)).toBe(59 * 60_000);
    const byDb = async (where: string) =>
      Number((await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${db.schema}".jobs_finished WHERE ${where}`)).rows[0]!.n);
    expect(sum(all, 'completed')).toBe(await byDb(`state = 'completed'`));
    expect(sum(all, 'completed')).toBeGreaterThanOrEqual(3);
    expect(sum(all, 'discarded')).toBe(await byDb(`state = 'discarded'`));
    expect(sum(all, 'cancelled')).toBe(await byDb(`state = 'cancelled'`));
    const mail = (await get('/api/throughput?queue=mail&minutes=5')).json<{ minutes: { completed: number; discarded: number }[] }>().minutes;
    expect(mail).toHaveLength(5);
    expect([sum(mail as never, 'completed'), sum(mail as never, 'discarded')]).toEqual([0, 1]);
    expect((await get('/api/throughput?minutes=2000')).status).toBe(400);
  });

  it('never serves job data as markup', async () => {
    const res = await get(`/api/jobs/${xss.id}`);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.text).not.toMatch(/[<>]/); // escaped as \u003c and \u003e: still the same JSON
    expect(res.json<{ job: Job }>().job.args).toEqual(XSS_ARGS);
    const list = await get('/api/jobs?queue=idle&worker=idle-work');
    expect(list.text).not.toMatch(/[<>]/);
    const page = (await get('/')).text;
    expect(page).not.toContain('onerror');
    expect(page).not.toContain('__xss');
  });
});
