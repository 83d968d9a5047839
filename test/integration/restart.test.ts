// A server restart under load (issue 15, scenario 1), on a PostgreSQL server the test owns. Four
// processes insert 100 jobs/s between them and run them; the server is stopped in immediate mode
// (a crash for every backend) and started again. Then it is stopped for 60 s, and a fifth
// process calls start() while it is down. Marks: no process exits and none has an unhandled
// rejection; each process runs jobs again within 10 s of the server accepting connections and
// has its LISTEN back within 10 s (seen in pg_stat_activity); once recovered, each holds at most
// its pool size + 1 (LISTEN) connections; every job whose insert succeeded completes, once.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Queue } from '../../src/index.js';
import { spawnReporter, type ReportingChild } from '../support/child.js';
import { startOwnedPostgres, type OwnedPostgres } from '../support/owned-postgres.js';
import { waitFor } from '../support/queue.js';

const POOL = 4;
const SCHEMA = 'restarts';
const children: ReportingChild[] = [];
let server: OwnedPostgres;
let admin: pg.Pool;

beforeAll(async () => {
  server = await startOwnedPostgres();
  admin = new pg.Pool({ connectionString: server.url, max: 2 });
  admin.on('error', () => {}); // its idle clients die with each restart
  const migrator = new Queue({ connection: server.url, schema: SCHEMA });
  await migrator.migrate();
  await migrator.stop();
}, 120_000);
afterAll(async () => {
  for (const { child, exited } of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  }
  await admin?.end();
  await server?.destroy();
});

const nameOf = (node: ReportingChild): string => String(node.events.find((e) => e.event === 'ready' || e.node)?.node);
function startNode(id: string): ReportingChild {
  const url = new URL(server.url);
  url.searchParams.set('application_name', `restart-${id}`);
  const node = spawnReporter('test/fixtures/restart-child.ts', { DATABASE_URL: url.toString(), DOCKET_SCHEMA: SCHEMA, DOCKET_NODE_ID: id, DOCKET_RATE: '25' }, 'pipe');
  children.push(node);
  return node;
}
/** When each node next completes a job at or after `since` (machine clock), within `bound` ms. */
async function resumed(nodes: ReportingChild[], since: number, bound: number): Promise<number[]> {
  const first = (node: ReportingChild) => node.events.find((e) => e.event === 'complete' && Number(e.at) >= since);
  await waitFor(() => nodes.every((node) => first(node) !== undefined), 'every node to run a job after the server came back', bound + 5_000);
  return nodes.map((node) => Number(first(node)!.at) - since);
}
/** How long until every node has a LISTEN backend (pg_stat_activity), polled from `since`. */
async function listening(ids: string[], since: number, bound: number): Promise<number> {
  await waitFor(
    async () => {
      const { rows } = await admin
        .query<{ app: string }>(`SELECT DISTINCT application_name AS app FROM pg_stat_activity WHERE query ILIKE 'LISTEN%'`)
        .catch(() => ({ rows: [] as { app: string }[] }));
      return ids.every((id) => rows.some((r) => r.app === `restart-${id}`));
    },
    'every node to LISTEN again',
    bound + 5_000,
  );
  return Date.now() - since;
}

it('4 processes under load survive an immediate-mode restart, and a fifth starts while the server is down for 60 s', async () => {
  const nodes = ['a', 'b', 'c', 'd'].map(startNode);
  const ids = ['a', 'b', 'c', 'd'];
  for (const node of nodes) await waitFor(() => node.events.some((e) => e.event === 'ready'), `a node ready (${node.stderr()})`, 30_000);
  const completions = (node: ReportingChild) => node.events.filter((e) => e.event === 'complete').length;
  await waitFor(() => nodes.every((node) => completions(node) >= 20), 'every node to run 20 jobs', 30_000);

  // 1. Immediate-mode restart: every backend dies with no goodbye; then up again at once.
  await server.stop('immediate');
  await server.start();
  const upAt = Date.now();
  // Both watched at once, so that each measures its own event: LISTEN timed after the jobs had
  // resumed could never report less than the resume time.
  const [resumeAfterRestart, listenAfterRestart] = await Promise.all([resumed(nodes, upAt, 10_000), listening(ids, upAt, 10_000)]);
  // The marks: jobs and LISTEN back within 10 s of the server accepting connections.
  for (const ms of [...resumeAfterRestart, listenAfterRestart]) expect(ms).toBeLessThanOrEqual(10_000);

  // 2. Down for 60 s; a fifth node calls start() meanwhile (and keeps trying to insert).
  await server.stop('fast');
  const late = startNode('e');
  await waitFor(() => late.events.some((e) => e.event === 'log' && /for 6\d s; it keeps trying/.test(String(e.message))), 'the fifth node to wait 60 s', 90_000);
  expect(late.events.some((e) => e.event === 'ready')).toBe(false);
  await server.start();
  const backAt = Date.now();
  await waitFor(() => late.events.some((e) => e.event === 'ready'), 'the fifth node to start', 15_000);
  const all = [...nodes, late];
  const [resumeAfterOutage, listenAfterOutage] = await Promise.all([resumed(all, backAt, 10_000), listening([...ids, 'e'], backAt, 10_000)]);
  for (const ms of [...resumeAfterOutage, listenAfterOutage]) expect(ms).toBeLessThanOrEqual(10_000);

  // Connections once recovered: a pool of POOL and one LISTEN at most, per node.
  const { rows: held } = await admin.query<{ app: string; n: number }>(
    `SELECT application_name AS app, count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'restart-%' GROUP BY 1`,
  );
  for (const row of held) expect(row.n, `${row.app}'s connections`).toBeLessThanOrEqual(POOL + 1);

  // Stop inserting; every job whose insert succeeded completes, once.
  for (const node of all) node.child.stdin!.write('stop-inserting\n');
  await waitFor(() => all.every((node) => node.events.some((e) => e.event === 'inserts-stopped')), 'the inserts to stop');
  const inserted = all.flatMap((node) => node.events.filter((e) => e.event === 'inserted').map((e) => String(e.id)));
  await waitFor(
    async () => {
      const { rows } = await admin.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM "${SCHEMA}".jobs WHERE id = ANY($1::bigint[]) AND state = 'completed'`,
        [inserted],
      );
      return rows[0]!.n === inserted.length;
    },
    `all ${inserted.length} inserted jobs to complete`,
    60_000,
  );
  const completed = all.flatMap((node) => node.events.filter((e) => e.event === 'complete').map((e) => String(e.id)));
  expect(completed.length - new Set(completed).size, 'jobs completed twice').toBe(0);

  for (const node of all) {
    expect(node.events.filter((e) => e.event === 'unhandled'), `${nameOf(node)}'s unhandled rejections`).toEqual([]);
    expect(node.child.exitCode, `${nameOf(node)} still running`).toBeNull();
  }
  const failedInserts = all.reduce((n, node) => n + node.events.filter((e) => e.event === 'insert-error').length, 0);
  console.log(
    `[restart] ${inserted.length} jobs inserted and completed (${failedInserts} inserts refused while the server was down); ` +
      `after the immediate restart: jobs again after ${resumeAfterRestart.join('/')} ms, every LISTEN back after ${listenAfterRestart} ms; ` +
      `after 60 s down: jobs again after ${resumeAfterOutage.join('/')} ms, every LISTEN back after ${listenAfterOutage} ms; ` +
      `connections per node ${held.map((r) => r.n).join('/')}`,
  );
  for (const node of all) {
    node.child.kill('SIGTERM');
    expect((await node.exited).code, `${nameOf(node)} exits cleanly`).toBe(0);
  }
}, 240_000);
