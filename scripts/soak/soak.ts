// The soak run (issue 15, scenario 12): `npm run soak -- --minutes 30`. Four nodes
// (soak-node.ts) on a PostgreSQL server this script owns insert 200 jobs/s between them and run
// them (one attempt in ten fails); every few minutes a random node is SIGKILLed and replaced,
// and every 10 minutes the server restarts in immediate mode. At the end the inserts stop, the
// queue drains, and it reports: RSS and heap slope per process after warm-up, active handles,
// throughput per interval, dead tuples in the live table, lost jobs (acknowledged inserts that
// never reached a final state) and duplicated ones (completed twice). Writes soak.json and two
// SVG plots (RSS, throughput) to --out (default docs/soak).
//
// Options: --minutes N (30), --rate R (200), --nodes K (4), --kill-every S (180),
// --restart-every S (600), --warmup S (300), --out DIR.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Queue } from '../../src/index.js';
import { startOwnedPostgres } from '../../test/support/owned-postgres.js';
import { linePlot } from './svg-plot.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    rate: { type: 'string', default: '200' },
    nodes: { type: 'string', default: '4' },
    'kill-every': { type: 'string', default: '180' },
    'restart-every': { type: 'string', default: '600' },
    warmup: { type: 'string', default: '300' },
    out: { type: 'string', default: 'docs/soak' },
  },
});
const minutes = Number(values.minutes);
const rate = Number(values.rate);
const nodeCount = Number(values.nodes);
const killEvery = Number(values['kill-every']) * 1000;
const restartEvery = Number(values['restart-every']) * 1000;
const warmup = Number(values.warmup) * 1000;
const SCHEMA = 'soak';
const log = (line: string): void => void process.stdout.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

interface Sample { at: number; rss: number; heapUsed: number; handles: number; completed: number; failed: number }
interface Node { id: string; child: ChildProcess; samples: Sample[]; ready: boolean; killed: boolean; unhandled: string[] }

// autovacuum off, as on this machine's own server: the live table's dead rows are docket's to
// keep down (the Pruner's vacuumLive), and the report shows whether it does.
const server = await startOwnedPostgres({ autovacuum: 'off' });
const admin = new pg.Pool({ connectionString: server.url, max: 2 });
admin.on('error', () => {});
const migrator = new Queue({ connection: server.url, schema: SCHEMA });
await migrator.migrate();
await migrator.stop();

const started = Date.now();
const inserted = new Set<string>();
const completions = new Map<string, number>();
const nodes: Node[] = [];
const events: { at: number; what: string }[] = [];
let seq = 0;

function spawnNode(): Node {
  const id = `n${++seq}`;
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/soak/soak-node.ts'], {
    env: { ...process.env, DATABASE_URL: server.url, DOCKET_SCHEMA: SCHEMA, DOCKET_NODE_ID: id, DOCKET_RATE: String(rate / nodeCount) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const node: Node = { id, child, samples: [], ready: false, killed: false, unhandled: [] };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const e = JSON.parse(line) as Record<string, unknown>;
    if (e.event === 'ready') node.ready = true;
    else if (e.event === 'sample') node.samples.push(e as unknown as Sample);
    else if (e.event === 'inserted') for (const jobId of e.ids as string[]) inserted.add(jobId);
    else if (e.event === 'complete') for (const jobId of e.ids as string[]) completions.set(jobId, (completions.get(jobId) ?? 0) + 1);
    else if (e.event === 'unhandled') node.unhandled.push(String(e.message));
  });
  child.on('exit', (code, signal) => {
    if (!node.killed && !stopping) log(`node ${id} exited unexpectedly (${code ?? signal})`);
  });
  nodes.push(node);
  return node;
}

