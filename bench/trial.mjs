#!/usr/bin/env node
// One trial: one peer, one workload, in this fresh process, against the fresh database run.mjs
// created for it. Prints one line `RESULT {json}` on stdout.
//
//   node bench/trial.mjs --peer docket --workload drain --url postgres://.../bench_x --jobs 100000 --concurrency 10
//
// Workloads: drain, latency, insert-single, insert-bulk, mixed, memory, scale (this process then
// forks --nodes children with --role node), wf-release and wf-fanout (docket's workflows, issue 13).
import { fork } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { deferred, now, parseFlags, percentile, sleep, waitUntil, withTimeout } from './lib/util.mjs';

const flags = parseFlags(process.argv.slice(2));
const num = (key, fallback) => (flags[key] === undefined ? fallback : Number(flags[key]));
const PEER = flags.peer;
const URL_ = flags.url;
const { createPeer } = await import(`./peers/${PEER}.mjs`);

if (flags.role === 'node') {
  await runNode();
} else {
  const workloads = { drain, latency, 'insert-single': insertSingle, 'insert-bulk': insertBulk, mixed, memory, scale, 'wf-release': wfRelease, 'wf-fanout': wfFanout };
  const fn = workloads[flags.workload];
  if (!fn) throw new Error(`unknown workload ${flags.workload}`);
  const admin = new pg.Client({ connectionString: URL_ });
  await admin.connect();
  let result;
  try {
    result = await fn(admin);
  } catch (e) {
    result = { ok: false, error: String(e?.stack ?? e) };
  }
  await admin.end().catch(() => {});
  process.stdout.write(`RESULT ${JSON.stringify({ peer: PEER, workload: flags.workload, ...result })}\n`);
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------

/** Records every run of every job: how many times, when the first run started. */
function makeTracker(total, failEvery = 0) {
  const runs = new Uint8Array(total);
  const firstStart = new Float64Array(total);
  let performed = 0;
  let successes = 0;
  let expected = total;
  if (failEvery > 0) for (let i = 0; i < total; i += failEvery) expected++;
  let first = 0;
  let last = 0;
  const successTimes = failEvery > 0 ? [] : null;
  let target = expected;
  let waiter = deferred();
  const perform = (i) => {
    const t = now();
    if (first === 0) first = t;
    last = t;
    if (i < 0 || i >= total) throw new Error(`job arg ${i} out of range`);
    const n = ++runs[i];
    if (n === 1) firstStart[i] = t;
    performed++;
    if (performed >= target) waiter.resolve();
    if (failEvery > 0 && i % failEvery === 0 && n === 1) throw new Error(`fail once (job ${i})`);
    successes++;
    successTimes?.push(t);
  };
  return {
    runs,
    firstStart,
    perform,
    get performed() {
      return performed;
    },
    get first() {
      return first;
    },
    get last() {
      return last;
    },
    successTimes,
    expected,
    /** Resolves once `n` runs have happened (default: every expected run). */
    reach(n = expected) {
      target = n;
      waiter = deferred();
      if (performed >= n) waiter.resolve();
      return waiter.promise;
    },
  };
}

/** Exactly-once: each job ran exactly once (or twice when it was meant to fail once). */
function checkRuns(runs, from, to, failEvery = 0) {
  let missing = 0;
  let duplicates = 0;
  const examples = [];
  for (let i = from; i < to; i++) {
    const want = failEvery > 0 && i % failEvery === 0 ? 2 : 1;
    if (runs[i] < want) {
      missing++;
      if (examples.length < 5) examples.push(`job ${i} ran ${runs[i]}× (want ${want})`);
    } else if (runs[i] > want) {
      duplicates++;
      if (examples.length < 5) examples.push(`job ${i} ran ${runs[i]}× (want ${want})`);
    }
  }
  return { ok: missing === 0 && duplicates === 0, jobs: to - from, missing, duplicates, examples };
}

/** CPU time (ms) of every PostgreSQL process on this machine so far (/proc; Linux only, else null). */
function pgCpuMs() {
  try {
    let ticks = 0;
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') continue;
        const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
        ticks += Number(fields[11]) + Number(fields[12]);
      } catch {
        // the process ended meanwhile
      }
    }
    return ticks * 10; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/** Starts a CPU measurement; its result gives µs per job of this process and of PostgreSQL. */
function cpuMeter() {
  const node0 = process.cpuUsage();
  const pg0 = pgCpuMs();
  return (jobs) => {
    const node = process.cpuUsage(node0);
    const pg1 = pgCpuMs();
    const nodeUs = (node.user + node.system) / jobs;
    const pgUs = pg0 === null || pg1 === null ? null : ((pg1 - pg0) * 1000) / jobs;
    return { nodeUsPerJob: nodeUs, pgUsPerJob: pgUs, cpuUsPerJob: pgUs === null ? null : nodeUs + pgUs };
  };
}

async function unfinished(admin, peer) {
  const { rows } = await admin.query(peer.unfinishedSql);
  return rows[0].n;
}

/** After the last run: time until the database shows every job finished (outcomes stored). */
async function waitStored(admin, peer, timeoutMs = 30_000) {
  const ok = await waitUntil(async () => (await unfinished(admin, peer)) === 0, timeoutMs, 5);
  return ok ? now() : null;
}

async function preinsert(peer, from, to, batch = 1000) {
  for (let i = from; i < to; i += batch) {
    const is = [];
    for (let k = i; k < Math.min(to, i + batch); k++) is.push(k);
    await peer.insertBatch(is);
  }
}

async function prepareDb(admin, analyze) {
  if (analyze) await admin.query('ANALYZE');
  await admin.query('CHECKPOINT');
}

async function tableHealth(admin, schemas) {
  await sleep(1500); // backends flush table statistics at most once a second and when they exit
  await admin.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await admin.query(
    `SELECT schemaname || '.' || relname AS table, n_live_tup::bigint AS live, n_dead_tup::bigint AS dead,
            pg_total_relation_size(relid)::bigint AS bytes, autovacuum_count::int AS autovacuums, autoanalyze_count::int AS autoanalyzes
       FROM pg_stat_user_tables WHERE schemaname = ANY($1) ORDER BY pg_total_relation_size(relid) DESC`,
    [schemas],
  );
  const tables = rows.map((r) => ({ ...r, live: Number(r.live), dead: Number(r.dead), bytes: Number(r.bytes) }));
  return {
    dead: tables.reduce((s, t) => s + t.dead, 0),
    live: tables.reduce((s, t) => s + t.live, 0),
    bytes: tables.reduce((s, t) => s + t.bytes, 0),
    autovacuums: tables.reduce((s, t) => s + t.autovacuums, 0),
    tables: tables.filter((t) => t.bytes > 16384 || t.dead > 0).slice(0, 8),
  };
}

async function shutdown(peer) {
  const t = now();
  await withTimeout(Promise.resolve(peer.stop()).catch((e) => peer.errors.push(`stop: ${e.message}`)), 30_000);
  const stopMs = now() - t;
  await withTimeout(Promise.resolve(peer.close()).catch(() => {}), 10_000);
  return stopMs;
}

function common(peer) {
  return { errors: peer.errors.slice(0, 10), errorCount: peer.errors.length, warnings: peer.warnings };
}

// --- drain: N pre-inserted no-op jobs ---------------------------------------------------------
async function drain(admin) {
  const N = num('jobs', 100_000);
  const C = num('concurrency', 10);
  const analyze = flags.analyze !== '0';
  const tr = makeTracker(N);
  const history = num('history', 0);
  const peer = await createPeer({ url: URL_, concurrency: C, perform: tr.perform });
  await peer.setup();
  if (history > 0) {
    if (!peer.seedHistory) throw new Error(`${PEER} keeps no history: --history does not apply`);
    await peer.seedHistory(admin, history);
  }
  const t0 = now();
  await preinsert(peer, 0, N);
  const preinsertMs = now() - t0;
  await prepareDb(admin, analyze);
  const tStart = now();
  const cpu = cpuMeter();
  await peer.start();
  const reached = await withTimeout(tr.reach().then(() => true), num('timeout', 240_000), false);
  const tStored = reached ? await waitStored(admin, peer) : null;
  const cpuPerJob = cpu(N);
  const stopMs = await shutdown(peer);
  const left = await unfinished(admin, peer);
  const exactlyOnce = checkRuns(tr.runs, 0, N);
  const ok = reached && tStored !== null && left === 0 && exactlyOnce.ok;
  return {
    ok,
    jobs: N,
    concurrency: C,
    analyze,
    metrics: {
      jobsPerSec: tStored ? N / ((tStored - tr.first) / 1000) : null,
      drainMs: tStored ? tStored - tr.first : null,
      startupMs: tr.first ? tr.first - tStart : null,
      storeLagMs: tStored ? tStored - tr.last : null,
      stopMs,
      preinsertJobsPerSec: N / (preinsertMs / 1000),
      ...cpuPerJob,
    },
    history,
    exactlyOnce: { ...exactlyOnce, unfinishedAfterStop: left },
    ...common(peer),
  };
}

// --- latency: idle workers, jobs enqueued one at a time at a fixed rate (open loop) -----------
// The first `warmup` jobs (same rate) warm the pools and JIT; they are checked for exactly-once
// but left out of the percentiles.
async function latency(admin) {
  const N = num('jobs', 2000);
  const W = num('warmup', 100);
  const rate = num('rate', 200);
  const C = num('concurrency', 10);
  const total = W + N;
  const prune = num('prune', 0);
  const tr = makeTracker(total);
  const peer = await createPeer({ url: URL_, concurrency: C, perform: tr.perform });
  await peer.setup();
  // --prune N: N jobs finished two days ago, which the peer's pruner (max age one day) retires
  // while the jobs below are sent: the latency of a node whose leader is pruning.
  if (prune > 0) await peer.seedPrunable(admin, prune);
  await prepareDb(admin, true);
  let pruned = Promise.resolve();
  let pruneFrom = null;
  let pruneTo = null;
  await peer.start();
  await sleep(1000); // idle: LISTEN is up, the first polls found nothing
  const sentAt = new Float64Array(total);
  const pending = [];
  let insertErrors = 0;
  const t0 = now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - now();
    if (wait > 1) await sleep(wait - 0.5);
    while (now() < due) await new Promise((r) => setImmediate(r));
    if (prune > 0 && i === W) {
      // The warm-up is over: the pruner starts, and with it the window measured apart.
      pruneFrom = now();
      pruned = Promise.resolve(peer.startPruner())
        .then(() => waitUntil(async () => (await peer.prunable(admin)) === 0, 120_000, 25))
        .then((done) => void (pruneTo = done ? now() : null))
        .catch((e) => peer.errors.push(`pruner: ${e.message}`));
    }
    sentAt[i] = now();
    pending.push(peer.insertOne(i).catch(() => insertErrors++));
  }
  const sendMs = now() - t0;
  await Promise.all(pending);
  const reached = await withTimeout(tr.reach().then(() => true), 60_000, false);
  const tStored = reached ? await waitStored(admin, peer) : null;
  await pruned; // the pruner's whole pass is part of the run
  await shutdown(peer);
  const left = await unfinished(admin, peer);
  const lat = [];
  for (let i = W; i < total; i++) if (tr.runs[i] > 0) lat.push(tr.firstStart[i] - sentAt[i]);
  lat.sort((a, b) => a - b);
  // Sent while the pruner was at work (from its start until the last old job was gone).
  const during = [];
  if (pruneFrom !== null && pruneTo !== null) {
    for (let i = W; i < total; i++) if (tr.runs[i] > 0 && sentAt[i] >= pruneFrom && sentAt[i] <= pruneTo) during.push(tr.firstStart[i] - sentAt[i]);
  }
  during.sort((a, b) => a - b);
  const pruning =
    prune > 0
      ? { pruneMs: pruneTo === null || pruneFrom === null ? null : pruneTo - pruneFrom, duringN: during.length, duringP50: percentile(during, 50), duringMax: during[during.length - 1] ?? null }
      : {};
  const exactlyOnce = checkRuns(tr.runs, 0, total);
  return {
    ok: reached && tStored !== null && left === 0 && exactlyOnce.ok && insertErrors === 0 && (prune === 0 || pruneTo !== null),
    jobs: N,
    warmup: W,
    rate,
    concurrency: C,
    metrics: {
      p50: percentile(lat, 50),
      p95: percentile(lat, 95),
      p99: percentile(lat, 99),
      max: lat[lat.length - 1] ?? null,
      mean: lat.reduce((s, x) => s + x, 0) / (lat.length || 1),
      achievedRate: total / (sendMs / 1000),
      ...pruning,
    },
    prune,
    insertErrors,
    exactlyOnce: { ...exactlyOnce, unfinishedAfterStop: left },
    ...common(peer),
  };
}

