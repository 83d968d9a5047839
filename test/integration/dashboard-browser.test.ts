// docket/dashboard in headless Chromium (Debian's `chromium`; CHROMIUM_PATH to use another): the
// page renders the queues with their counts, the throughput chart, the jobs (and their filters),
// the schedules and the nodes with the leader; a job's detail shows args carrying markup as text;
// a workflow shows its steps; retry and pause done through the UI really change the rows; and
// nothing is blocked by the CSP or logged as an error. Screenshots go to test-results/.
// Skipped only off CI where there is no Chromium: under CI=true a missing browser fails.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Job, Queue } from '../../src/index.js';
import { createDashboard } from '../../src/dashboard/index.js';
import { broken, echo, idle, serve, withFinishedJobs } from '../support/dashboard.js';
import { useSchema, waitFor } from '../support/queue.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const browserCheck = existsSync(CHROMIUM) || process.env.CI === 'true';
const SCREENSHOTS = path.resolve(import.meta.dirname, '../../test-results');

const db = useSchema('dashboard_ui');
const authorization = 'Bearer ui-token';
const workers = [echo, broken, idle];
const XSS_ARGS = { html: '<img src=x onerror="window.__xss=1">', script: '</script><script>window.__xss=2</script>' };

let admin: Queue;
let runner: Queue;
let base: string;
let close: () => Promise<void>;
let xss: Job;
let workflowId: string;

const state = async (id: string): Promise<string> =>
  (await db.pool.query<{ state: string }>(`SELECT state::text FROM "${db.schema}".jobs WHERE id = $1`, [id])).rows[0]!.state;
const paused = async (name: string): Promise<boolean> => (await admin.queueStats()).find((q) => q.name === name)?.paused ?? false;

beforeAll(async () => {
  ({ admin, runner } = await withFinishedJobs((options) => db.queue(options), workers));
  await admin.insertMany(idle, [{ i: 1 }, { i: 2 }, { i: 3 }]);
  xss = await admin.insert(idle, XSS_ARGS);
  await admin.cancel(xss.id, 'cancelled <b>by</b> the test');
  await admin.schedules.set({ name: 'nightly', expression: '0 3 * * *', worker: idle, args: { nightly: true } });
  workflowId = (await admin.workflow('ui-flow').add('fetch', idle, {}).add('thumb', idle, {}, { deps: ['fetch'] }).insert()).id;
  const dashboard = createDashboard({ queue: admin, basePath: '/dashboard', auth: (req) => req.headers.authorization === authorization });
  const server = await serve((req, res) => dashboard(req, res));
  close = server.close;
  base = `${server.origin}/dashboard/`;
});

afterAll(async () => {
  await close?.();
});

