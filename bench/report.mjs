#!/usr/bin/env node
// Turns a results JSON (from run.mjs) into docs/benchmarks.md and docs/benchmarks.svg.
//   node bench/report.mjs bench/results/<file>.json     # regenerate the docs from saved results
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const PEER_LABEL = { docket: 'docket', graphile: 'graphile-worker', pgboss: 'pg-boss', raw: 'raw SKIP LOCKED' };
// docket-base: docket built at an older ref (run.mjs --baseline <ref>).
const PEER_ORDER = ['docket', 'docket-base', 'graphile', 'pgboss', 'raw'];

function labelOf(results, p) {
  if (p === 'docket-base') return `docket (before: ${results.baseline?.ref ?? '?'}${results.baseline?.shortSha ? `, ${results.baseline.shortSha}` : ''})`;
  return PEER_LABEL[p] ?? p;
}

const fmtNum = (x, digits = 0) =>
  x == null || !Number.isFinite(x)
    ? '—'
    : (Math.abs(x) < 0.5 * 10 ** -digits ? 0 : x).toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function cellOf(results, caseId, peer, key, digits = 0) {
  const s = results.aggregated?.[caseId]?.[peer]?.metrics?.[key];
  if (!s) return '—';
  if (s.n === 1) return fmtNum(s.median, digits);
  return `**${fmtNum(s.median, digits)}** (${fmtNum(s.min, digits)}–${fmtNum(s.max, digits)})`;
}

function exactlyOnceOf(results, caseIds, peer) {
  let ok = 0;
  let total = 0;
  for (const id of caseIds) {
    const a = results.aggregated?.[id]?.[peer];
    if (!a) continue;
    ok += a.exactlyOnce;
    total += a.trials;
  }
  if (total === 0) return '—';
  return ok === total ? `✓ ${ok}/${total}` : `✗ ${ok}/${total}`;
}

function peersOf(results, caseIds) {
  const set = new Set(caseIds.flatMap((id) => Object.keys(results.aggregated?.[id] ?? {})));
  return PEER_ORDER.filter((p) => set.has(p));
}