/** Insert workloads: every arg 0..N-1 is in the table exactly once. */
async function checkRows(admin, peer, N) {
  const { rows } = await admin.query(peer.rowsSql);
  const seen = new Uint8Array(N);
  let outOfRange = 0;
  for (const r of rows) {
    if (r.i >= 0 && r.i < N) seen[r.i] = Math.min(255, seen[r.i] + 1);
    else outOfRange++;
  }
  const res = checkRuns(seen, 0, N);
  return { ...res, ok: res.ok && outOfRange === 0 && rows.length === N, rows: rows.length };
}

// --- insert-single: single-row enqueue from many parallel callers ----------------------------
async function insertSingle(admin) {
  const N = num('jobs', 10_000);
  const callers = num('callers', 20);
  const peer = await createPeer({ url: URL_, concurrency: 10, poolMax: callers, perform: () => {} });
  await peer.setup();
  await prepareDb(admin, true);
  let next = 0;
  let insertErrors = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < N) {
        const i = next++;
        await peer.insertOne(i).catch(() => insertErrors++);
      }
    }),
  );
  const ms = now() - t0;
  await shutdown(peer);
  const exactlyOnce = await checkRows(admin, peer, N);
  return {
    ok: exactlyOnce.ok && insertErrors === 0,
    jobs: N,
    callers,
    metrics: { jobsPerSec: N / (ms / 1000), ms },
    insertErrors,
    exactlyOnce,
    ...common(peer),
  };
}

