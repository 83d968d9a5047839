// The page: one HTML document with its style and script inline under the response's nonce, and
// nothing loaded from anywhere else. It holds no data: the script fetches everything from the
// API (relative to the page's own URL, so any mount path works) and sets it with textContent.
// The CSRF token rides in a <meta> for the script to send back with each action.
import { JOB_STATES } from '../index.js';
import { PAGE_SCRIPT } from './page-script.js';
import { PAGE_STYLE } from './page-style.js';

const ATTRIBUTE_ESCAPES: Record<string, string> = { '&': '&amp;', '"': '&quot;', '<': '&lt;', '>': '&gt;', "'": '&#39;' };

function attribute(value: string): string {
  return value.replace(/[&"<>']/g, (c) => ATTRIBUTE_ESCAPES[c]!);
}

const STATE_HEADS = JOB_STATES.map((s) => `<th class="n">${s}</th>`).join('');

/** The dashboard page for one response. */
export function pageHtml(nonce: string, csrfToken: string): string {
  const n = attribute(nonce);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="docket-csrf" content="${attribute(csrfToken)}">
<link rel="icon" href="data:,">
<title>docket</title>
<style nonce="${n}">${PAGE_STYLE}</style>
</head>
<body>
<header><h1>docket</h1><span id="status">Loading…</span><span id="notice" role="status"></span></header>
<main>
<noscript><p>The dashboard needs JavaScript.</p></noscript>
<section id="detail" hidden></section>
<h2>Queues</h2>
<table>
<thead><tr><th>queue</th><th>state</th><th class="n">limit</th>${STATE_HEADS}<th class="n">oldest wait</th><th>actions</th></tr></thead>
<tbody id="queues"></tbody>
</table>
<h2>Throughput <small id="throughput-total"></small></h2>
<div class="filters"><label>queue <select id="chart-queue"><option value="">all</option></select></label>
<span class="legend mute"><span class="lc">completed</span><span class="ld">discarded</span><span class="lx">cancelled</span></span></div>
<div id="chart"></div>
<h2>Jobs</h2>
<div class="filters">
<label>queue <select id="f-queue"><option value="">all</option></select></label>
<label>state <select id="f-state"><option value="">all</option></select></label>
<label>worker <input id="f-worker" type="search" maxlength="200" placeholder="any" autocomplete="off"></label>
</div>
<table>
<thead><tr><th class="n">id</th><th>worker</th><th>queue</th><th>state</th><th class="n">attempt</th><th>inserted</th><th>workflow</th><th>last error</th></tr></thead>
<tbody id="jobs"></tbody>
</table>
<p id="jobs-empty" class="mute" hidden>No jobs match.</p>
<div class="pager"><button id="newer" type="button" disabled>← newer</button><button id="older" type="button" disabled>older →</button><span id="page-info" class="mute"></span></div>
<h2>Schedules</h2>
<table>
<thead><tr><th>name</th><th>expression</th><th>timezone</th><th>worker</th><th>next</th><th>last</th></tr></thead>
<tbody id="schedules"></tbody>
</table>
<p id="schedules-empty" class="mute" hidden>No schedules.</p>
<h2>Nodes <small id="leader"></small></h2>
<table>
<thead><tr><th>node</th><th>host</th><th class="n">pid</th><th>queues</th><th>started</th><th class="n">silent</th><th></th></tr></thead>
<tbody id="nodes"></tbody>
</table>
<p id="nodes-empty" class="mute" hidden>No node is running.</p>
</main>
<script nonce="${n}">${PAGE_SCRIPT}</script>
</body>
</html>`;
}