function table(header, rows, { left = false } = {}) {
  const rule = header.map((h, i) => (i === 0 || left ? '---' : '---:')).join(' | ');
  return [`| ${header.join(' | ')} |`, `| ${rule} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** A section: one row per peer, one column per (case, metric). */
function section(results, columns, { eo = true } = {}) {
  const caseIds = [...new Set(columns.map((c) => c.case))].filter((id) => results.aggregated?.[id]);
  if (caseIds.length === 0) return null;
  const peers = peersOf(results, caseIds);
  const cols = columns.filter((c) => results.aggregated?.[c.case]);
  const header = ['peer', ...cols.map((c) => c.label), ...(eo ? ['exactly-once'] : [])];
  const rows = peers.map((p) => [
    labelOf(results, p),
    ...cols.map((c) => (results.aggregated[c.case][p] ? cellOf(results, c.case, p, c.key, c.digits ?? 0) : '—')),
    ...(eo ? [exactlyOnceOf(results, caseIds, p)] : []),
  ]);
  return table(header, rows);
}

function pgSettingsOf(results) {
  return results.postgres?.settingsDetail ?? results.postgres?.settings;
}

/** 'on' / 'off' / null (unknown) for autovacuum on the server that ran the trials. */
function autovacuumOf(results) {
  const s = pgSettingsOf(results);
  if (Array.isArray(s)) return s.find((x) => x.name === 'autovacuum')?.value ?? null;
  return s?.autovacuum ?? null;
}

function caseParam(results, id, key) {
  return results.cases.find((c) => c.id === id)?.args?.[key];
}

/** Workflows (issue 13): release latency per dependency level, and fan-out throughput against plain jobs. */
function workflowSection(r) {
  const rel = ['wf-chain', 'wf-fanin'].filter((id) => r.aggregated?.[id]);
  const thr = ['wf-fanout', 'wf-fanout-sink', 'wf-plain', 'wf-plain-b1000'].filter((id) => r.aggregated?.[id]);
  if (rel.length === 0 && thr.length === 0) return null;
  const out = [];
  const peers = peersOf(r, [...rel, ...thr]);
  const rowLabel = (text, p) => (peers.length > 1 ? `${text}, ${labelOf(r, p)}` : text);
  const targets = r.workflowTargets ?? [];
  const verdict = (id, p, metric) => {
    const t = targets.find((x) => x.case === id && x.peer === p && x.metric === metric);
    return !t || t.met == null ? '' : t.met ? ' ✓' : ' ✗';
  };
  out.push('### Workflows: releasing held steps (docket only)');
  out.push('');
  out.push(
    'graphile-worker and pg-boss have no workflows, so docket is compared with itself: workflow steps against plain jobs of the same no-op worker, on one node (concurrency 10). ' +
      'The cases of this group ran interleaved with each other in every repeat (chain, fan-in, fan-out, fan-out + sink, plain, plain in batches), each in a fresh process on a fresh database.',
  );
  out.push('');
  if (rel.length) {
    const chain = r.cases.find((c) => c.id === 'wf-chain')?.args;
    const fanin = r.cases.find((c) => c.id === 'wf-fanin')?.args;
    out.push(
      `**Release latency per dependency level**: from the moment the last dependency of a step completed to the moment the step's perform is entered. ` +
        `${chain ? `Chain: ${chain.workflows} workflows of ${chain.levels} steps, each depending on the one before (${chain.levels - 1} samples per workflow). ` : ''}` +
        `${fanin ? `Fan-in: ${fanin.workflows} workflows of ${fanin.parents} parents and one child depending on all of them (one sample per workflow: the child against the parent that completed last). ` : ''}` +
        `Workflows run one at a time (the next is inserted once \`workflow:complete\` of the previous one arrived), after ${chain?.warmup ?? fanin?.warmup ?? 2} uncounted warm-up workflows. ` +
        "The parent's completion is taken three ways: **job:complete** (the main figure): the parent's `job:complete` event, which docket emits once the ack statement that completed it (and released the child) returned, so just after its commit; " +
        "the child's fetch, woken by that commit's NOTIFY, occasionally returns first, hence minimums below zero. **perform return**: the parent's perform returned, before its ack was batched (one event-loop turn), sent and committed. " +
        "**database clock**: the child's `attempted_at` minus the parent's `completed_at`, both `now()` of their statements: from the start of the ack statement to the start of the child's claim. Target: p50 ≤ 5 ms (✓ met, ✗ missed, job:complete figure).",
    );
    out.push('');
    const rows = [];
    for (const id of rel) {
      for (const p of peers) {
        if (!r.aggregated[id][p]) continue;
        const c = (key, d = 1) => cellOf(r, id, p, key, d);
        rows.push([
          rowLabel(id === 'wf-chain' ? `chain of ${caseParam(r, id, 'levels')}` : `fan-in ${caseParam(r, id, 'parents')} → 1`, p),
          fmtNum(r.aggregated[id][p].metrics?.samples?.median),
          `${c('p50')}${verdict(id, p, 'p50')}`,
          c('p95'),
          c('p99'),
          c('max'),
          c('min'),
          c('retP50'),
          c('retP95'),
          c('dbP50'),
          c('dbP95'),
          c('levelP50'),
          exactlyOnceOf(r, [id], p),
        ]);
      }
    }
    out.push(
      table(
        ['shape', 'samples', 'job:complete → start p50 (ms)', 'p95', 'p99', 'max', 'min', 'perform return → start p50 (ms)', 'p95', 'database clock p50 (ms)', 'p95', 'per level (ms)', 'exactly-once'],
        rows,
      ),
    );
    out.push('');
    out.push(
      '"Per level": chain: start to start of consecutive steps, averaged over each workflow; fan-in: the first parent\'s start to the child\'s start (two rounds of 10 parents).',
    );
    out.push('');
  }
  if (thr.length) {
    const n = caseParam(r, 'wf-fanout', 'jobs') ?? caseParam(r, 'wf-plain', 'jobs') ?? caseParam(r, thr[0], 'jobs');
    out.push(
      `**Fan-out throughput**: one workflow of a root step and ${fmtNum(n)} steps depending on it (and, in the second case, one sink step depending on all ${fmtNum(n)}), written by one insert, ` +
        `against ${fmtNum(n)} independent jobs of the same worker written by \`insertMany\`: in one call (the same single statement as the workflow) and in calls of 1,000 (the bench's bulk size; workers start on the first batch). ` +
        'The node is running before the clock starts; timed from the insert call to the moment a poll of the table shows every job finished; jobs/s counts every step (root and sink included). ' +
        `Before that, untimed and the same in every case: a warm-up (a 1,000-step fan-out workflow and 1,000 plain jobs, run to completion), then \`ANALYZE\` and \`CHECKPOINT\`` +
        (autovacuumOf(r) === 'off' ? ' (autovacuum is **off** on this server, so the statistics stay as that ANALYZE left them: the tables as the warm-up left them, the live table empty).' : '.') +
        ' The ratio is each repeat\'s workflow jobs/s over the plain jobs/s of the same repeat (they ran back to back); target ≥ 0.80 against the one-call insert (✓ met, ✗ missed).',
    );
    out.push('');
    const labels = {
      'wf-fanout': `workflow: 1 → ${fmtNum(n)}`,
      'wf-fanout-sink': `workflow: 1 → ${fmtNum(n)} → 1`,
      'wf-plain': `plain: insertMany of ${fmtNum(caseParam(r, 'wf-plain', 'batch'))}`,
      'wf-plain-b1000': `plain: insertMany in batches of ${fmtNum(caseParam(r, 'wf-plain-b1000', 'batch'))}`,
    };
    const rows = [];
    for (const id of thr) {
      for (const p of peers) {
        if (!r.aggregated[id][p]) continue;
        const c = (key, d = 0) => cellOf(r, id, p, key, d);
        const wfCase = caseParam(r, id, 'mode') === 'workflow';
        rows.push([
          rowLabel(labels[id], p),
          c('jobsPerSec'),
          c('insertMs'),
          c('totalMs'),
          wfCase ? c('rootToChildMs') : '',
          id === 'wf-fanout-sink' ? c('sinkReleaseMs') : '',
          c('cpuUsPerJob', 1),
          wfCase ? `${c('vsPlain', 2)}${verdict(id, p, 'vsPlain')}` : '',
          wfCase ? c('vsPlainB1000', 2) : '',
          exactlyOnceOf(r, [id], p),
        ]);
      }
    }
    out.push(
      table(
        ['case', 'jobs/s', 'insert (ms)', 'insert → all done (ms)', 'root done → first child start (ms)', 'last child done → sink start (ms)', 'CPU per job (µs)', '÷ plain, one call', '÷ plain, batches of 1,000', 'exactly-once'],
        rows,
      ),
    );
    out.push('');
    out.push(
      '"Root done" and "last child done" are perform returns (no `job:complete` listener in these cases: one would make every ack return its rows). CPU per job: this process and every PostgreSQL process, from the insert call to the end, over the timed jobs.',
    );
    out.push('');
  }
  return out.join('\n');
}