// --- insert-bulk: batches of 1,000 from one caller --------------------------------------------
async function insertBulk(admin) {
  const N = num('jobs', 100_000);
  const batch = num('batch', 1000);
  const peer = await createPeer({ url: URL_, concurrency: 10, perform: () => {} });
  await peer.setup();
  await prepareDb(admin, true);
  const t0 = now();
  await preinsert(peer, 0, N, batch);
  const ms = now() - t0;
  await shutdown(peer);
  const exactlyOnce = await checkRows(admin, peer, N);
  return { ok: exactlyOnce.ok, jobs: N, batch, metrics: { jobsPerSec: N / (ms / 1000), ms }, exactlyOnce, ...common(peer) };
}

// --- mixed: steady inserts while draining, 10 % fail once and retry ----------------------------
async function mixed(admin) {
  const rate = num('rate', 1000);
  const seconds = num('seconds', 10);
  const C = num('concurrency', 10);
  const failEvery = num('fail-every', 10);
  const retryDelayMs = num('retry-delay-ms', 1000);
  // --rounds R: the same load R times back to back on one peer and one database, the hot
  // table's size and dead tuples read after each round (does it stay flat?).
  const rounds = num('rounds', 1);
  const N = Math.round(rate * seconds);
  const total = N * rounds;
  const tr = makeTracker(total, failEvery);
  // --pruner 1: peers that have one run their pruner (docket's also vacuums its live table).
  const peer = await createPeer({ url: URL_, concurrency: C, retryDelayMs, perform: tr.perform });
  await peer.setup();
  await prepareDb(admin, true);
  await peer.start();
  if (num('pruner', 0) > 0 && peer.startPruner) await peer.startPruner();
  await sleep(500);
  const sentAt = new Float64Array(total);
  let inserted = 0;
  let insertErrors = 0;
  let reached = true;
  let tStored = null;
  let t0 = 0;
  let insertMs = 0;
  let loadEnd = 0;
  const hot = [];
  for (let round = 0; round < rounds && reached; round++) {
    const from = round * N;
    const tRound = now();
    if (round === 0) t0 = tRound;
    while (inserted < from + N) {
      const due = from + Math.min(N, Math.floor(((now() - tRound) * rate) / 1000) + 1);
      if (due <= inserted) {
        await sleep(Math.max(1, tRound + ((inserted - from) * 1000) / rate - now()));
        continue;
      }
      const is = [];
      const t = now();
      for (let i = inserted; i < due; i++) {
        is.push(i);
        sentAt[i] = t;
      }
      inserted = due;
      await peer.insertBatch(is).catch(() => (insertErrors += is.length));
    }
    if (round === 0) {
      insertMs = now() - t0;
      loadEnd = t0 + seconds * 1000;
    }
    const upTo = from + N;
    const expectedRuns = upTo + (failEvery > 0 ? Math.ceil(upTo / failEvery) : 0);
    reached = await withTimeout(tr.reach(expectedRuns).then(() => true), num('timeout', 60_000), false);
    const stored = reached ? await waitStored(admin, peer) : null;
    if (round === 0) tStored = stored;
    if (rounds > 1 && peer.hotTable) hot.push(await hotTable(admin, peer.hotTable));
  }
  await shutdown(peer);
  const left = await unfinished(admin, peer);
  const health = await tableHealth(admin, peer.schemas);
  const lag = [];
  for (let i = 0; i < N; i++) if (tr.runs[i] > 0) lag.push(tr.firstStart[i] - sentAt[i]);
  lag.sort((a, b) => a - b);
  const doneInWindow = tr.successTimes.filter((t) => t <= loadEnd).length;
  const exactlyOnce = checkRuns(tr.runs, 0, total, failEvery);
  const perRound = {};
  hot.forEach((h, i) => {
    perRound[`hotMB${i + 1}`] = h.bytes / 1048576;
    perRound[`hotDead${i + 1}`] = h.dead;
  });
  if (hot.length > 1) perRound.hotGrowth = hot[hot.length - 1].bytes / hot[0].bytes;
  return {
    ok: reached && tStored !== null && left === 0 && exactlyOnce.ok && insertErrors === 0,
    jobs: total,
    rate,
    seconds,
    rounds,
    concurrency: C,
    failEvery,
    retryDelayMs,
    metrics: {
      insertRate: N / (insertMs / 1000),
      throughputDuringLoad: doneInWindow / seconds,
      allDoneSec: tStored ? (tStored - t0) / 1000 : null,
      finished: reached && left === 0 ? 1 : 0,
      lagP50: percentile(lag, 50),
      lagP99: percentile(lag, 99),
      deadTuples: health.dead,
      liveTuples: health.live,
      tableMB: health.bytes / 1048576,
      ...perRound,
    },
    health,
    hot,
    insertErrors,
    exactlyOnce: { ...exactlyOnce, unfinishedAfterStop: left, runs: tr.performed, expectedRuns: tr.expected },
    ...common(peer),
  };
}

