// GET /dashboard: one self-contained HTML page (inline CSS and JS under a nonce CSP, no CDN, no
// external asset) that shows every queue (GET /admin/queues), the recent workflows with the
// state of each step (GET /admin/workflows/recent) and the recent jobs (GET /admin/jobs/recent),
// refreshed every 2 s, with pause/resume buttons. Admin-protected like
// the rest: open it as /dashboard?key=<admin key> (a browser cannot send a header when it
// navigates); the page then calls the JSON routes with that key in x-api-key. Everything shown is
// set with textContent, never innerHTML, so job data cannot inject markup.
import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AdminAccess } from '../auth.js';
import { requireApiKey } from '../auth.js';
import type { RouteOptions } from './common.js';
import { errors } from './common.js';

const STYLE = `
:root { color-scheme: light dark; --ok: #2e7d32; --warn: #ef6c00; --bad: #c62828; --mute: #777; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; }
h1 { font-size: 1.3rem; margin: 0 0 .25rem; } h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
#status { color: var(--mute); font-size: .9rem; } #status.error { color: var(--bad); }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #8883; }
th { font-weight: 600; font-size: .85rem; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.badge { padding: .05rem .45rem; border-radius: .6rem; font-size: .8rem; color: #fff; background: var(--mute); }
.running, .completed { background: var(--ok); } .paused, .retryable, .scheduled { background: var(--warn); }
.discarded, .cancelled, .stopped, .failed { background: var(--bad); } .executing, .available { background: #1565c0; }
.held { background: #6a1b9a; } .steps .badge { margin-right: .3rem; white-space: nowrap; }
button { font: inherit; padding: .1rem .6rem; cursor: pointer; }
select { font: inherit; }
`;

const SCRIPT = `
'use strict';
const params = new URLSearchParams(location.search);
const key = params.get('key') || '';
const headers = key ? { 'x-api-key': key } : {};
const $ = (id) => document.getElementById(id);
const STATES = ['held', 'available', 'scheduled', 'executing', 'retryable', 'completed', 'discarded', 'cancelled'];

function cell(text, cls) {
  const td = document.createElement('td');
  td.textContent = text === null || text === undefined ? '' : String(text);
  if (cls) td.className = cls;
  return td;
}
function badge(text) {
  const td = document.createElement('td');
  const span = document.createElement('span');
  span.className = 'badge ' + text;
  span.textContent = text;
  td.appendChild(span);
  return td;
}
function ago(iso) {
  if (!iso) return '';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? s + ' s ago' : s < 3600 ? Math.round(s / 60) + ' min ago' : Math.round(s / 3600) + ' h ago';
}
async function getJson(url, init) {
  const res = await fetch(url, Object.assign({ headers }, init || {}));
  if (!res.ok) {
    let message = res.status + ' ' + res.statusText;
    try { message = (await res.json()).message || message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return res.json();
}
async function act(name, action) {
  try {
    await getJson('/admin/queues/' + encodeURIComponent(name) + '/' + action, { method: 'POST' });
    await refresh();
  } catch (e) { showError(e); }
}
function renderQueues(queues) {
  const body = $('queues');
  const rows = queues.map((q) => {
    const tr = document.createElement('tr');
    tr.appendChild(cell(q.name));
    tr.appendChild(badge(q.state));
    tr.appendChild(cell(q.limit, 'n'));
    for (const s of STATES) tr.appendChild(cell(q.counts[s], 'n'));
    tr.appendChild(cell(q.oldestAvailableMs === null ? '' : (q.oldestAvailableMs / 1000).toFixed(1) + ' s', 'n'));
    const td = document.createElement('td');
    const button = document.createElement('button');
    button.textContent = q.paused ? 'Resume' : 'Pause';
    button.addEventListener('click', () => act(q.name, q.paused ? 'resume' : 'pause'));
    td.appendChild(button);
    tr.appendChild(td);
    return tr;
  });
  body.replaceChildren(...rows);
}
function renderJobs(jobs) {
  const rows = jobs.map((j) => {
    const tr = document.createElement('tr');
    tr.appendChild(cell(j.id, 'n'));
    tr.appendChild(cell(j.worker));
    tr.appendChild(cell(j.queue));
    tr.appendChild(badge(j.state));
    tr.appendChild(cell(j.attempt + '/' + j.maxAttempts, 'n'));
    tr.appendChild(cell(j.progress ? Math.round(j.progress.percent) + ' %' : '', 'n'));
    tr.appendChild(cell(ago(j.insertedAt)));
    tr.appendChild(cell(j.errors.length ? j.errors[j.errors.length - 1].message : ''));
    return tr;
  });
  $('jobs').replaceChildren(...rows);
  $('jobs-empty').hidden = jobs.length > 0;
}
function renderWorkflows(workflows) {
  const rows = workflows.map((w) => {
    const tr = document.createElement('tr');
    tr.appendChild(cell(w.id, 'n'));
    tr.appendChild(cell(w.name));
    tr.appendChild(cell(w.tenantId));
    tr.appendChild(badge(w.state));
    const td = document.createElement('td');
    td.className = 'steps';
    for (const s of w.steps) {
      const span = document.createElement('span');
      span.className = 'badge ' + s.state;
      span.title = 'job ' + s.jobId + (s.deps.length ? ', after ' + s.deps.join(', ') : '');
      span.textContent = s.name + ': ' + s.state;
      td.appendChild(span);
    }
    tr.appendChild(td);
    tr.appendChild(cell(ago(w.insertedAt)));
    return tr;
  });
  $('workflows').replaceChildren(...rows);
  $('workflows-empty').hidden = workflows.length > 0;
}
function showError(e) {
  $('status').textContent = 'Error: ' + (e && e.message ? e.message : String(e));
  $('status').className = 'error';
}
let timer;
async function refresh() {
  clearTimeout(timer);
  try {
    const query = new URLSearchParams({ limit: '25' });
    if ($('f-queue').value) query.set('queue', $('f-queue').value);
    if ($('f-state').value) query.set('state', $('f-state').value);
    const [q, w, j] = await Promise.all([getJson('/admin/queues'), getJson('/admin/workflows/recent?limit=10'), getJson('/admin/jobs/recent?' + query)]);
    renderQueues(q.queues);
    renderWorkflows(w.workflows);
    renderJobs(j.jobs);
    $('status').textContent = 'Updated ' + new Date().toLocaleTimeString();
    $('status').className = '';
    document.body.dataset.loaded = 'true';
  } catch (e) {
    showError(e);
  } finally {
    timer = setTimeout(refresh, 2000);
  }
}
function init() {
  for (const s of STATES) {
    const option = document.createElement('option');
    option.value = s;
    option.textContent = s;
    $('f-state').appendChild(option);
  }
  for (const q of ['images', 'documents', 'emails', 'webhooks', 'exports', 'default']) {
    const option = document.createElement('option');
    option.value = q;
    option.textContent = q;
    $('f-queue').appendChild(option);
  }
  $('f-queue').addEventListener('change', refresh);
  $('f-state').addEventListener('change', refresh);
  refresh();
}
init();
`;