export function renderMarkdown(results, { resultsFile, svgName = 'benchmarks.svg' } = {}) {
  const r = results;
  const out = [];
  const has = (id) => Boolean(r.aggregated?.[id]);
  // Frontmatter for the docs site (typedoc.json lists this file): its title and sidebar group.
  out.push('---', 'title: Benchmarks', 'group: Operations', '---', '');
  out.push('# Benchmarks');
  out.push('');
  out.push(
    `<!-- Generated by bench/run.mjs from ${resultsFile ?? 'a results file'}; do not edit by hand. Regenerate with \`node bench/report.mjs <results.json>\`. -->`,
  );
  out.push('');
  out.push(
    `${peersOf(r, Object.keys(r.aggregated ?? {}))
      .map((p) => labelOf(r, p))
      .join(', ')} side by side on one small machine${r.baselineComparison ? ' (docket before and after its storage change: see the table at the end of Results)' : ''}. ` +
      `Every figure is the **median** of ${r.repeats} interleaved repeat${r.repeats > 1 ? 's' : ''} with the (min–max) range beside it` +
      `${r.quick ? ' — **this is a `--quick` smoke run: small sizes, numbers are not representative**' : ''}.`,
  );
  out.push('');
  out.push(`Command: \`${r.command}\` (from the repo root; ${r.elapsedSec} s, finished ${r.finishedAt}). Raw results: \`${resultsFile ?? '?'}\`.`);
  out.push('');
  out.push(`![Drain throughput and enqueue→start latency per peer](${svgName})`);
  out.push('');

  // --- results ---
  out.push('## Results');
  out.push('');
  const dj = caseParam(r, 'drain-c10', 'jobs') ?? caseParam(r, 'drain-c50', 'jobs') ?? caseParam(r, 'drain-fresh-c10', 'jobs');
  const drain = section(r, [
    { case: 'drain-c10', key: 'jobsPerSec', label: 'c=10 (jobs/s)' },
    { case: 'drain-c50', key: 'jobsPerSec', label: 'c=50 (jobs/s)' },
    { case: 'drain-fresh-c10', key: 'jobsPerSec', label: 'c=10, fresh table (jobs/s)' },
  ]);
  if (drain) {
    out.push(`### Drain: ${fmtNum(dj)} pre-inserted no-op jobs`);
    out.push('');
    out.push(
      `Timed from the first job's start until the database shows every job finished (outcome stored). ` +
        `"Fresh table" skips the \`ANALYZE\` after the bulk load, which is what a user gets right after a backlog lands` +
        (autovacuumOf(r) === 'off'
          ? ' (autovacuum is **off** on this server, see Setup, so that table has no statistics for the whole run; with autovacuum on, autoanalyze would usually get to it within a minute).'
          : ' (autovacuum may or may not have analyzed it by then).'),
    );
    out.push('');
    out.push(drain);
    out.push('');
  }
  const cpu = section(
    r,
    [
      { case: 'drain-c10', key: 'cpuUsPerJob', label: 'c=10: CPU per job (µs)', digits: 1 },
      { case: 'drain-c10', key: 'nodeUsPerJob', label: 'of it Node (µs)', digits: 1 },
      { case: 'drain-c10', key: 'pgUsPerJob', label: 'of it PostgreSQL (µs)', digits: 1 },
      { case: 'drain-c50', key: 'cpuUsPerJob', label: 'c=50: CPU per job (µs)', digits: 1 },
    ],
    { eo: false },
  );
  if (cpu && r.aggregated?.['drain-c10']?.docket?.metrics?.cpuUsPerJob) {
    out.push('### CPU per job (drain)');
    out.push('');
    out.push(
      `CPU time of the trial's Node process (\`process.cpuUsage()\`) and of every PostgreSQL process on the machine (\`/proc/<pid>/stat\`), from the workers' start until every job was stored, divided by the jobs drained.`,
    );
    out.push('');
    out.push(cpu);
    out.push('');
  }
  const lat = section(r, [
    { case: 'latency', key: 'p50', label: 'p50 (ms)', digits: 1 },
    { case: 'latency', key: 'p95', label: 'p95 (ms)', digits: 1 },
    { case: 'latency', key: 'p99', label: 'p99 (ms)', digits: 1 },
    { case: 'latency', key: 'max', label: 'max (ms)', digits: 1 },
  ]);
  if (lat) {
    out.push(`### Latency: enqueue→start, idle workers`);
    out.push('');
    out.push(
      `${fmtNum(caseParam(r, 'latency', 'jobs'))} jobs (after 100 warm-up jobs that are not counted) enqueued one at a time (single-row insert API) at ${caseParam(r, 'latency', 'rate')}/s, open loop, concurrency ${caseParam(r, 'latency', 'concurrency')}. ` +
        `Measured in one process: \`performance.now()\` when the insert call starts → when the handler starts (keyed by the job's arg).`,
    );
    out.push('');
    out.push(lat);
    out.push('');
  }
  const ins = section(r, [
    { case: 'insert-single', key: 'jobsPerSec', label: `single-row, ${caseParam(r, 'insert-single', 'callers') ?? 20} callers (jobs/s)` },
    { case: 'insert-bulk', key: 'jobsPerSec', label: `bulk, batches of ${fmtNum(caseParam(r, 'insert-bulk', 'batch') ?? 1000)} (jobs/s)` },
  ]);
  if (ins) {
    out.push('### Insert');
    out.push('');
    out.push(
      `${fmtNum(caseParam(r, 'insert-single', 'jobs'))} single-row inserts from parallel callers (each awaiting its insert; pool of ${caseParam(r, 'insert-single', 'callers') ?? 20} for every peer), ` +
        `and ${fmtNum(caseParam(r, 'insert-bulk', 'jobs'))} jobs in sequential batches. No workers running. Exactly-once here means every arg is in the table exactly once.`,
    );
    out.push('');
    out.push(ins);
    out.push('');
  }
  const mix = section(r, [
    { case: 'mixed', key: 'insertRate', label: 'inserted (jobs/s)' },
    { case: 'mixed', key: 'throughputDuringLoad', label: 'done during load (jobs/s)' },
    { case: 'mixed', key: 'allDoneSec', label: 'all done after (s)', digits: 1 },
    { case: 'mixed', key: 'lagP50', label: 'start lag p50 (ms)', digits: 1 },
    { case: 'mixed', key: 'lagP99', label: 'start lag p99 (ms)', digits: 1 },
    { case: 'mixed', key: 'deadTuples', label: 'dead tuples after' },
    { case: 'mixed', key: 'tableMB', label: 'table size after (MB)', digits: 1 },
  ]);
  if (mix) {
    out.push('### Mixed load and table health');
    out.push('');
    out.push(
      `${fmtNum(caseParam(r, 'mixed', 'rate'))} jobs/s inserted for ${caseParam(r, 'mixed', 'seconds')} s (bulk API, one batch every ~10 ms) while concurrency-${caseParam(r, 'mixed', 'concurrency')} workers drain; ` +
        `every ${caseParam(r, 'mixed', 'fail-every')}th job fails on its first attempt and must run exactly twice. ` +
        `Retry delay: 1 s for docket (\`backoff: () => 1000\`), pg-boss (\`retryDelay: 1\`, its smallest non-zero value) and raw; graphile-worker's is fixed at e^1 ≈ 2.7 s, so its "all done" is later by design. ` +
        `"Done during load" counts successful runs inside the insert window. "All done after" is from the first insert until the database shows nothing left. ` +
        `Dead tuples and size (\`pg_stat_user_tables.n_dead_tup\`, \`pg_total_relation_size\`, summed over the peer's schema, indexes included) are read 1.5 s after the workers stopped; ` +
        (autovacuumOf(r) === 'off'
          ? 'autovacuum is **off** on this server, so they count every row version the peer wrote and nothing reclaimed them. '
          : 'autovacuum was free to run. ') +
        `graphile-worker and raw delete finished jobs; docket and pg-boss keep them (as history), so their tables hold every job.`,
    );
    out.push('');
    out.push(mix);
    out.push('');
    const fin = peersOf(r, ['mixed']).map((p) => {
      const a = r.aggregated.mixed[p];
      const f = a.metrics.finished;
      return `${labelOf(r, p)} ${f ? `${Math.round(f.values.reduce((s, x) => s + x, 0))}/${a.trials}` : `0/${a.trials}`}`;
    });
    out.push(`Every job finished (runs complete and nothing left in the table): ${fin.join(', ')}.`);
    out.push('');
  }
  const mem = section(r, [
    { case: 'memory', key: 'heap1', label: 'heapUsed after drain 1 (MB)', digits: 1 },
    { case: 'memory', key: 'heap2', label: 'heapUsed after drain 2 (MB)', digits: 1 },
    { case: 'memory', key: 'heapGrowth', label: 'heap growth (MB)', digits: 1 },
    { case: 'memory', key: 'rss1', label: 'RSS after drain 1 (MB)', digits: 0 },
    { case: 'memory', key: 'rss2', label: 'RSS after drain 2 (MB)', digits: 0 },
    { case: 'memory', key: 'drain1JobsPerSec', label: 'drain 1 (jobs/s)' },
    { case: 'memory', key: 'drain2JobsPerSec', label: 'drain 2 (jobs/s)' },
  ]);
  if (mem) {
    out.push('### Memory');
    out.push('');
    out.push(
      `One process (\`node --expose-gc\`), concurrency ${caseParam(r, 'memory', 'concurrency')}: drain ${fmtNum(caseParam(r, 'memory', 'jobs'))} jobs, measure; insert and drain ${fmtNum(caseParam(r, 'memory', 'jobs'))} more with the same workers, measure again. ` +
        `Each measurement is \`process.memoryUsage()\` after three forced GCs. Heap growth between the two drains should be about zero.`,
    );
    out.push('');
    out.push(mem);
    out.push('');
  }
  if (has('drain-history') || has('latency-prune') || has('mixed-3')) {
    out.push('### Storage: history, pruning, and the hot table over time');
    out.push('');
    out.push(
      `docket keeps finished jobs. Since migration 6 they live in a history table partitioned by state and day, apart from the live table workers fetch from; docket 0.1 kept them in its one table. ` +
        `**Drain on a history**: ${fmtNum(caseParam(r, 'drain-history', 'jobs'))} jobs drained on top of ${fmtNum(caseParam(r, 'drain-history', 'history'))} finished ones (inserted first, untimed), to compare with "Drain c=10" above. ` +
        `**Latency while pruning**: ${fmtNum(caseParam(r, 'latency-prune', 'prune'))} jobs finished two days earlier wait; after the warm-up a Pruner (max age one day, on a second Queue in the same process) starts while jobs are enqueued at ${caseParam(r, 'latency-prune', 'rate') ?? 200}/s; "while pruning" covers the jobs sent from the Pruner's start until the last old job was gone. ` +
        `**Three mixed rounds**: the mixed load three times back to back on one database (docket with its Pruner running, interval 1 s, which also vacuums the live table); the hot table (the one workers fetch from) measured after each round` +
        (autovacuumOf(r) === 'off' ? ', autovacuum off.' : '.'),
    );
    out.push('');
    const storage = section(
      r,
      [
        { case: 'drain-history', key: 'jobsPerSec', label: 'drain on a history (jobs/s)' },
        { case: 'latency-prune', key: 'p50', label: 'latency p50 (ms)', digits: 1 },
        { case: 'latency-prune', key: 'max', label: 'latency max (ms)', digits: 1 },
        { case: 'latency-prune', key: 'pruneMs', label: 'pruning took (ms)' },
        { case: 'latency-prune', key: 'duringP50', label: 'while pruning p50 (ms)', digits: 1 },
        { case: 'latency-prune', key: 'duringMax', label: 'while pruning max (ms)', digits: 1 },
      ],
      { eo: false },
    );
    if (storage) {
      out.push(storage);
      out.push('');
    }
    const rounds = section(
      r,
      [
        { case: 'mixed-3', key: 'hotMB1', label: 'hot table after round 1 (MB)', digits: 2 },
        { case: 'mixed-3', key: 'hotMB2', label: 'round 2 (MB)', digits: 2 },
        { case: 'mixed-3', key: 'hotMB3', label: 'round 3 (MB)', digits: 2 },
        { case: 'mixed-3', key: 'hotDead3', label: 'hot-table dead tuples after round 3' },
      ],
      { eo: true },
    );
    if (rounds) {
      out.push(rounds);
      out.push('');
    }
  }
  const wf = workflowSection(r);
  if (wf) out.push(wf);
  const cmp = r.baselineComparison;
  if (cmp?.rows?.length) {
    out.push(`### docket before and after (${cmp.ref}, ${cmp.shortSha} → ${cmp.afterGit})`);
    out.push('');
    out.push('Medians of the same interleaved run; after/before per metric, with the ratio of each repeat in brackets.');
    out.push('');
    out.push(
      table(
        ['case', 'metric', 'after', 'before', 'after/before'],
        cmp.rows.map((row) => [
          row.case,
          `${row.metric} ${row.higherIsBetter ? '↑' : '↓'}`,
          fmtNum(row.after, row.digits),
          fmtNum(row.before, row.digits),
          row.ratio == null ? '—' : `${row.ratio.toFixed(3)} [${row.ratioByRepeat.map((x) => (x == null ? '—' : x.toFixed(2))).join(' ')}] ${row.verdict}`,
        ]),
      ),
    );
    out.push('');
  }
  const scaleIds = ['scale-1', 'scale-2', 'scale-4'].filter(has);
  if (scaleIds.length) {
    out.push('### Scaling with processes');
    out.push('');
    out.push(
      `1, 2 and 4 worker processes (concurrency ${caseParam(r, scaleIds[0], 'concurrency')} each, their own pools) drain one backlog of ${fmtNum(caseParam(r, scaleIds[0], 'jobs'))} jobs, started together. ` +
        `On ${r.machine.nproc} cores that also share the machine with PostgreSQL, more processes mostly measure contention; exactly-once across processes is the point.`,
    );
    out.push('');
    const peers = peersOf(r, scaleIds);
    out.push(
      table(
        ['processes', ...peers.map((p) => `${labelOf(r, p)} (jobs/s)`), 'exactly-once'],
        scaleIds.map((id) => [
          String(caseParam(r, id, 'nodes')),
          ...peers.map((p) => (r.aggregated[id][p] ? cellOf(r, id, p, 'jobsPerSec') : '—')),
          peers.map((p) => exactlyOnceOf(r, [id], p)).join(', '),
        ]),
      ),
    );
    out.push('');
  }

  // --- failures ---
  const failures = [];
  for (const [id, byPeer] of Object.entries(r.aggregated ?? {})) {
    for (const [p, a] of Object.entries(byPeer)) {
      for (const f of a.failures) {
        const eo = f.exactlyOnce;
        const why = f.error
          ? f.error.split('\n')[0]
          : eo && !eo.ok
            ? `exactly-once: ${eo.missing} missing, ${eo.duplicates} duplicated${eo.examples?.length ? ` (${eo.examples.join('; ')})` : ''}${eo.unfinishedAfterStop ? `, ${eo.unfinishedAfterStop} unfinished in the table` : ''}`
            : `did not finish${eo?.unfinishedAfterStop ? ` (${eo.unfinishedAfterStop} unfinished in the table)` : ''}${f.errors?.length ? `; errors: ${f.errors.slice(0, 2).join(' | ')}` : ''}`;
        failures.push(`- ${id}, ${labelOf(r, p)}, repeat ${f.repeat}: ${why}`);
      }
    }
  }
  out.push('### Failed trials');
  out.push('');
  out.push(failures.length ? failures.join('\n') : 'None: every trial finished and passed its exactly-once check.');
  out.push('');

  // --- setup ---
  out.push('## Setup');
  out.push('');
  out.push(
    table(
      ['', ''],
      [
        ['cores (`nproc`)', String(r.machine.nproc)],
        ['CPU', r.machine.cpu],
        ['memory', `${r.machine.memoryGiB} GiB`],
        ['kernel', r.machine.kernel],
        ['Node.js', r.machine.node],
        ['PostgreSQL', `${r.postgres.version}, same machine, over TCP to 127.0.0.1`],
      ],
      { left: true },
    ),
  );
  out.push('');
  const bgs = (r.trials ?? []).map((t) => t.background).filter(Boolean);
  if (bgs.length) {
    const busy = bgs.filter((b) => b.otherActiveSessions > 0 || (b.otherProcs ?? []).length > 0).length;
    const dbs = [...new Set(bgs.flatMap((b) => (b.otherDbs ? b.otherDbs.split(',') : [])))];
    const procs = [...new Set(bgs.flatMap((b) => (b.otherProcs ?? []).map((p) => p.split(' ')[0])))];
    out.push(
      'Background, sampled at every trial start and end (other active PostgreSQL sessions; other processes averaging over 20 % of a core): ' +
        (busy
          ? `**${busy} of ${bgs.length} trials were not alone** (${[dbs.length ? `databases ${dbs.join(', ')}` : '', procs.length ? `processes ${procs.join(', ')}` : ''].filter(Boolean).join('; ')}), so those figures include someone else's load; see \`background\` in the results JSON.`
          : `none in any of the ${bgs.length} trials.`),
    );
    out.push('');
  }
  const settings = pgSettingsOf(r);
  if (Array.isArray(settings)) {
    const changed = settings.filter((s) => s.changed);
    out.push(
      `PostgreSQL settings that matter here; **bold** ones differ from PostgreSQL's built-in default${changed.length ? ` (${changed.map((s) => `\`${s.name}\``).join(', ')})` : ' (none do)'}:`,
    );
    out.push('');
    out.push(
      table(
        ['setting', 'value', 'note'],
        settings.map((s) => [
          `\`${s.name}\``,
          s.changed ? `**${s.value}**` : s.value,
          s.changed ? `built-in default ${s.default}${s.source ? `; set by ${s.source}` : ''}` : '',
        ]),
        { left: true },
      ),
    );
  } else {
    out.push('PostgreSQL settings that matter here:');
    out.push('');
    out.push(table(['setting', 'value'], Object.entries(settings ?? {}).map(([k, v]) => [`\`${k}\``, v])));
  }
  out.push('');
  out.push(table(['package', 'version'], Object.entries(r.versions).map(([k, v]) => [k, v]), { left: true }));
  out.push('');

  out.push('## Method');
  out.push('');
  out.push(
    [
      '- **Interleaved repeats.** For each case the peers run in turn, repeat after repeat (A B C D A B C D ...), so a slow moment of the machine hits every peer rather than one.',
      '- **Fresh everything.** Each trial is a new Node process (`bench/trial.mjs`) on a new database (`CREATE DATABASE bench_<random>`, dropped with `WITH (FORCE)` afterwards), so no peer inherits another\'s bloat, statistics or caches.',
      '- **Untimed preparation.** Schema install/migration, then the backlog is bulk-inserted through the peer\'s own bulk API (1,000 per call), then `ANALYZE` (except the fresh-table case) and `CHECKPOINT`. Only then does the timed phase start.',
      '- **Jobs** are no-ops with args `{ i }`; the handler records the run in a per-trial array, which is how exactly-once is checked: after the workers stop, each `i` must have run exactly once (exactly twice for the mixed workload\'s fail-once jobs), none missing, none duplicated, and the peer\'s table must show no unfinished job.',
      '- **Throughput** is timed from the first job\'s start to the moment a poll of the peer\'s table (every 5 ms, only after the last run) shows every job finished, so batched acknowledgements are included. Peer start-up time is excluded (it is in the raw JSON as `startupMs`).',
      '- **docket is measured through its build**: `npm run build` writes `dist/`, and `run.mjs` copies `dist/*.js` into `bench/.docket-dist/` at start so a rebuild during the run cannot change what is measured (the sha256 of `index.js` is in the versions table).',
      `- **Sizes**: drains of ${fmtNum(r.drainJobs)} jobs (the issue asked 20,000; those finish in well under a second for the fast peers, which is noise). Change with \`--drain-jobs N\`.`,
    ].join('\n'),
  );
  out.push('');
  out.push('### Peer settings');
  out.push('');
  out.push(
    "Each peer runs with its documented defaults plus what its own docs recommend for throughput; every change from a default is listed. The concurrency C is the most jobs one process runs at once.",
  );
  out.push('');
  for (const p of PEER_ORDER) {
    const s = r.peerSettings?.[p];
    if (!s || p === 'docket-base') continue;
    out.push(`**${labelOf(r, p)}**`);
    out.push('');
    for (const [k, v] of Object.entries(s)) out.push(`- ${k}: ${v}`);
    out.push('');
    if (p === 'docket' && r.peerSettings?.['docket-base']) {
      out.push(`**${labelOf(r, 'docket-base')}**: the same adapter and settings, on the bundle built from that ref.`);
      out.push('');
    }
  }
  return `${out.join('\n').trimEnd()}\n`;
}