/** The peer's hot table (the one its workers fetch from): total size and dead tuples now. */
async function hotTable(admin, name) {
  await sleep(1500); // table statistics are flushed at most once a second
  await admin.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await admin.query(
    `SELECT pg_total_relation_size(c.oid)::bigint AS bytes, coalesce(s.n_dead_tup, 0)::bigint AS dead
       FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = to_regclass($1)`,
    [name],
  );
  return { table: name, bytes: Number(rows[0]?.bytes ?? 0), dead: Number(rows[0]?.dead ?? 0) };
}

// --- memory: drain N, measure; insert and drain N more in the same process, measure again ------
async function memory(admin) {
  const N = num('jobs', 100_000);
  const C = num('concurrency', 10);
  const tr = makeTracker(2 * N);
  const peer = await createPeer({ url: URL_, concurrency: C, perform: tr.perform });
  await peer.setup();
  await preinsert(peer, 0, N);
  await prepareDb(admin, true);
  const measure = async () => {
    await sleep(500);
    for (let k = 0; k < 3; k++) {
      globalThis.gc?.();
      await sleep(50);
    }
    const m = process.memoryUsage();
    return { rss: m.rss / 1048576, heapUsed: m.heapUsed / 1048576, external: m.external / 1048576 };
  };
  const before = await measure();
  await peer.start();
  let t = now();
  const r1 = await withTimeout(tr.reach(N).then(() => true), 240_000, false);
  const s1 = r1 ? await waitStored(admin, peer) : null;
  const drain1 = s1 ? N / ((s1 - t) / 1000) : null;
  const m1 = await measure();
  t = now();
  await preinsert(peer, N, 2 * N);
  const r2 = await withTimeout(tr.reach(2 * N).then(() => true), 240_000, false);
  const s2 = r2 ? await waitStored(admin, peer) : null;
  const drain2 = s2 ? N / ((s2 - t) / 1000) : null;
  const m2 = await measure();
  await shutdown(peer);
  const left = await unfinished(admin, peer);
  const exactlyOnce = checkRuns(tr.runs, 0, 2 * N);
  return {
    ok: r1 && r2 && s1 !== null && s2 !== null && left === 0 && exactlyOnce.ok,
    jobs: N,
    concurrency: C,
    gcExposed: typeof globalThis.gc === 'function',
    metrics: {
      rssBefore: before.rss,
      rss1: m1.rss,
      rss2: m2.rss,
      heap1: m1.heapUsed,
      heap2: m2.heapUsed,
      heapGrowth: m2.heapUsed - m1.heapUsed,
      rssGrowth: m2.rss - m1.rss,
      drain1JobsPerSec: drain1,
      drain2JobsPerSec: drain2,
    },
    exactlyOnce: { ...exactlyOnce, unfinishedAfterStop: left },
    ...common(peer),
  };
}

