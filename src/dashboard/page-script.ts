// The page's script (plain ES2017, no build step, no dependency), inlined under the CSP nonce.
// It fetches everything from the JSON API next to the page and builds the DOM with
// createElement and textContent only: no innerHTML anywhere, so nothing a job carries can become
// markup. Actions are POSTs with the page's CSRF token in x-docket-csrf. It refreshes every 5 s
// (not while the tab is hidden); #/jobs/<id> and #/workflows/<id> open a detail panel.
import { JOB_STATES } from '../index.js';

/** The dashboard's client script. */
export const PAGE_SCRIPT = `
'use strict';
(function () {
  var STATES = ${JSON.stringify(JOB_STATES)};
  var FINAL = ['completed', 'discarded', 'cancelled'];
  var SVG = 'http://www.w3.org/2000/svg';
  var csrf = document.querySelector('meta[name="docket-csrf"]').getAttribute('content');
  var base = location.pathname.replace(/\\/?$/, '/');
  var view = { after: null, back: [], next: null, seq: 0, shown: '' };
  var timer = null;
  function $(id) { return document.getElementById(id); }
  function enc(s) { return encodeURIComponent(s); }

  function h(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      var v = props[k];
      if (k === 'text') node.textContent = v === null || v === undefined ? '' : String(v);
      else if (k === 'className') node.className = v;
      else if (k.slice(0, 2) === 'on') node.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? '' : String(v));
    });
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return node;
  }
  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function td(text, cls) { return h('td', { text: text, className: cls || '' }); }
  function badge(state) { return h('span', { className: 'badge ' + state, text: state }); }
  function fill(id, nodes) { var el = $(id); el.replaceChildren.apply(el, nodes); }
  function time(iso) { return iso ? new Date(iso).toLocaleString() : ''; }
  function span(ms) {
    var s = Math.round(Math.abs(ms) / 1000);
    return s < 90 ? s + ' s' : s < 5400 ? Math.round(s / 60) + ' min' : s < 172800 ? Math.round(s / 3600) + ' h' : Math.round(s / 86400) + ' d';
  }
  function ago(iso) {
    if (!iso) return '';
    var ms = Date.now() - Date.parse(iso);
    return ms >= 0 ? span(ms) + ' ago' : 'in ' + span(ms);
  }
  function json(v) { return JSON.stringify(v, null, 2); }

  function request(path, init) {
    return fetch(base + 'api/' + path, Object.assign({ credentials: 'same-origin', headers: { accept: 'application/json' } }, init || {}))
      .then(function (res) {
        return res.json().catch(function () { return null; }).then(function (body) {
          if (!res.ok) throw new Error((body && body.message) || res.status + ' ' + res.statusText);
          return body;
        });
      });
  }
  function act(path, body, done) {
    var headers = { accept: 'application/json', 'content-type': 'application/json', 'x-docket-csrf': csrf };
    return request(path, { method: 'POST', headers: headers, body: JSON.stringify(body || {}) }).then(function (r) {
      notice(done + (r && r.job ? ': job ' + r.job.id + ' is ' + r.job.state : ''), false);
      view.shown = '';
      return refresh();
    }, function (e) { notice(e.message, true); });
  }
  function notice(text, error) { $('notice').textContent = text; $('notice').className = error ? 'error' : ''; }

  function renderQueues(queues) {
    var focused = document.activeElement;
    if (focused && focused.tagName === 'INPUT' && $('queues').contains(focused)) return;
    fill('queues', queues.map(function (q) {
      var path = 'queues/' + enc(q.name) + '/';
      var limit = h('input', { type: 'number', min: 0, max: 10000, className: 'limit', placeholder: 'default', 'aria-label': 'limit of ' + q.name });
      if (q.concurrency !== null) limit.value = String(q.concurrency);
      var row = h('tr', { 'data-queue': q.name }, [
        td(q.name),
        h('td', null, [badge(q.paused ? 'paused' : 'running')]),
        td(q.concurrency === null ? 'per node' : q.concurrency, 'n'),
      ]);
      STATES.forEach(function (s) { row.appendChild(td(q.counts[s], q.counts[s] ? 'n' : 'n zero')); });
      row.appendChild(td(q.oldestAvailableMs === null ? '' : span(q.oldestAvailableMs), 'n'));
      row.appendChild(h('td', null, [
        h('button', { type: 'button', 'data-action': q.paused ? 'resume' : 'pause', text: q.paused ? 'Resume' : 'Pause',
          onclick: function () { act(path + (q.paused ? 'resume' : 'pause'), {}, (q.paused ? 'Resumed ' : 'Paused ') + q.name); } }),
        ' ', limit, ' ',
        h('button', { type: 'button', 'data-action': 'scale', text: 'Scale',
          onclick: function () { var v = limit.value.trim(); act(path + 'scale', { limit: v === '' ? null : Number(v) }, 'Scaled ' + q.name); } }),
      ]));
      return row;
    }));
    ['f-queue', 'chart-queue'].forEach(function (id) {
      var select = $(id);
      var value = select.value;
      var names = queues.map(function (q) { return q.name; });
      if (value && names.indexOf(value) < 0) names.push(value);
      fill(id, [h('option', { value: '', text: 'all' })].concat(names.map(function (n) { return h('option', { value: n, text: n }); })));
      select.value = value;
    });
  }

  function renderChart(minutes) {
    var W = 960, H = 170, left = 40, bottom = 20, top = 8;
    var max = 1, sums = [0, 0, 0];
    minutes.forEach(function (m) {
      max = Math.max(max, m.completed + m.discarded + m.cancelled);
      sums[0] += m.completed; sums[1] += m.discarded; sums[2] += m.cancelled;
    });
    var scale = (H - bottom - top) / max, bw = (W - left) / Math.max(minutes.length, 1);
    var chart = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'jobs finished per minute' });
    [0, 0.5, 1].forEach(function (f) {
      var y = H - bottom - f * max * scale;
      chart.appendChild(svg('line', { x1: left, x2: W, y1: y, y2: y }));
      chart.appendChild(svg('text', { x: left - 6, y: y + 4, 'text-anchor': 'end' }, String(Math.round(f * max * 10) / 10)));
    });
    minutes.forEach(function (m, i) {
      var x = left + i * bw, y = H - bottom;
      var g = svg('g', {});
      g.appendChild(svg('title', {}, new Date(m.at).toLocaleTimeString() + ': ' + m.completed + ' completed, ' + m.discarded + ' discarded, ' + m.cancelled + ' cancelled'));
      [['c', m.completed], ['d', m.discarded], ['x', m.cancelled]].forEach(function (p) {
        if (!p[1]) return;
        y -= p[1] * scale;
        g.appendChild(svg('rect', { x: x + 0.5, y: y, width: Math.max(bw - 1, 1), height: p[1] * scale, class: p[0] }));
      });
      chart.appendChild(g);
      if (i % 15 === 0 || i === minutes.length - 1) {
        var last = i === minutes.length - 1;
        chart.appendChild(svg('text', { x: last ? W : x, y: H - 5, 'text-anchor': last ? 'end' : 'start' }, last ? 'now' : '-' + (minutes.length - 1 - i) + ' min'));
      }
    });
    fill('chart', [chart]);
    $('throughput-total').textContent = (sums[0] + sums[1] + sums[2]) + ' finished in the last ' + minutes.length + ' min: ' +
      sums[0] + ' completed, ' + sums[1] + ' discarded, ' + sums[2] + ' cancelled';
  }

  function jobQuery() {
    var p = new URLSearchParams({ limit: '25' });
    var queue = $('f-queue').value, state = $('f-state').value, worker = $('f-worker').value.trim();
    if (queue) p.set('queue', queue);
    if (state) p.set('state', state);
    if (worker) p.set('worker', worker);
    if (view.after) p.set('after', view.after);
    return p.toString();
  }
  function renderJobs(page) {
    view.next = page.next;
    fill('jobs', page.jobs.map(function (j) {
      return h('tr', { 'data-id': j.id }, [
        h('td', { className: 'n' }, [h('a', { href: '#/jobs/' + enc(j.id), text: j.id })]),
        td(j.worker), td(j.queue), h('td', null, [badge(j.state)]),
        td(j.attempt + '/' + j.maxAttempts, 'n'), td(ago(j.insertedAt)),
        h('td', null, [j.workflow ? h('a', { href: '#/workflows/' + enc(j.workflow.id), text: j.workflow.step + ' · workflow ' + j.workflow.id }) : null]),
        h('td', { className: 'err', title: j.lastError || '', text: j.lastError || '' }),
      ]);
    }));
    $('jobs-empty').hidden = page.jobs.length > 0;
    $('older').disabled = !page.next;
    $('newer').disabled = view.back.length === 0;
    $('page-info').textContent = 'page ' + (view.back.length + 1);
  }

  function renderSchedules(schedules) {
    fill('schedules', schedules.map(function (s) {
      return h('tr', null, [td(s.name), td(s.expression), td(s.timezone), td(s.worker), td(time(s.nextAt)), td(time(s.lastAt))]);
    }));
    $('schedules-empty').hidden = schedules.length > 0;
  }
  function renderNodes(nodes) {
    fill('nodes', nodes.map(function (n) {
      var queues = Object.keys(n.queues).map(function (q) { return q + ' × ' + n.queues[q]; }).join(', ');
      return h('tr', { 'data-node': n.id }, [td(n.id), td(n.host), td(n.pid, 'n'), td(queues), td(ago(n.startedAt)), td(span(n.silentMs), 'n'),
        h('td', null, [n.leader ? badge('leader') : null])]);
    }));
    var leader = nodes.filter(function (n) { return n.leader; })[0];
    $('leader').textContent = leader ? 'leader: ' + leader.id : 'no leader';
    $('nodes-empty').hidden = nodes.length > 0;
  }

  function field(dl, name, value) {
    if (value === null || value === undefined || value === '') return;
    dl.appendChild(h('dt', { text: name }));
    dl.appendChild(h('dd', { text: value }));
  }
  function heading(text, state) {
    return h('h2', null, [text + ' ', badge(state), h('a', { href: '#', 'data-action': 'close', text: 'close' })]);
  }
  function renderJob(job) {
    var final = FINAL.indexOf(job.state) >= 0, path = 'jobs/' + enc(job.id) + '/';
    var button = function (name, label, enabled) {
      return h('button', { type: 'button', 'data-action': name, text: label, disabled: !enabled,
        onclick: function () { act(path + name, {}, label + ' job ' + job.id); } });
    };
    var dl = h('dl');
    field(dl, 'worker', job.worker); field(dl, 'queue', job.queue); field(dl, 'priority', job.priority);
    field(dl, 'attempt', job.attempt + ' of ' + job.maxAttempts); field(dl, 'tags', job.tags.join(', '));
    field(dl, 'ran on', job.attemptedBy); field(dl, 'inserted', time(job.insertedAt)); field(dl, 'scheduled', time(job.scheduledAt));
    field(dl, 'attempted', time(job.attemptedAt)); field(dl, 'finished', time(job.completedAt));
    var parts = [heading('Job ' + job.id, job.state),
      h('div', { className: 'actions' }, [button('retry', 'Retry', job.state !== 'executing'), button('cancel', 'Cancel', !final), button('discard', 'Discard', !final)]), dl];
    if (job.workflow) parts.push(h('p', null, ['Step ', h('b', { text: job.workflow.step }), ' of ', h('a', { href: '#/workflows/' + enc(job.workflow.id), text: 'workflow ' + job.workflow.id })]));
    if (job.lastProgress) {
      parts.push(h('h3', { text: 'Progress' }), h('p', null, [h('progress', { max: 100, value: job.lastProgress.percent }),
        ' ' + Math.round(job.lastProgress.percent) + ' % at ' + time(job.lastProgress.at)]));
      if (job.lastProgress.data !== null) parts.push(h('pre', { id: 'job-progress', text: json(job.lastProgress.data) }));
    }
    parts.push(h('h3', { text: 'Args' }), h('pre', { id: 'job-args', text: json(job.args) }));
    parts.push(h('h3', { text: 'Result' }), h('pre', { id: 'job-result', text: json(job.result) }));
    if (job.meta && Object.keys(job.meta).length > 0) parts.push(h('h3', { text: 'Meta' }), h('pre', { text: json(job.meta) }));
    parts.push(h('h3', { text: 'Errors (' + job.errors.length + ')' }));
    job.errors.slice().reverse().forEach(function (e) {
      parts.push(h('p', { className: 'err', text: 'attempt ' + e.attempt + ' · ' + time(e.at) + ' · ' + (e.name ? e.name + ': ' : '') + e.message }));
      if (e.stack) parts.push(h('details', null, [h('summary', { text: 'stack' }), h('pre', { text: e.stack })]));
    });
    fill('detail', parts);
  }
  function renderWorkflow(wf) {
    var dl = h('dl');
    field(dl, 'name', wf.name); field(dl, 'tags', wf.tags.join(', ')); field(dl, 'inserted', time(wf.insertedAt)); field(dl, 'finished', time(wf.finishedAt));
    var rows = wf.steps.map(function (s) {
      return h('tr', null, [td(s.name), h('td', null, [badge(s.job.state)]), h('td', null, [h('a', { href: '#/jobs/' + enc(s.job.id), text: s.job.id })]),
        td(s.deps.join(', ')), td(s.job.worker)]);
    });
    var table = h('table', null, [h('thead', null, [h('tr', null, ['step', 'state', 'job', 'after', 'worker'].map(function (t) { return h('th', { text: t }); }))]),
      h('tbody', { id: 'workflow-steps' }, rows)]);
    fill('detail', [heading('Workflow ' + wf.id + ' · ' + wf.name, wf.state), dl, table]);
  }
  function loadDetail() {
    var m = /^#\\/(jobs|workflows)\\/([0-9]{1,19})$/.exec(location.hash);
    var box = $('detail');
    if (!m) { box.hidden = true; view.shown = ''; fill('detail', []); return Promise.resolve(); }
    return request(m[1] + '/' + m[2]).then(function (r) {
      var key = location.hash + JSON.stringify(r);
      if (key !== view.shown) { view.shown = key; if (r.job) renderJob(r.job); else renderWorkflow(r.workflow); }
      box.hidden = false;
    }, function (e) { view.shown = ''; fill('detail', [h('p', { className: 'err', text: e.message })]); box.hidden = false; });
  }

  function refresh() {
    clearTimeout(timer);
    var seq = ++view.seq;
    if (document.hidden && document.body.dataset.loaded) { timer = setTimeout(refresh, 5000); return Promise.resolve(); }
    var chartQueue = $('chart-queue').value;
    return Promise.all([request('queues'), request('throughput' + (chartQueue ? '?queue=' + enc(chartQueue) : '')), request('jobs?' + jobQuery()),
      request('schedules'), request('nodes'), loadDetail()]).then(function (r) {
      if (seq !== view.seq) return;
      renderQueues(r[0].queues); renderChart(r[1].minutes); renderJobs(r[2]); renderSchedules(r[3].schedules); renderNodes(r[4].nodes);
      $('status').textContent = 'Updated ' + new Date().toLocaleTimeString();
      $('status').className = '';
      document.body.dataset.loaded = 'true';
    }, function (e) {
      $('status').textContent = 'Error: ' + e.message;
      $('status').className = 'error';
    }).then(function () { if (seq === view.seq) timer = setTimeout(refresh, 5000); });
  }
  function restart() { view.after = null; view.back = []; refresh(); }

  fill('f-state', [h('option', { value: '', text: 'all' })].concat(STATES.map(function (s) { return h('option', { value: s, text: s }); })));
  $('f-queue').addEventListener('change', restart);
  $('f-state').addEventListener('change', restart);
  $('f-worker').addEventListener('change', restart);
  $('chart-queue').addEventListener('change', function () { refresh(); });
  $('older').addEventListener('click', function () { if (view.next) { view.back.push(view.after); view.after = view.next; refresh(); } });
  $('newer').addEventListener('click', function () { if (view.back.length) { view.after = view.back.pop(); refresh(); } });
  window.addEventListener('hashchange', function () { view.shown = ''; refresh(); });
  document.addEventListener('visibilitychange', function () { if (!document.hidden) refresh(); });
  refresh();
})();
`;