it.skipIf(!browserCheck)('renders queues, throughput, jobs, schedules and nodes, and acts through the UI, under its CSP', async () => {
  const puppeteer = (await import('puppeteer-core')).default;
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1360, height: 1000 });
    await page.setExtraHTTPHeaders({ authorization });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`pageerror: ${String(error)}`));
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warn') problems.push(`console ${message.type()}: ${message.text()}`);
    });
    page.on('requestfailed', (request) => problems.push(`requestfailed: ${request.url()}`));
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
    });
    // Injected by the browser itself (not subject to the page's CSP): every violation is kept.
    await page.evaluateOnNewDocument(`
      window.__violations = [];
      document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
    `);
    const texts = (selector: string) => page.$$eval(selector, (nodes) => nodes.map((n) => n.textContent ?? ''));
    await page.goto(base, { waitUntil: 'load' });
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 });

    // Queues: name, state, limit, then a column per state in JOB_STATES order.
    expect(await page.$$eval('#queues tr', (rows) => rows.map((r) => r.getAttribute('data-queue')))).toEqual(['default', 'idle', 'mail']);
    const defaults = await texts('#queues tr[data-queue="default"] td');
    expect(defaults.slice(0, 3)).toEqual(['default', 'running', 'per node']);
    expect(defaults[3 + 5]).toBe('3'); // completed
    expect((await texts('#queues tr[data-queue="mail"] td'))[3 + 6]).toBe('1'); // discarded
    // Throughput: bars for the minute the jobs finished in, and the totals.
    expect((await page.$$('#chart svg rect.c')).length).toBeGreaterThanOrEqual(1);
    expect(await page.$eval('#throughput-total', (n) => n.textContent)).toBe('5 finished in the last 60 min: 3 completed, 1 discarded, 1 cancelled');
    // Jobs, schedules, nodes and the leader.
    expect((await texts('#jobs tr td:nth-child(2)')).sort()).toEqual(['broken', 'echo', 'echo', 'echo', 'idle-work', 'idle-work', 'idle-work', 'idle-work', 'idle-work', 'idle-work']);
    expect(await texts('#schedules tr td:first-child')).toEqual(['nightly']);
    expect(await texts('#nodes tr td:first-child')).toEqual([runner.nodeId]);
    expect(await page.$eval('#leader', (n) => n.textContent)).toBe(`leader: ${runner.nodeId}`);
    expect(await texts('#nodes .badge')).toEqual(['leader']);
    // Filters: queue, then state.
    await page.select('#f-queue', 'idle');
    await page.waitForFunction(`[...document.querySelectorAll('#jobs tr td:nth-child(3)')].every((c) => c.textContent === 'idle')`, { timeout: 10_000 });
    await page.select('#f-state', 'cancelled');
    await page.waitForFunction(`[...document.querySelectorAll('#jobs tr')].map((r) => r.getAttribute('data-id')).join() === '${xss.id}'`, { timeout: 10_000 });
    await page.select('#f-state', '');
    await page.select('#f-queue', '');
    await page.waitForFunction(`document.querySelectorAll('#jobs tr').length === 10`, { timeout: 10_000 });
    await mkdir(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard.png'), fullPage: true });

    // A job whose args carry markup: shown as text, nothing injected; then retried from the UI.
    await page.evaluate(`location.hash = '#/jobs/${xss.id}'`);
    await page.waitForSelector('#detail:not([hidden]) #job-args', { timeout: 10_000 });
    expect(await page.$eval('#job-args', (n) => n.textContent)).toBe(JSON.stringify(XSS_ARGS, null, 2));
    expect(await texts('#detail p.err')).toEqual([expect.stringContaining('cancelled <b>by</b> the test')]);
    expect(await page.$$eval('img, #detail script, #detail b', (nodes) => nodes.length)).toBe(0);
    expect(await page.evaluate('typeof window.__xss')).toBe('undefined');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-job.png'), fullPage: true });
    await page.click('#detail button[data-action="retry"]');
    await waitFor(async () => (await state(xss.id)) === 'available', 'the job retried from the UI to be available', 10_000);
    await page.waitForFunction(`document.querySelector('#detail h2 .badge')?.textContent === 'available'`, { timeout: 10_000 });
    expect(await page.$eval('#notice', (n) => n.textContent)).toBe(`Retry job ${xss.id}: job ${xss.id} is available`);

    // A workflow and its steps.
    await page.evaluate(`location.hash = '#/workflows/${workflowId}'`);
    await page.waitForSelector('#workflow-steps tr', { timeout: 10_000 });
    expect(await page.$$eval('#workflow-steps tr', (rows) => rows.map((r) => [...r.children].slice(0, 2).map((c) => c.textContent)))).toEqual([
      ['fetch', 'available'],
      ['thumb', 'held'],
    ]);

    // Pause and resume a queue from its row.
    await page.click('#queues tr[data-queue="idle"] button[data-action="pause"]');
    await waitFor(() => paused('idle'), 'the idle queue to be paused from the UI', 10_000);
    await page.waitForSelector('#queues tr[data-queue="idle"] button[data-action="resume"]', { timeout: 10_000 });
    await page.click('#queues tr[data-queue="idle"] button[data-action="resume"]');
    await waitFor(async () => !(await paused('idle')), 'the idle queue to be resumed from the UI', 10_000);

    expect(problems).toEqual([]);
    expect(await page.evaluate('window.__violations')).toEqual([]);
  } finally {
    await browser.close();
  }
});