let stopping = false;
for (let i = 0; i < nodeCount; i++) spawnNode();
const deadTuples: { at: number; dead: number; live: number }[] = [];
const end = started + minutes * 60_000;
let nextKill = started + killEvery;
let nextRestart = started + restartEvery;
while (Date.now() < end) {
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const now = Date.now();
  if (now >= nextKill) {
    nextKill += killEvery;
    const alive = nodes.filter((n) => !n.killed && n.child.exitCode === null);
    const victim = alive[Math.floor(Math.random() * alive.length)]!;
    victim.killed = true;
    victim.child.kill('SIGKILL');
    const replacement = spawnNode();
    events.push({ at: now - started, what: `SIGKILL ${victim.id}, started ${replacement.id}` });
    log(`SIGKILL ${victim.id}; started ${replacement.id}`);
  }
  if (now >= nextRestart) {
    nextRestart += restartEvery;
    await server.stop('immediate');
    await server.start();
    events.push({ at: Date.now() - started, what: 'server restarted (immediate)' });
    log('server restarted in immediate mode');
  }
  if ((now - started) % 30_000 < 1_000) {
    const { rows } = await admin
      .query<{ dead: number; live: number }>(`SELECT n_dead_tup::int AS dead, n_live_tup::int AS live FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'jobs_live'`, [SCHEMA])
      .catch(() => ({ rows: [] as { dead: number; live: number }[] }));
    if (rows[0]) deadTuples.push({ at: now - started, ...rows[0] });
    const done = [...completions.values()].length;
    log(`${((now - started) / 60_000).toFixed(1)} min: ${inserted.size} inserted, ${done} completed, live-table dead tuples ${rows[0]?.dead ?? '?'}`);
  }
}