// --- scale: K processes drain one backlog --------------------------------------------------------
async function scale(admin) {
  const N = num('jobs', 100_000);
  const C = num('concurrency', 10);
  const K = num('nodes', 1);
  const peer = await createPeer({ url: URL_, concurrency: C, perform: () => {} });
  await peer.setup();
  await preinsert(peer, 0, N);
  await shutdown(peer);
  await prepareDb(admin, true);
  const self = fileURLToPath(import.meta.url);
  const children = [];
  const progress = new Array(K).fill(0);
  const firsts = new Array(K).fill(0);
  let total = 0;
  let allDone = deferred();
  const readies = [];
  const finals = [];
  const exits = [];
  for (let k = 0; k < K; k++) {
    const child = fork(self, ['--role', 'node', '--peer', PEER, '--url', URL_, '--concurrency', String(C), '--jobs', String(N)], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = deferred();
    const fin = deferred();
    readies.push(ready.promise);
    finals.push(fin.promise);
    child.on('message', (m) => {
      if (m.type === 'ready') ready.resolve();
      else if (m.type === 'progress') {
        total += m.count - progress[k];
        progress[k] = m.count;
        if (m.first && !firsts[k]) firsts[k] = m.first;
        if (total >= N) allDone.resolve();
      } else if (m.type === 'final') fin.resolve(m);
    });
    exits.push(new Promise((resolve) => child.on('exit', resolve)));
    child.on('exit', () => {
      ready.resolve();
      fin.resolve(null);
    });
    children.push(child);
  }
  await withTimeout(Promise.all(readies), 60_000);
  for (const c of children) c.send({ type: 'go' });
  const reached = await withTimeout(allDone.promise.then(() => true), num('timeout', 240_000), false);
  const tStored = reached ? await waitStored(admin, { unfinishedSql: peer.unfinishedSql }) : null;
  for (const c of children) c.connected && c.send({ type: 'stop' });
  const results = await withTimeout(Promise.all(finals), 60_000, []);
  // No worker process may outlive this trial and overlap the next one.
  if ((await withTimeout(Promise.all(exits).then(() => true), 15_000, false)) === false) {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  }
  const runs = new Uint8Array(N);
  const perNode = [];
  const errors = [];
  for (const r of results) {
    if (!r) continue;
    perNode.push(r.count);
    errors.push(...r.errors);
    for (let i = 0; i < N; i++) runs[i] += r.runs[i];
  }
  const left = await unfinished(admin, peer);
  const first = Math.min(...firsts.filter(Boolean));
  const exactlyOnce = checkRuns(runs, 0, N);
  return {
    ok: reached && tStored !== null && left === 0 && exactlyOnce.ok && perNode.length === K,
    jobs: N,
    concurrency: C,
    nodes: K,
    metrics: { jobsPerSec: tStored ? N / ((tStored - first) / 1000) : null, drainMs: tStored ? tStored - first : null },
    perNode,
    exactlyOnce: { ...exactlyOnce, unfinishedAfterStop: left },
    errors: errors.slice(0, 10),
    errorCount: errors.length,
  };
}

/** A worker process of the scale workload: waits for 'go', drains, reports, stops on 'stop'. */
async function runNode() {
  process.on('disconnect', () => process.exit(1));
  const N = num('jobs', 100_000);
  const runs = new Uint8Array(N);
  let count = 0;
  let first = 0;
  const perform = (i) => {
    if (!first) first = now();
    runs[i]++;
    count++;
  };
  const peer = await createPeer({ url: URL_, concurrency: num('concurrency', 10), perform });
  await peer.setup();
  let sent = -1;
  const report = () => {
    if (count !== sent) {
      sent = count;
      process.send({ type: 'progress', count, first });
    }
  };
  process.on('message', async (m) => {
    if (m.type === 'go') {
      await peer.start();
      setInterval(report, 5).unref();
    } else if (m.type === 'stop') {
      await withTimeout(Promise.resolve(peer.stop()).catch((e) => peer.errors.push(`stop: ${e.message}`)), 30_000);
      report();
      process.send({ type: 'final', runs, count, errors: peer.errors.slice(0, 10) }, () => {
        Promise.resolve(peer.close())
          .catch(() => {})
          .finally(() => process.exit(0));
      });
    }
  });
  process.send({ type: 'ready' });
}

// --- workflows (issue 13): what releasing a held step costs ------------------------------------

/** Resolves `workflow:complete` / `workflow:fail` by workflow id, also for ends seen before the wait. */
function workflowEnds(peer) {
  const ended = new Map();
  const waiting = new Map();
  const on = (state) => ({ workflow }) => {
    const at = now();
    ended.set(workflow.id, { state, at });
    waiting.get(workflow.id)?.({ state, at });
  };
  peer.on('workflow:complete', on('completed'));
  peer.on('workflow:fail', on('failed'));
  return {
    wait(id, ms) {
      if (ended.has(id)) return Promise.resolve(ended.get(id));
      return withTimeout(new Promise((resolve) => waiting.set(id, resolve)), ms, null);
    },
  };
}

// --- wf-release: time from a step's last dependency completing to the step starting -----------
// --shape chain: one workflow is --levels steps, each depending on the one before (levels − 1
// samples per workflow). --shape fanin: --parents independent steps and one child depending on
// all of them (one sample per workflow: child start − the last parent's completion). Workflows run
// one at a time (the next is inserted once the previous one's workflow:complete arrived), on one
// node at concurrency C; the first --warmup workflows are left out of the percentiles.
// The parent's completion is taken three ways:
//   fromAck    (p50, p95, ...) job:complete of the parent, emitted once its ack statement returned,
//              just after the commit that released the child (the primary figure; the child's
//              fetch, woken by the NOTIFY of that commit, can occasionally return first: min < 0)
//   fromReturn (retP50, ...) the parent's perform returning: also holds the ack's batching (one
//              event-loop turn), the ack statement and its commit
//   database   (dbP50, ...) child's attempted_at − parent's completed_at, both now() on the
//              database clock: from the start of the ack statement to the start of the child's fetch
// A docket peer for the workflow trials, set up: each perform is tracked (tr) and the moment it
// returned recorded (ret, by job index).
async function workflowPeer(total, concurrency) {
  const tr = makeTracker(total);
  const ret = new Float64Array(total);
  const peer = await createPeer({
    url: URL_,
    concurrency,
    perform: (i) => {
      tr.perform(i);
      ret[i] = now();
    },
  });
  if (!peer.buildWorkflow) throw new Error(`${PEER} has no workflows`);
  await peer.setup();
  return { tr, ret, peer };
}

async function wfRelease(admin) {
  const shape = flags.shape ?? 'chain';
  if (shape !== 'chain' && shape !== 'fanin') throw new Error(`--shape chain|fanin, got ${shape}`);
  const levels = num('levels', 50);
  const parents = num('parents', 20);
  const W = num('workflows', 20);
  const warm = num('warmup', 2);
  const C = num('concurrency', 10);
  const per = shape === 'chain' ? levels : parents + 1;
  const total = (warm + W) * per;
  const { tr, ret, peer } = await workflowPeer(total, C);
  const acked = new Float64Array(total);
  peer.on('job:complete', ({ job }) => {
    const i = job.args?.i;
    if (Number.isInteger(i) && i >= 0 && i < total && acked[i] === 0) acked[i] = now();
  });
  const ends = workflowEnds(peer);
  await prepareDb(admin, true);
  await peer.start();
  await sleep(1000); // idle: LISTEN is up, the first polls found nothing
  const fromAck = [];
  const fromReturn = [];
  const perLevel = [];
  let timedOut = 0;
  let failedWf = 0;
  for (let w = 0; w < warm + W; w++) {
    const base = w * per;
    const steps =
      shape === 'chain'
        ? Array.from({ length: levels }, (_, k) => ({ name: `s${k}`, i: base + k, deps: k > 0 ? [`s${k - 1}`] : undefined }))
        : [
            ...Array.from({ length: parents }, (_, k) => ({ name: `p${k}`, i: base + k })),
            { name: 'child', i: base + parents, deps: Array.from({ length: parents }, (_, k) => `p${k}`) },
          ];
    const wf = await peer.buildWorkflow(shape, steps).insert();
    const end = await ends.wait(wf.id, 30_000);
    if (end === null) {
      timedOut++;
      break;
    }
    if (end.state !== 'completed') failedWf++;
    // job:complete of the last step comes from the same ack batch as the finish: let it land.
    await waitUntil(() => acked[base + per - 1] > 0, 1000, 1);
    if (w < warm) continue;
    if (shape === 'chain') {
      for (let k = 1; k < levels; k++) {
        const child = tr.firstStart[base + k];
        fromAck.push(child - acked[base + k - 1]);
        fromReturn.push(child - ret[base + k - 1]);
      }
      perLevel.push((tr.firstStart[base + levels - 1] - tr.firstStart[base]) / (levels - 1));
    } else {
      let lastAck = 0;
      let lastRet = 0;
      for (let k = 0; k < parents; k++) {
        lastAck = Math.max(lastAck, acked[base + k]);
        lastRet = Math.max(lastRet, ret[base + k]);
      }
      const child = tr.firstStart[base + parents];
      fromAck.push(child - lastAck);
      fromReturn.push(child - lastRet);
      perLevel.push(child - tr.firstStart[base]);
    }
  }
  await shutdown(peer);
  const left = await unfinished(admin, peer);
  const exactlyOnce = checkRuns(tr.runs, 0, total);
  const missingAck = acked.reduce((n, t) => n + (t === 0 ? 1 : 0), 0);
  // The database's view: child claimed (its fetch's now()) − last parent's completed_at (its ack's
  // now(), the start of the statement that released the child; so this also holds that statement).
  const dbStart = new Float64Array(total);
  const dbDone = new Float64Array(total);
  for (const row of (await admin.query(peer.timesSql)).rows) {
    if (row.i >= 0 && row.i < total) {
      dbStart[row.i] = row.started ?? 0;
      dbDone[row.i] = row.completed ?? 0;
    }
  }
  const fromDb = [];
  for (let w = warm; w < warm + W && w * per < total; w++) {
    const base = w * per;
    if (shape === 'chain') for (let k = 1; k < levels; k++) fromDb.push(dbStart[base + k] - dbDone[base + k - 1]);
    else fromDb.push(dbStart[base + parents] - Math.max(...Array.from({ length: parents }, (_, k) => dbDone[base + k])));
  }
  const sorted = (xs) => xs.filter(Number.isFinite).sort((a, b) => a - b);
  const a = sorted(fromAck);
  const r = sorted(fromReturn);
  const d = sorted(fromDb.slice(0, fromAck.length));
  const lv = sorted(perLevel);
  return {
    ok: timedOut === 0 && failedWf === 0 && left === 0 && exactlyOnce.ok && missingAck === 0 && a.length === fromAck.length,
    shape,
    levels: shape === 'chain' ? levels : undefined,
    parents: shape === 'fanin' ? parents : undefined,
    workflows: W,
    warmup: warm,
    concurrency: C,
    samples: a.length,
    metrics: {
      p50: percentile(a, 50),
      p95: percentile(a, 95),
      p99: percentile(a, 99),
      max: a[a.length - 1] ?? null,
      min: a[0] ?? null,
      mean: a.reduce((s, x) => s + x, 0) / (a.length || 1),
      retP50: percentile(r, 50),
      retP95: percentile(r, 95),
      retMax: r[r.length - 1] ?? null,
      dbP50: percentile(d, 50),
      dbP95: percentile(d, 95),
      dbMax: d[d.length - 1] ?? null,
      // chain: mean start-to-start time per level of each workflow; fanin: first parent's start → child's start.
      levelP50: percentile(lv, 50),
      samples: a.length,
    },
    timedOut,
    failedWorkflows: failedWf,
    missingAck,
    exactlyOnce: { ...exactlyOnce, unfinishedAfterStop: left },
    ...common(peer),
  };
}

// --- wf-fanout: a 10,000-step fan-out against 10,000 independent jobs ---------------------------
// --mode workflow: one workflow, a root step and --jobs children that depend on it (--sink 1 adds
// a step depending on every child), written by one insert. --mode plain: --jobs independent jobs
// of the same no-op worker, insertMany in batches of --batch. Workers (one node, concurrency C)
// are already running; timed from the insert call until a poll of the table shows every job
// finished. Before that, untimed and identical in both modes: a warm-up (a --warm-jobs fan-out
// workflow and as many plain jobs, run to completion), then ANALYZE and CHECKPOINT.
async function wfFanout(admin) {
  const mode = flags.mode ?? 'workflow';
  if (mode !== 'workflow' && mode !== 'plain') throw new Error(`--mode workflow|plain, got ${mode}`);
  const N = num('jobs', 10_000);
  const sink = mode === 'workflow' && num('sink', 0) > 0;
  const batch = num('batch', 1000);
  const C = num('concurrency', 10);
  const WN = num('warm-jobs', 1000);
  const analyze = flags.analyze !== '0';
  const timed = mode === 'workflow' ? N + 1 + (sink ? 1 : 0) : N;
  // Indexes: [0, timed) the timed jobs, then the warm-up workflow (WN + 1), then WN warm-up plain jobs.
  const warmFrom = timed;
  const total = timed + WN + 1 + WN;
  const { tr, ret, peer } = await workflowPeer(total, C);
  const ends = workflowEnds(peer);
  await peer.start();
  // Warm-up, untimed: JIT, pool, prepared statements, both insert paths and the release.
  const warmWf = await peer
    .buildWorkflow('warm-up', [
      { name: 'root', i: warmFrom + WN },
      ...Array.from({ length: WN }, (_, k) => ({ name: `c${k}`, i: warmFrom + k, deps: ['root'] })),
    ])
    .insert();
  if (WN > 0) await preinsert(peer, warmFrom + WN + 1, total, batch);
  const warmed = (await ends.wait(warmWf.id, 60_000)) !== null && (await withTimeout(tr.reach(2 * WN + 1).then(() => true), 60_000, false));
  if (!warmed || (await waitStored(admin, peer)) === null) throw new Error('the warm-up did not finish');
  await prepareDb(admin, analyze);
  await sleep(200);
  // Built before the clock starts (args objects, the builder's step list); the insert is timed.
  const built =
    mode === 'workflow'
      ? peer.buildWorkflow('fan-out', [
          { name: 'root', i: N },
          ...Array.from({ length: N }, (_, k) => ({ name: `c${k}`, i: k, deps: ['root'] })),
          ...(sink ? [{ name: 'sink', i: N + 1, deps: Array.from({ length: N }, (_, k) => `c${k}`) }] : []),
        ])
      : null;
  const batches = [];
  if (mode === 'plain') for (let i = 0; i < N; i += batch) batches.push(Array.from({ length: Math.min(batch, N - i) }, (_, k) => i + k));
  const cpu = cpuMeter();
  const t0 = now();
  let wfId = null;
  if (built) wfId = (await built.insert()).id;
  else for (const is of batches) await peer.insertBatch(is);
  const insertMs = now() - t0;
  const reached = await withTimeout(tr.reach(2 * WN + 1 + timed).then(() => true), num('timeout', 240_000), false);
  const tStored = reached ? await waitStored(admin, peer) : null;
  const cpuPerJob = cpu(timed);
  const end = wfId ? await ends.wait(wfId, 10_000) : null;
  const stopMs = await shutdown(peer);
  const left = await unfinished(admin, peer);
  const exactlyOnce = checkRuns(tr.runs, 0, total);
  let firstChild = Infinity;
  let lastStart = 0;
  for (let i = 0; i < N; i++) {
    firstChild = Math.min(firstChild, tr.firstStart[i]);
    lastStart = Math.max(lastStart, tr.firstStart[i]);
  }
  const firstStart = mode === 'workflow' ? tr.firstStart[N] : firstChild;
  return {
    ok: reached && tStored !== null && left === 0 && exactlyOnce.ok && (wfId === null || end?.state === 'completed'),
    mode,
    jobs: timed,
    sink,
    batch: mode === 'plain' ? batch : timed,
    concurrency: C,
    warmJobs: WN,
    metrics: {
      jobsPerSec: tStored ? timed / ((tStored - t0) / 1000) : null,
      totalMs: tStored ? tStored - t0 : null,
      insertMs,
      firstStartMs: firstStart - t0,
      // workflow: the root's perform returned → the first child started (its ack, the release of N
      // steps in that statement, NOTIFY, fetch).
      ...(mode === 'workflow' ? { rootToChildMs: firstChild - ret[N] } : {}),
      ...(sink ? { sinkReleaseMs: tr.firstStart[N + 1] - Math.max(...Array.from({ length: N }, (_, k) => ret[k])) } : {}),
      lastStartMs: (sink ? tr.firstStart[N + 1] : lastStart) - t0,
      storeLagMs: tStored ? tStored - tr.last : null,
      ...(end ? { workflowEventMs: end.at - t0 } : {}),
      stopMs,
      ...cpuPerJob,
    },
    exactlyOnce: { ...exactlyOnce, unfinishedAfterStop: left },
    ...common(peer),
  };
}