// --- SVG ------------------------------------------------------------------------------------------
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
function niceMax(v) {
  if (!(v > 0)) return 1;
  const exp = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * exp >= v) return m * exp;
  return 10 * exp;
}
const short = (v) => {
  if (v == null || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a >= 100000) return `${(v / 1000).toFixed(0)}k`;
  if (a >= 1000) return `${(v / 1000).toFixed(1).replace(/\.0$/, '')}k`;
  if (a >= 100 || Number.isInteger(v)) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
};

function panel({ x, y, w, h, title, subtitle, groups, series, unit }) {
  // groups: [{ label, values: [{ median, min, max } | null per series] }]
  const parts = [];
  const left = x + 56;
  const right = x + w - 10;
  const top = y + 52;
  const bottom = y + h - 46;
  const all = groups.flatMap((g) => g.values.flatMap((v) => (v ? [v.max ?? v.median] : [])));
  const max = niceMax(Math.max(0, ...all) * 1.08);
  const sy = (v) => bottom - ((bottom - top) * v) / max;
  parts.push(`<text x="${x + 10}" y="${y + 20}" class="title">${esc(title)}</text>`);
  if (subtitle) parts.push(`<text x="${x + 10}" y="${y + 37}" class="sub">${esc(subtitle)}</text>`);
  for (let k = 0; k <= 5; k++) {
    const v = (max * k) / 5;
    const yy = sy(v);
    parts.push(`<line x1="${left}" x2="${right}" y1="${yy.toFixed(1)}" y2="${yy.toFixed(1)}" class="grid"/>`);
    parts.push(`<text x="${left - 6}" y="${(yy + 4).toFixed(1)}" class="tick" text-anchor="end">${esc(short(v))}</text>`);
  }
  parts.push(`<text x="${x + 12}" y="${(top + bottom) / 2}" class="tick" transform="rotate(-90 ${x + 12} ${(top + bottom) / 2})" text-anchor="middle">${esc(unit)}</text>`);
  const gw = (right - left) / Math.max(1, groups.length);
  const bw = Math.min(34, (gw * 0.8) / series.length);
  groups.forEach((g, gi) => {
    const gx = left + gi * gw + (gw - bw * series.length) / 2;
    g.values.forEach((v, si) => {
      if (!v) return;
      const bx = gx + si * bw;
      const yy = sy(v.median);
      parts.push(
        `<rect x="${bx.toFixed(1)}" y="${yy.toFixed(1)}" width="${(bw - 3).toFixed(1)}" height="${(bottom - yy).toFixed(1)}" fill="${series[si].color}"><title>${esc(`${g.label} ${series[si].label}: median ${short(v.median)} (min ${short(v.min)}, max ${short(v.max)})`)}</title></rect>`,
      );
      if (v.min != null && v.max != null && v.max > v.min) {
        const cx = bx + (bw - 3) / 2;
        parts.push(`<line x1="${cx.toFixed(1)}" x2="${cx.toFixed(1)}" y1="${sy(v.max).toFixed(1)}" y2="${sy(v.min).toFixed(1)}" class="whisker"/>`);
        parts.push(`<line x1="${(cx - 4).toFixed(1)}" x2="${(cx + 4).toFixed(1)}" y1="${sy(v.max).toFixed(1)}" y2="${sy(v.max).toFixed(1)}" class="whisker"/>`);
        parts.push(`<line x1="${(cx - 4).toFixed(1)}" x2="${(cx + 4).toFixed(1)}" y1="${sy(v.min).toFixed(1)}" y2="${sy(v.min).toFixed(1)}" class="whisker"/>`);
      }
      parts.push(`<text x="${(bx + (bw - 3) / 2).toFixed(1)}" y="${(Math.min(yy, sy(v.max ?? v.median)) - 4).toFixed(1)}" class="val" text-anchor="middle">${esc(short(v.median))}</text>`);
    });
    parts.push(`<text x="${(left + gi * gw + gw / 2).toFixed(1)}" y="${bottom + 18}" class="label" text-anchor="middle">${esc(g.label)}</text>`);
  });
  parts.push(`<line x1="${left}" x2="${right}" y1="${bottom}" y2="${bottom}" class="axis"/>`);
  // legend
  let lx = left;
  series.forEach((s) => {
    parts.push(`<rect x="${lx}" y="${y + h - 18}" width="11" height="11" fill="${s.color}"/>`);
    parts.push(`<text x="${lx + 15}" y="${y + h - 8}" class="tick">${esc(s.label)}</text>`);
    lx += 22 + s.label.length * 6.6;
  });
  return parts.join('\n');
}