function page(nonce: string): string {
  const stateHeads = ['held', 'available', 'scheduled', 'executing', 'retryable', 'completed', 'discarded', 'cancelled'].map((s) => `<th>${s}</th>`).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>Content Processor · queues</title>
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>
<h1>Content Processor</h1>
<div id="status">Loading…</div>
<h2>Queues</h2>
<table>
<thead><tr><th>queue</th><th>state</th><th>limit</th>${stateHeads}<th>oldest wait</th><th></th></tr></thead>
<tbody id="queues"></tbody>
</table>
<h2>Recent workflows</h2>
<table>
<thead><tr><th>id</th><th>name</th><th>tenant</th><th>state</th><th>steps</th><th>inserted</th></tr></thead>
<tbody id="workflows"></tbody>
</table>
<p id="workflows-empty" hidden>No workflows yet.</p>
<h2>Recent jobs</h2>
<p><label>queue <select id="f-queue"><option value="">all</option></select></label>
<label>state <select id="f-state"><option value="">all</option></select></label></p>
<table>
<thead><tr><th>id</th><th>worker</th><th>queue</th><th>state</th><th>attempt</th><th>progress</th><th>inserted</th><th>last error</th></tr></thead>
<tbody id="jobs"></tbody>
</table>
<p id="jobs-empty" hidden>No jobs yet.</p>
<script nonce="${nonce}">${SCRIPT}</script>
</body>
</html>`;
}

export const dashboardRoutes: FastifyPluginAsyncZod<RouteOptions & { access: AdminAccess }> = async (app, options) => {
  app.addHook('onRequest', requireApiKey(options.access, { allowQuery: true }));
  app.get(
    '/dashboard',
    {
      schema: {
        tags: ['admin'],
        summary: 'A live HTML dashboard of queues, recent workflows and recent jobs (open as /dashboard?key=<admin key>)',
        security: [{ apiKey: [] }],
        querystring: z.object({ key: z.string().max(512).optional() }),
        response: { 200: z.string().describe('text/html'), ...errors(400, 401, 403) },
      },
    },
    async (_request, reply) => {
      const nonce = randomBytes(16).toString('base64');
      return reply
        .header(
          'content-security-policy',
          `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
        )
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(page(nonce));
    },
  );
};