// Drain: stop inserting, wait until every acknowledged insert is final.
stopping = true;
for (const node of nodes) if (!node.killed) node.child.stdin!.write('stop-inserting\n');
const ids = () => [...inserted];
const finalCount = async (): Promise<number> =>
  (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${SCHEMA}".jobs WHERE id = ANY($1::bigint[]) AND state IN ('completed', 'discarded')`, [ids()])).rows[0]!.n;
const drainBy = Date.now() + 120_000;
while ((await finalCount()) < inserted.size && Date.now() < drainBy) await new Promise((resolve) => setTimeout(resolve, 1_000));
for (const node of nodes) if (!node.killed) node.child.kill('SIGTERM');
await Promise.all(nodes.filter((n) => !n.killed).map((n) => new Promise((resolve) => (n.child.exitCode !== null ? resolve(null) : n.child.once('exit', resolve)))));

const { rows: states } = await admin.query<{ state: string; n: number }>(
  `SELECT state::text, count(*)::int AS n FROM "${SCHEMA}".jobs WHERE id = ANY($1::bigint[]) GROUP BY 1 ORDER BY 1`,
  [ids()],
);
const lost = inserted.size - states.filter((s) => s.state === 'completed' || s.state === 'discarded').reduce((n, s) => n + s.n, 0);
const duplicated = [...completions.values()].filter((n) => n > 1).length;

// RSS and heap slope (least squares, MB/h) per process, over its samples after the warm-up.
const slope = (points: [number, number][]): number => {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p[0], 0) / n;
  const my = points.reduce((s, p) => s + p[1], 0) / n;
  const num = points.reduce((s, p) => s + (p[0] - mx) * (p[1] - my), 0);
  const den = points.reduce((s, p) => s + (p[0] - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
};
const perNode = nodes.map((node) => {
  const firstAt = node.samples[0]?.at ?? 0;
  const steady = node.samples.filter((s) => s.at - firstAt >= warmup);
  const mbPerHour = (key: 'rss' | 'heapUsed') =>
    steady.length < 10 ? null : slope(steady.map((s) => [(s.at - started) / 3_600_000, s[key] / 1_048_576])) ;
  return {
    id: node.id,
    killed: node.killed,
    minutes: node.samples.length > 0 ? (node.samples.at(-1)!.at - firstAt) / 60_000 : 0,
    rssMbPerHour: mbPerHour('rss'),
    heapMbPerHour: mbPerHour('heapUsed'),
    rssMb: node.samples.length > 0 ? node.samples.at(-1)!.rss / 1_048_576 : null,
    handles: { first: node.samples[0]?.handles ?? null, last: node.samples.at(-1)?.handles ?? null, max: Math.max(...node.samples.map((s) => s.handles)) },
    unhandled: node.unhandled.length,
  };
});
// Throughput per minute, all nodes together.
const perMinute = new Map<number, number>();
for (const node of nodes) for (const s of node.samples) perMinute.set(Math.floor((s.at - started) / 60_000), (perMinute.get(Math.floor((s.at - started) / 60_000)) ?? 0) + s.completed);
const throughput = [...perMinute].sort((a, b) => a[0] - b[0]).map(([minute, n]) => ({ minute, perSecond: n / 60 }));
// Steadiness over the whole minutes after the warm-up (the last, partial minute left out).
const steadyMinutes = throughput.filter((t) => t.minute * 60_000 >= warmup && t.minute < Math.floor(minutes));
const sorted = steadyMinutes.map((t) => t.perSecond).sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
const steadiness = {
  minutes: sorted.length,
  median,
  min: sorted[0] ?? 0,
  max: sorted.at(-1) ?? 0,
  worstDeviation: median === 0 ? 0 : Math.max(...sorted.map((v) => Math.abs(v - median) / median)),
};

const report = {
  startedAt: new Date(started).toISOString(),
  minutes,
  rate,
  nodes: nodeCount,
  autovacuum: 'off',
  inserted: inserted.size,
  states,
  lost,
  duplicated,
  events,
  perNode,
  throughput,
  steadiness,
  deadTuples,
};
await mkdir(values.out!, { recursive: true });
await writeFile(join(values.out!, 'soak.json'), `${JSON.stringify(report, null, 2)}\n`);
const t0 = started;
await writeFile(
  join(values.out!, 'soak-rss.svg'),
  linePlot({
    title: `RSS per node (MB) over a ${minutes}-minute soak`,
    xLabel: 'minutes',
    yLabel: 'MB',
    series: nodes.map((node) => ({ name: node.id, points: node.samples.map((s) => [(s.at - t0) / 60_000, s.rss / 1_048_576] as [number, number]) })),
    marks: events.map((e) => ({ x: e.at / 60_000, label: e.what.startsWith('server') ? 'restart' : 'kill' })),
  }),
);
await writeFile(
  join(values.out!, 'soak-throughput.svg'),
  linePlot({
    title: `Jobs completed per second (all nodes), per minute, inserting ${rate}/s`,
    xLabel: 'minutes',
    yLabel: 'jobs/s',
    // Whole minutes only: the last one is partial (the drain).
    series: [{ name: 'completed/s', points: throughput.filter((t) => t.minute < Math.floor(minutes)).map((t) => [t.minute + 0.5, t.perSecond] as [number, number]) }],
    marks: events.map((e) => ({ x: e.at / 60_000, label: e.what.startsWith('server') ? 'restart' : 'kill' })),
  }),
);
log(`inserted ${inserted.size}; states ${states.map((s) => `${s.state} ${s.n}`).join(', ')}; lost ${lost}; duplicated ${duplicated}`);
for (const n of perNode) {
  log(
    `${n.id}${n.killed ? ' (killed)' : ''}: ${n.minutes.toFixed(1)} min, RSS ${n.rssMb?.toFixed(0)} MB, slope RSS ${n.rssMbPerHour?.toFixed(2) ?? '-'} MB/h, heap ${n.heapMbPerHour?.toFixed(2) ?? '-'} MB/h, handles ${n.handles.first}->${n.handles.last} (max ${n.handles.max}), unhandled ${n.unhandled}`,
  );
}
log(`throughput per minute (jobs/s): ${throughput.map((t) => t.perSecond.toFixed(0)).join(' ')}`);
log(
  `after the warm-up: ${steadiness.minutes} whole minutes, median ${steadiness.median.toFixed(1)} jobs/s, ` +
    `min ${steadiness.min.toFixed(1)}, max ${steadiness.max.toFixed(1)}, worst deviation ${(steadiness.worstDeviation * 100).toFixed(1)} %`,
);
const maxDead = Math.max(0, ...deadTuples.map((d) => d.dead));
log(`live-table dead tuples: max ${maxDead}, last ${deadTuples.at(-1)?.dead ?? '?'} (autovacuum off)`);
await admin.end();
await server.destroy();
process.exit(lost === 0 && duplicated === 0 ? 0 : 1);