export function renderSvg(results) {
  const W = 980;
  const H = 420;
  const stat = (id, p, key) => {
    const s = results.aggregated?.[id]?.[p]?.metrics?.[key];
    return s ? { median: s.median, min: s.min, max: s.max } : null;
  };
  const drainPeers = peersOf(results, ['drain-c10', 'drain-c50']);
  const latPeers = peersOf(results, ['latency']);
  const jobs = results.cases.find((c) => c.id === 'drain-c10' || c.id === 'drain-c50')?.args?.jobs;
  const left = panel({
    x: 0,
    y: 0,
    w: W / 2,
    h: H,
    title: 'Drain throughput (higher is better)',
    subtitle: `${jobs ? jobs.toLocaleString('en-US') : '?'} no-op jobs, median of ${results.repeats}, whiskers min–max`,
    unit: 'jobs/s',
    groups: drainPeers.map((p) => ({ label: labelOf(results, p), values: [stat('drain-c10', p, 'jobsPerSec'), stat('drain-c50', p, 'jobsPerSec')] })),
    series: [
      { label: 'concurrency 10', color: '#2b6cb0' },
      { label: 'concurrency 50', color: '#90cdf4' },
    ],
  });
  const right = panel({
    x: W / 2,
    y: 0,
    w: W / 2,
    h: H,
    title: 'Enqueue→start latency (lower is better)',
    subtitle: 'idle workers, single-row inserts at 200/s, median of repeats',
    unit: 'ms',
    groups: latPeers.map((p) => ({ label: labelOf(results, p), values: [stat('latency', p, 'p50'), stat('latency', p, 'p99')] })),
    series: [
      { label: 'p50', color: '#2f855a' },
      { label: 'p99', color: '#9ae6b4' },
    ],
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="-apple-system, Segoe UI, Helvetica, Arial, sans-serif">
<style>
.title { font-size: 15px; font-weight: 600; fill: #1a202c; }
.sub { font-size: 11px; fill: #4a5568; }
.tick { font-size: 11px; fill: #4a5568; }
.label { font-size: 12px; fill: #1a202c; }
.val { font-size: 10px; fill: #1a202c; }
.grid { stroke: #e2e8f0; stroke-width: 1; }
.axis { stroke: #718096; stroke-width: 1; }
.whisker { stroke: #1a202c; stroke-width: 1; }
</style>
<rect width="${W}" height="${H}" fill="#ffffff"/>
${left}
${right}
</svg>
`;
}

export function writeReport(results, { docsDir, resultsFile }) {
  const md = join(docsDir, 'benchmarks.md');
  const svg = join(docsDir, 'benchmarks.svg');
  writeFileSync(md, renderMarkdown(results, { resultsFile }));
  writeFileSync(svg, renderSvg(results));
  return [md, svg];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node bench/report.mjs bench/results/<file>.json');
    process.exit(2);
  }
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const results = JSON.parse(readFileSync(file, 'utf8'));
  const files = writeReport(results, { docsDir: join(root, 'docs'), resultsFile: relative(root, join(process.cwd(), file)) });
  console.log(files.join('\n'));
}
