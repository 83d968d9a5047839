// The `docket` CLI as an operator runs it: `node dist/cli.js` spawned against this file's schema.
// Every command, its --json output checked against what the database holds (read back through
// SQL or the API), the state a job is in after each action, the exit codes (0 ok, 1 failed or
// not found, 2 usage, 3 no database), and colours: never when stdout is not a terminal, and on
// a terminal only without NO_COLOR (run in-process with a stream that says it is a TTY).
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Lifeline, Worker } from '../../src/index.js';
import type { Job, Queue, QueueStats } from '../../src/index.js';
import { run as runInProcess } from '../../src/cli/run.js';
import { drain } from '../../src/testing/index.js';
import { dropSchema, uniqueSchemaName } from '../support/db.js';
import { useSchema, waitFor } from '../support/queue.js';

const execFileAsync = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const CLI = path.join(root, 'dist', 'cli.js');
const db = useSchema('cli');
const freshSchema = uniqueSchemaName('cli_fresh');
afterAll(() => dropSchema(db.url, freshSchema));

const work = new Worker({
  name: 'cli-work',
  queue: 'cli-mail',
  maxAttempts: 1,
  args: z.object({ to: z.string(), fail: z.boolean().optional() }),
  perform: async (job) => {
    await job.progress(50, { step: 'half' });
    if (job.args.fail) throw new Error('mailbox full');
    return { sent: job.args.to };
  },
});
const report = new Worker({ name: 'cli-report', queue: 'cli-reports', args: z.object({ n: z.number() }), perform: () => null });
const beat = new Worker({ name: 'cli-beat', queue: 'cli-node', args: z.object({}), perform: () => null });

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Spawns `node dist/cli.js args` (with DATABASE_URL, without NO_COLOR or the test runner's options). */
async function spawnCli(args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<Run> {
  const childEnv: Record<string, string | undefined> = { ...process.env, DATABASE_URL: db.url, ...env };
  delete childEnv.NODE_OPTIONS;
  if (env.NO_COLOR === undefined) delete childEnv.NO_COLOR;
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, ...args], { env: childEnv, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw error;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The CLI on this file's schema. */
function cli(...args: string[]): Promise<Run> {
  return spawnCli([...args, '--schema', db.schema]);
}

/** The CLI with --json on this file's schema: exit 0 and the parsed output. */
async function cliJson<T>(...args: string[]): Promise<T> {
  const result = await cli(...args, '--json');
  expect(result, result.stderr).toMatchObject({ code: 0 });
  return JSON.parse(result.stdout) as T;
}

async function stateOf(id: string): Promise<string | null> {
  const { rows } = await db.pool.query<{ state: string }>(`SELECT state FROM "${db.schema}".jobs WHERE id = $1`, [id]);
  return rows[0]?.state ?? null;
}

/** Jobs matching a SQL condition, newest first, as the CLI lists them. */
async function idsWhere(where: string, params: unknown[] = []): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>(`SELECT id::text AS id FROM "${db.schema}".jobs WHERE ${where} ORDER BY id DESC`, params);
  return rows.map((r) => r.id);
}

const ESC = '\x1b[';

let admin: Queue;
let node: Queue;
let done: Job;
let failed: Job;

beforeAll(async () => {
  // The CLI under test is the built one.
  await execFileAsync(process.execPath, [path.join(root, 'scripts', 'ensure-built.mjs'), '--quiet'], { cwd: root, timeout: 180_000 });
  // Runs jobs only when drained: what the CLI changes stays as it left it.
  admin = await db.queue({ workers: [work, report], testing: 'manual', queues: { 'cli-mail': 1, 'cli-reports': 1 } });
  done = await admin.insert(work, { to: 'ada@example.com' }, { tags: ['welcome'] });
  failed = await admin.insert(work, { to: 'bob@example.com', fail: true }, { tags: ['welcome', 'retry-me'] });
  await drain(admin, { queues: ['cli-mail'] });
  // A started node (with a leader plugin, so it takes the lease) for `status`.
  node = await db.queue({ workers: [beat], queues: { 'cli-node': 2 }, plugins: [new Lifeline()] });
  await node.start();
  await waitFor(() => node.isLeader, 'the started node to lead');
}, 200_000);

describe('usage (exit 2) and help (exit 0), without a database', () => {
  it('--help lists every command and the exit codes; each command has its own --help', async () => {
    const help = await spawnCli(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['migrate', 'status', 'jobs list', 'jobs get <id>', 'jobs retry', 'jobs cancel', 'jobs discard', 'jobs delete', 'queues pause', 'queues resume', 'queues scale', 'schedules list', 'schedules set', 'schedules remove', 'workflows get', 'workflows cancel', 'workflows retry']) {
      expect(help.stdout).toContain(`  ${command}`);
    }
    expect(help.stdout).toMatch(/Exit codes:\n {2}0 .*\n {2}1 .*\n {2}2 .*\n {2}3 /);
    const list = await spawnCli(['jobs', 'list', '--help'], { DATABASE_URL: '' });
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('Usage: docket jobs list');
    for (const option of ['--queue', '--state', '--worker', '--tag', '--limit', '--after', '--order', '--json', '--database-url', '--schema']) {
      expect(list.stdout).toContain(option);
    }
    expect((await spawnCli(['help', 'queues', 'scale'])).stdout).toContain('Usage: docket queues scale <name> <n|default>');
    expect((await spawnCli(['jobs', '--help'])).stdout).toContain('docket jobs cancel');
  });

  it.each([
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['jobs', 'frob'], 'unknown command "jobs frob"'],
    [[], 'no command given'],
    [['jobs', 'list', '--bogus'], 'unknown option --bogus for "docket jobs list"'],
    [['status', '--queue', 'x'], 'unknown option --queue for "docket status"'],
    [['jobs', 'list', '--state', 'finished'], '--state must be one of held, available'],
    [['jobs', 'list', '--limit', '0'], '--limit must be an integer from 1 to 1000, got "0"'],
    [['jobs', 'list', '--after', 'abc'], '--after must be the cursor'],
    [['jobs', 'list', '--order', 'up'], '--order must be one of desc, asc'],
    [['jobs', 'list', '--limit'], '--limit needs a value'],
    [['jobs', 'get'], 'missing argument: docket jobs get <id>'],
    [['jobs', 'get', 'x1'], 'job id must be a positive integer, got "x1"'],
    [['jobs', 'get', '1', '2'], 'unexpected argument "2"'],
    [['jobs', 'delete'], '"docket jobs delete" needs a job id, a filter'],
    [['jobs', 'retry', '--all', '--queue', 'q'], '--all cannot be combined with filters'],
    [['jobs', 'cancel', '5', '--queue', 'q'], 'give a job id, or filters or --all, not both'],
    [['queues', 'scale', 'q', 'lots'], 'the limit (or "default") must be an integer from 0 to 10000, got "lots"'],
    [['schedules', 'set', 'x', '* * * * *', 'w', '--args', '{nope'], '--args must be JSON'],
    [['status', '--schema', 'bad;name'], 'Invalid schema name "bad;name"'],
  ])('docket %j exits 2 naming the problem', async (args, message) => {
    const result = await spawnCli(args);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it('without DATABASE_URL or --database-url, says how to give one (exit 2)', async () => {
    const result = await spawnCli(['status'], { DATABASE_URL: '' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('set DATABASE_URL or pass --database-url');
  });
});

describe('the database cannot be reached (exit 3)', () => {
  it('reports a closed port on 127.0.0.1 with exit 3, for reads and actions', async () => {
    // A port that was free a moment ago and is closed now: the connect is refused.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    const url = `postgres://postgres:secret@127.0.0.1:${port}/test`;
    for (const args of [['status'], ['jobs', 'retry', '1'], ['migrate', '--json']]) {
      const result = await spawnCli([...args, '--database-url', url]);
      expect(result.code, result.stderr).toBe(3);
      expect(result.stderr).toContain(`cannot connect to postgres://postgres:***@127.0.0.1:${port}/test`);
      expect(result.stderr).toContain('ECONNREFUSED');
      expect(result.stderr).not.toContain('secret');
    }
  });
});

describe('migrate', () => {
  it('creates the tables in a new schema, then finds it up to date', async () => {
    const first = await spawnCli(['migrate', '--schema', freshSchema, '--json']);
    expect(first.code, first.stderr).toBe(0);
    const report = JSON.parse(first.stdout) as { schema: string; applied: number[]; version: number };
    expect(report.schema).toBe(freshSchema);
    expect(report.applied.length).toBeGreaterThan(0);
    expect(report.version).toBe(report.applied.at(-1));
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'jobs_live'`, [freshSchema]);
    expect(rows[0]!.n).toBe(1);
    const again = await spawnCli(['migrate', '--schema', freshSchema]);
    expect(again).toMatchObject({ code: 0, stdout: `schema ${freshSchema} is up to date (version ${report.version})\n` });
  });

  it('on a schema that was never migrated, other commands fail (exit 1) and say to migrate', async () => {
    const result = await spawnCli(['jobs', 'list', '--schema', uniqueSchemaName('cli_none')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/does not exist.*is schema "cli_none_\w+" migrated\? \(docket migrate --schema cli_none_\w+\)/);
  });
});

describe('status', () => {
  it('shows queues with counts, pause and limit, the oldest waiting job, nodes and the leader', async () => {
    await admin.insertMany(report, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    await admin.pauseQueue('cli-reports');
    // A queue the started node does not run: its heartbeat keeps reporting its own limit.
    await admin.scaleQueue('cli-mail', 1);
    const status = await cliJson<{ schema: string; leader: string | null; queues: QueueStats[]; nodes: { id: string; host: string; pid: number; queues: Record<string, number>; silentMs: number; leader: boolean }[] }>('status');
    expect(status.schema).toBe(db.schema);
    expect(status.leader).toBe(node.nodeId);
    // Against the database, read by a Queue of its own.
    const expected = JSON.parse(JSON.stringify(await admin.queueStats())) as QueueStats[];
    expect(status.queues.map((q) => ({ ...q, oldestAvailableMs: null, localConcurrency: null }))).toEqual(
      expected.map((q) => ({ ...q, oldestAvailableMs: null, localConcurrency: null })),
    );
    const reports = status.queues.find((q) => q.name === 'cli-reports')!;
    expect(reports).toMatchObject({ paused: true, concurrency: null, total: 3 });
    expect(reports.counts.available).toBe(3);
    expect(reports.oldestAvailableMs).toBeGreaterThanOrEqual(0);
    expect(status.queues.find((q) => q.name === 'cli-mail')).toMatchObject({ paused: false, concurrency: 1 });
    expect(status.queues.find((q) => q.name === 'cli-mail')!.counts).toMatchObject({ completed: 1, discarded: 1 });
    expect(status.nodes).toEqual([expect.objectContaining({ id: node.nodeId, pid: process.pid, queues: { 'cli-node': 2 }, leader: true })]);

    const text = await cli('status');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`schema ${db.schema} · leader ${node.nodeId} (`);
    expect(text.stdout).toMatch(/QUEUE +STATUS +LIMIT +HELD +AVAILABLE +SCHEDULED +EXECUTING +RETRYABLE +COMPLETED +DISCARDED +CANCELLED +OLDEST WAITING/);
    expect(text.stdout).toMatch(/cli-reports +paused +default +0 +3 +0 +0 +0 +0 +0 +0 +\d+(ms|s|m \d\ds)\n/);
    expect(text.stdout).toMatch(/cli-mail +running +1 /);
    expect(text.stdout).toMatch(new RegExp(`${node.nodeId} +\\S+ +${process.pid} +cli-node:2 +.* ago +\\d+(ms|s) +leader`));
    // Piped: no escape codes, even though nothing asked for NO_COLOR.
    expect(text.stdout).not.toContain(ESC);
    await admin.resumeQueue('cli-reports');
    await admin.scaleQueue('cli-mail', null);
  });

  it('colours on a terminal only, and never with NO_COLOR', async () => {
    const capture = async (env: Record<string, string | undefined>): Promise<string> => {
      const chunks: string[] = [];
      const stdout = { isTTY: true, write: (text: string) => chunks.push(text) };
      const code = await runInProcess(['status', '--schema', db.schema], { stdout, stderr: { write: () => true }, env: { DATABASE_URL: db.url, ...env } });
      expect(code).toBe(0);
      return chunks.join('');
    };
    expect(await capture({})).toContain(`${ESC}1m`);
    const plain = await capture({ NO_COLOR: '1' });
    expect(plain).not.toContain(ESC);
    expect(plain).toContain(`leader ${node.nodeId}`);
  });
});

describe('jobs', () => {
  it('list filters by queue, state, worker, tag and id, as the database does', async () => {
    const byQueue = await cliJson<{ jobs: Job[]; next: string | null }>('jobs', 'list', '--queue', 'cli-reports');
    expect(byQueue.jobs.map((j) => j.id)).toEqual(await idsWhere(`queue = 'cli-reports'`));
    expect(byQueue.next).toBeNull();
    const byState = await cliJson<{ jobs: Job[] }>('jobs', 'list', '--state', 'completed,discarded', '--worker', 'cli-work');
    expect(byState.jobs.map((j) => j.id)).toEqual([failed.id, done.id]);
    const byTags = await cliJson<{ jobs: Job[] }>('jobs', 'list', '--tag', 'welcome', '--tag', 'retry-me');
    expect(byTags.jobs.map((j) => j.id)).toEqual([failed.id]);
    const byId = await cliJson<{ jobs: Job[] }>('jobs', 'list', '--id', done.id);
    expect(byId.jobs).toEqual([JSON.parse(JSON.stringify(await admin.getJob(done.id)))]);
    const none = await cli('jobs', 'list', '--queue', 'no-such-queue');
    expect(none).toMatchObject({ code: 0, stdout: 'no jobs match\n' });
  });

  it('list pages by keyset: --limit, the next cursor, --after, --order', async () => {
    const all = await idsWhere('true');
    expect(all.length).toBeGreaterThanOrEqual(5);
    const seen: string[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const page: { jobs: Job[]; next: string | null } = await cliJson('jobs', 'list', '--limit', '2', ...(after === null ? [] : ['--after', after]));
      seen.push(...page.jobs.map((j) => j.id));
      after = page.next;
      if (after === null) break;
    }
    expect(seen).toEqual(all);
    const asc = await cliJson<{ jobs: Job[] }>('jobs', 'list', '--order', 'asc', '--limit', '2');
    expect(asc.jobs.map((j) => j.id)).toEqual([...all].reverse().slice(0, 2));

    const text = await cli('jobs', 'list', '--limit', '2');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ *ID +QUEUE +WORKER +STATE +ATTEMPT +INSERTED +DUE +TAGS +LAST ERROR\n/);
    expect(text.stdout).toContain(`next page: --after ${all[1]}\n`);
    expect(text.stdout).not.toContain(ESC);
  });

  it('get shows args, result, errors and progress; an unknown id exits 1', async () => {
    const ok = await cliJson<Job>('jobs', 'get', done.id);
    expect(ok).toMatchObject({ id: done.id, state: 'completed', args: { to: 'ada@example.com' }, result: { sent: 'ada@example.com' }, lastProgress: { percent: 50, data: { step: 'half' } } });
    const bad = await cliJson<Job>('jobs', 'get', failed.id);
    expect(bad).toMatchObject({ state: 'discarded', errors: [{ attempt: 1, message: 'mailbox full' }] });
    expect(bad).toEqual(JSON.parse(JSON.stringify(await admin.getJob(failed.id))));

    const text = await cli('jobs', 'get', failed.id);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`job ${failed.id}  cli-work on cli-mail  discarded`);
    expect(text.stdout).toContain('"to": "bob@example.com"');
    expect(text.stdout).toMatch(/#1 \S+ {2}Error: mailbox full\n +at /);
    expect(text.stdout).toMatch(/progress +50% at \S+ {2}\{"step":"half"\}/);

    const missing = await cli('jobs', 'get', '999999999');
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toBe('docket: job 999999999 not found\n');
  });

  it('retry, cancel, discard and delete one job by id, and say when the job could not be changed', async () => {
    const retried = await cliJson<Job>('jobs', 'retry', failed.id);
    expect(retried.state).toBe('available');
    expect(await stateOf(failed.id)).toBe('available');

    const cancel = await cli('jobs', 'cancel', failed.id, '--reason', 'customer left');
    expect(cancel).toMatchObject({ code: 0, stdout: `job ${failed.id} (cli-work on cli-mail) cancelled\n` });
    expect(await stateOf(failed.id)).toBe('cancelled');
    expect((await admin.getJob(failed.id))!.errors.at(-1)!.message).toBe('customer left');

    // A completed job cannot be cancelled: exit 1, the job as it is on stdout, unchanged in the database.
    const refused = await cli('jobs', 'cancel', done.id, '--json');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`docket: job ${done.id} was not cancelled: it is completed\n`);
    expect((JSON.parse(refused.stdout) as Job).state).toBe('completed');
    expect(await stateOf(done.id)).toBe('completed');

    const fresh = await admin.insert(report, { n: 9 });
    expect((await cli('jobs', 'discard', fresh.id)).code).toBe(0);
    expect(await stateOf(fresh.id)).toBe('discarded');
    const deleted = await cliJson<Job>('jobs', 'delete', fresh.id);
    expect(deleted.id).toBe(fresh.id);
    expect(await stateOf(fresh.id)).toBeNull();
    const again = await cli('jobs', 'delete', fresh.id);
    expect(again).toMatchObject({ code: 1, stderr: `docket: job ${fresh.id} not found\n` });
    expect((await cli('jobs', 'retry', '999999999')).code).toBe(1);
  });

  it('acts on every job matching filters, and refuses a bulk action without one', async () => {
    const batch = await admin.insertMany(report, [{ n: 10 }, { n: 11 }, { n: 12 }], { tags: ['batch'] });
    const total = await db.count();
    // No filter, no --all: refused before anything is touched.
    expect((await cli('jobs', 'delete')).code).toBe(2);
    expect(await db.count()).toBe(total);

    expect(await cliJson('jobs', 'cancel', '--tag', 'batch', '--reason', 'campaign stopped')).toEqual({ count: 3 });
    for (const job of batch) expect(await stateOf(job.id)).toBe('cancelled');
    const retried = await cli('jobs', 'retry', '--queue', 'cli-reports', '--state', 'cancelled');
    expect(retried).toMatchObject({ code: 0, stdout: 'retried 3 jobs\n' });
    for (const job of batch) expect(await stateOf(job.id)).toBe('available');
    expect(await cliJson('jobs', 'discard', '--id', `${batch[0]!.id},${batch[1]!.id}`)).toEqual({ count: 2 });
    expect(await idsWhere(`'batch' = ANY(tags) AND state = 'discarded'`)).toEqual([batch[1]!.id, batch[0]!.id]);
    expect(await cliJson('jobs', 'delete', '--tag', 'batch', '--state', 'discarded')).toEqual({ count: 2 });
    expect(await idsWhere(`'batch' = ANY(tags)`)).toEqual([batch[2]!.id]);
  });
});

describe('queues', () => {
  it('pause, resume and scale, stored for every node', async () => {
    const paused = await cliJson<QueueStats>('queues', 'pause', 'cli-mail');
    expect(paused).toMatchObject({ name: 'cli-mail', paused: true });
    expect((await admin.queueStats()).find((q) => q.name === 'cli-mail')!.paused).toBe(true);
    expect(await cli('queues', 'resume', 'cli-mail')).toMatchObject({ code: 0, stdout: 'queue cli-mail resumed\n' });
    expect((await admin.queueStats()).find((q) => q.name === 'cli-mail')!.paused).toBe(false);

    expect(await cliJson<QueueStats>('queues', 'scale', 'cli-mail', '3')).toMatchObject({ name: 'cli-mail', concurrency: 3 });
    expect((await admin.queueStats()).find((q) => q.name === 'cli-mail')!.concurrency).toBe(3);
    expect((await cli('queues', 'scale', 'cli-mail', 'default')).stdout).toBe('queue cli-mail: each node uses its own concurrency\n');
    expect((await admin.queueStats()).find((q) => q.name === 'cli-mail')!.concurrency).toBeNull();

    const badName = await cli('queues', 'pause', 'no spaces allowed');
    expect(badName.code).toBe(2);
    expect(badName.stderr).toContain('queue name must be');
  });
});

describe('schedules', () => {
  it('set (with args and a time zone), list and remove', async () => {
    const set = await cliJson<{ name: string; expression: string; timezone: string; worker: string; args: unknown; opts: unknown }>(
      'schedules', 'set', 'nightly-report', '0 3 * * *', 'cli-report', '--args', '{"n":7}', '--timezone', 'Europe/Paris', '--priority', '2', '--tag', 'nightly',
    );
    expect(set).toMatchObject({ name: 'nightly-report', expression: '0 3 * * *', timezone: 'Europe/Paris', worker: 'cli-report', args: { n: 7 }, opts: { priority: 2, tags: ['nightly'] } });
    expect(await admin.schedules.get('nightly-report')).toMatchObject({ expression: '0 3 * * *', timezone: 'Europe/Paris', worker: 'cli-report', args: { n: 7 } });

    const list = await cliJson<{ name: string }[]>('schedules', 'list');
    expect(list).toEqual(JSON.parse(JSON.stringify(await admin.schedules.list())));
    const text = await cli('schedules', 'list');
    expect(text.stdout).toMatch(/NAME +EXPRESSION +TIMEZONE +WORKER +ARGS +NEXT +LAST +MISSED\nnightly-report +0 3 \* \* \* +Europe\/Paris +cli-report +\{"n":7\}/);

    const badExpression = await cli('schedules', 'set', 'broken', 'every tuesday', 'cli-report');
    expect(badExpression.code).toBe(2);
    expect(await admin.schedules.get('broken')).toBeNull();

    expect(await cliJson('schedules', 'remove', 'nightly-report')).toEqual({ removed: 'nightly-report' });
    expect(await admin.schedules.get('nightly-report')).toBeNull();
    const again = await cli('schedules', 'remove', 'nightly-report');
    expect(again).toMatchObject({ code: 1, stderr: 'docket: no schedule named "nightly-report"\n' });
  });
});

describe('workflows', () => {
  it('get, cancel and retry a workflow; an unknown id exits 1', async () => {
    const run = await admin.workflow('cli-flow', { tags: ['ops'] }).add('first', report, { n: 1 }).add('second', report, { n: 2 }, { deps: ['first'] }).insert();
    const got = await cliJson<{ id: string; state: string; steps: { name: string; deps: string[]; job: Job }[] }>('workflows', 'get', run.id);
    expect(got).toEqual(JSON.parse(JSON.stringify(await admin.getWorkflow(run.id))));
    expect(got.steps.map((s) => [s.name, s.job.state, s.deps])).toEqual([['first', 'available', []], ['second', 'held', ['first']]]);
    const text = await cli('workflows', 'get', run.id);
    expect(text.stdout).toContain(`workflow ${run.id}  cli-flow  running`);
    expect(text.stdout).toMatch(/second +\d+ +cli-report +held +0\/20 +first/);

    const cancelled = await cliJson<{ state: string }>('workflows', 'cancel', run.id, '--reason', 'not needed');
    expect(cancelled.state).toBe('cancelled');
    expect((await admin.getWorkflow(run.id))!.steps.map((s) => s.job.state)).toEqual(['cancelled', 'cancelled']);
    const retried = await cliJson<{ state: string }>('workflows', 'retry', run.id);
    expect(retried.state).toBe('running');
    expect((await admin.getWorkflow(run.id))!.steps.map((s) => s.job.state)).toEqual(['available', 'held']);

    for (const verb of ['get', 'cancel', 'retry']) {
      expect(await cli('workflows', verb, '999999999')).toMatchObject({ code: 1, stderr: 'docket: workflow 999999999 not found\n' });
    }
  });
});

describe('jobs delete --all', () => {
  it('deletes every job when asked explicitly', async () => {
    const before = await db.count();
    expect(before).toBeGreaterThan(0);
    expect(await cliJson('jobs', 'delete', '--all')).toEqual({ count: before });
    expect(await db.count()).toBe(0);
  });
});
