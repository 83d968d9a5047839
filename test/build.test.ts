// The built package, as a user gets it: `npm run build`, then plain Node (no tsx, no vitest)
// resolves `docket` by package name from a project of its own, through `exports`, from ESM and
// from CJS. Both builds must expose the same API as src/index.ts, and the ESM build must work
// end to end against the test database.
//
// The package as published: `npm pack` ships only dist/, migrations/, README.md and package.json,
// within a size limit; the declarations carry nothing tagged `@internal`; the bundles inline
// none of pg, postgres or zod, and import neither driver until it is used: `pg` and `postgres`
// are optional peers, so a project that installed one of them (or none) must still load docket
// and get a ConfigError naming the package it lacks.
//
// The build runs in a scratch copy of the package (its sources, scripts, migrations and configs,
// with node_modules linked): `npm run build` regenerates src/migrate/bundled.ts and cleans dist/,
// and doing that in the working tree would rewrite a source file while other test files are
// loading it.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as source from '../src/index.js';
import * as prometheusSource from '../src/prometheus/index.js';
import * as opentelemetrySource from '../src/opentelemetry/index.js';
import * as dashboardSource from '../src/dashboard/index.js';
import { databaseUrl, dropSchema, uniqueSchemaName } from './support/db.js';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const url = databaseUrl();
const schema = uniqueSchemaName('build');
let scratch: string;
/** The copy of the package that is built. */
let pkg: string;
/** The consumer project that depends on it. */
let project: string;

// Plain Node: nothing of the test runner's loaders or options.
const env = { ...process.env };
delete env.NODE_OPTIONS;
// Nor a NODE_PATH, through which a project without a driver could still resolve it.
delete env.NODE_PATH;

/** `{ name: typeof value }` of a module's exports, sorted by name. */
function shape(mod: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.keys(mod)
      .sort()
      .map((k) => [k, typeof mod[k]]),
  );
}

const SHAPE_JS = `(mod) => Object.fromEntries(Object.keys(mod).sort().map((k) => [k, typeof mod[k]]))`;

const ESM_SCRIPT = `
import * as docket from 'docket';
import { Queue, Worker, WorkerResults } from 'docket';
import { z } from 'zod';

const shape = ${SHAPE_JS};
const [url, schema] = process.argv.slice(2);
const worker = new Worker({
  name: 'built-package',
  args: z.object({ n: z.number() }),
  perform: async (job) => WorkerResults.ok({ doubled: job.args.n * 2 }),
});
const queue = new Queue({ connection: url, schema, workers: [worker], pollInterval: 100 });
const migration = await queue.migrate();
const completed = new Promise((resolve) => queue.on('job:complete', ({ job }) => resolve(job)));
await queue.start();
const inserted = await queue.insert(worker, { n: 21 });
const job = await completed;
const stored = await queue.getJob(inserted.id);
await queue.stop();
// No process.exit: the process must end by itself once the queue stopped.
console.log(JSON.stringify({
  resolved: import.meta.resolve('docket'),
  exports: shape(docket),
  migration,
  sameJob: job.id === inserted.id,
  result: job.result,
  stored: { state: stored.state, attempt: stored.attempt, result: stored.result },
}));
`;

const CJS_SCRIPT = `
const docket = require('docket');
const { z } = require('zod');
const shape = ${SHAPE_JS};
const worker = new docket.Worker({ name: 'cjs', args: z.object({}), perform: () => null });
let configError = null;
try {
  new docket.Queue({ connection: 42 });
} catch (error) {
  configError = { isConfigError: error instanceof docket.ConfigError, isDocketError: error instanceof docket.DocketError, code: error.code };
}
console.log(JSON.stringify({
  resolved: require.resolve('docket'),
  exports: shape(docket),
  worker: { name: worker.name, queue: worker.queue, maxAttempts: worker.maxAttempts },
  ok: docket.WorkerResults.ok(1).kind,
  states: docket.JOB_STATES,
  configError,
}));
`;

// docket/testing from the build: a separate entry with no runtime copy of docket, which must
// drive a Queue created by the main entry (through the registered symbol), in ESM and CJS.
const TESTING_SCRIPT = (cjs: boolean): string => `
${cjs ? `const { Queue, Worker } = require('docket');\nconst { drain, assertEnqueued, refuteEnqueued } = require('docket/testing');\nconst { z } = require('zod');` : `import { Queue, Worker } from 'docket';\nimport { drain, assertEnqueued, refuteEnqueued } from 'docket/testing';\nimport { z } from 'zod';`}
const [url, schema] = process.argv.slice(2);
const greet = new Worker({ name: 'greet-${cjs ? 'cjs' : 'esm'}', args: z.object({ to: z.string() }), perform: (job) => 'hi ' + job.args.to });
const queue = new Queue({ connection: url, schema, workers: [greet], testing: 'manual' });
(async () => {
  await queue.migrate();
  await queue.insert(greet, { to: 'ada' });
  const enqueued = await assertEnqueued(queue, { worker: greet, args: { to: 'ada' } });
  const drained = await drain(queue);
  await refuteEnqueued(queue, { worker: greet });
  await queue.stop();
  console.log(JSON.stringify({ enqueued: enqueued.args, completed: drained.completed, result: drained.jobs[0].job.result }));
})();
`;

// docket/prometheus from the build, in ESM and CJS: its own entry (prom-client stays external),
// registering its metrics in the app's registry for a Queue of the main entry.
const PROMETHEUS_SCRIPT = (cjs: boolean): string => `
${cjs ? `const { Queue } = require('docket');\nconst prometheus = require('docket/prometheus');\nconst { Registry } = require('prom-client');` : `import { Queue } from 'docket';\nimport * as prometheus from 'docket/prometheus';\nimport { Registry } from 'prom-client';`}
const shape = ${SHAPE_JS};
const [url, schema] = process.argv.slice(2);
async function main() {
  const queue = new Queue({ connection: url, schema });
  await queue.migrate();
  const registry = new Registry();
  const metrics = prometheus.createPrometheusMetrics({ queue, registry, prefix: 'built_' });
  const text = await registry.metrics();
  metrics.close();
  await queue.stop();
  console.log(JSON.stringify({
    resolved: ${cjs ? "require.resolve('docket/prometheus')" : "import.meta.resolve('docket/prometheus')"},
    exports: shape(prometheus),
    scraped: [...text.matchAll(/^# TYPE (\\S+) /gm)].map((m) => m[1]),
    left: registry.getMetricsAsArray().length,
  }));
}
main();
`;

// docket/opentelemetry from the build, in ESM and CJS: its own entry (@opentelemetry/api stays
// external), whose plugin extends the main entry's own Plugin class (the build leaves its import
// of docket as an import of the package) and is taken by a Queue of the main entry. No SDK is
// registered: the API is a no-op and the job's meta stays empty.
const OPENTELEMETRY_SCRIPT = (cjs: boolean): string => `
${cjs ? `const { Queue, Plugin, Worker } = require('docket');\nconst opentelemetry = require('docket/opentelemetry');\nconst { z } = require('zod');` : `import { Queue, Plugin, Worker } from 'docket';\nimport * as opentelemetry from 'docket/opentelemetry';\nimport { z } from 'zod';`}
const shape = ${SHAPE_JS};
const [url, schema] = process.argv.slice(2);
async function main() {
  const plugin = new opentelemetry.OpenTelemetry();
  const worker = new Worker({ name: 'otel-built', args: z.object({}), perform: async () => 1 });
  const queue = new Queue({ connection: url, schema, workers: [worker], plugins: [plugin] });
  await queue.migrate();
  const job = await queue.insert(worker, {});
  await queue.stop();
  console.log(JSON.stringify({
    resolved: ${cjs ? "require.resolve('docket/opentelemetry')" : "import.meta.resolve('docket/opentelemetry')"},
    exports: shape(opentelemetry),
    isPlugin: plugin instanceof Plugin,
    meta: job.meta,
  }));
}
main();
`;

// docket/dashboard from the build, in ESM and CJS: its own entry, importing the main one as the
// package (so its ConfigError is the app's), serving its page and API over node:http on
// 127.0.0.1 for a Queue of the main entry.
const DASHBOARD_SCRIPT = (cjs: boolean): string => `
${cjs ? `const { Queue, ConfigError } = require('docket');\nconst dashboard = require('docket/dashboard');\nconst { createServer } = require('node:http');` : `import { Queue, ConfigError } from 'docket';\nimport * as dashboard from 'docket/dashboard';\nimport { createServer } from 'node:http';`}
const shape = ${SHAPE_JS};
const [url, schema] = process.argv.slice(2);
async function main() {
  const queue = new Queue({ connection: url, schema });
  await queue.migrate();
  let refused = null;
  try {
    dashboard.createDashboard({ queue });
  } catch (error) {
    refused = { isConfigError: error instanceof ConfigError, code: error.code };
  }
  const handler = dashboard.createDashboard({ queue, auth: (req) => req.headers['x-key'] === 'k' });
  const server = createServer((req, res) => handler(req, res));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = 'http://127.0.0.1:' + server.address().port;
  const denied = (await fetch(base + '/api/queues')).status;
  const page = await fetch(base + '/', { headers: { 'x-key': 'k' } });
  const html = await page.text();
  const queues = await (await fetch(base + '/api/queues', { headers: { 'x-key': 'k' } })).json();
  server.close();
  await queue.stop();
  console.log(JSON.stringify({
    resolved: ${cjs ? "require.resolve('docket/dashboard')" : "import.meta.resolve('docket/dashboard')"},
    exports: shape(dashboard),
    refused,
    denied,
    page: { status: page.status, csp: page.headers.get('content-security-policy').split(';')[0], script: html.includes('<script nonce=') },
    queues: Array.isArray(queues.queues),
  }));
}
main();
`;

// In a project without @opentelemetry/api: docket loads, and only docket/opentelemetry fails,
// naming the missing package.
const OPENTELEMETRY_ABSENT_SCRIPT = (cjs: boolean): string => `
${cjs ? "const docket = require('docket');" : "import * as docket from 'docket';"}
const installed = (name) => { try { ${cjs ? 'require.resolve(name)' : 'import.meta.resolve(name)'}; return true; } catch { return false; } };
async function main() {
  let otel = 'loaded';
  try {
    ${cjs ? "require('docket/opentelemetry');" : "await import('docket/opentelemetry');"}
  } catch (error) {
    otel = { code: error.code, namesTheApi: error.message.includes('@opentelemetry/api') };
  }
  console.log(JSON.stringify({ queue: typeof docket.Queue, api: installed('@opentelemetry/api'), otel }));
}
main();
`;

// Thread workers from the build, as ESM and as CJS: the pool must find dist/thread-entry.js (or
// .cjs) next to the bundle, the thread must import the app's module and find its worker, a
// timeout must terminate a spinning thread, and the process must end by itself after stop().
const THREAD_WORKERS = (cjs: boolean): string => `
${cjs ? `const { isMainThread } = require('node:worker_threads');\nconst { Worker, WorkerResults } = require('docket');\nconst { z } = require('zod');` : `import { isMainThread } from 'node:worker_threads';\nimport { Worker, WorkerResults } from 'docket';\nimport { z } from 'zod';`}
const thread = { module: ${cjs ? '__filename' : 'import.meta.url'} };
const queue = '${cjs ? 'cjs' : 'esm'}-threads';
const fib = (n) => (n < 2 ? n : fib(n - 1) + fib(n - 2));
${cjs ? 'exports.fibonacci =' : 'export const fibonacci ='} new Worker({
  name: queue + '-fib', queue, args: z.object({ n: z.number() }), thread,
  perform: (job) => (job.args.n < 0 ? WorkerResults.discard('negative') : { fib: fib(job.args.n), isMainThread }),
});
${cjs ? 'exports.stuck =' : 'export const stuck ='} new Worker({
  name: queue + '-stuck', queue, args: z.object({}), thread, timeout: 200, maxAttempts: 1,
  perform: () => { for (;;) {} },
});
`;

const THREADS_SCRIPT = (cjs: boolean): string => `
${cjs ? `const { Queue } = require('docket');\nconst { fibonacci, stuck } = require('./thread-workers.cjs');` : `import { Queue } from 'docket';\nimport { fibonacci, stuck } from './thread-workers.mjs';`}
async function main() {
  const [url, schema] = process.argv.slice(2);
  const queue = new Queue({ connection: url, schema, workers: [fibonacci, stuck], queues: { [stuck.queue]: 2 }, threads: { size: 1 }, pollInterval: 100 });
  await queue.migrate();
  const ended = new Set();
  const waiters = [];
  for (const event of ['job:complete', 'job:discard']) {
    queue.on(event, ({ job }) => { ended.add(job.id); for (const wake of waiters.splice(0)) wake(); });
  }
  const settled = async (id) => { while (!ended.has(id)) await new Promise((resolve) => waiters.push(resolve)); };
  await queue.start();
  const jobs = [await queue.insert(stuck, {}), await queue.insert(fibonacci, { n: 20 }), await queue.insert(fibonacci, { n: -1 })];
  for (const job of jobs) await settled(job.id);
  const [spun, fib, negative] = await Promise.all(jobs.map((job) => queue.getJob(job.id)));
  await queue.stop();
  // No process.exit: the process must end by itself, so no thread may be left.
  console.log(JSON.stringify({
    stuck: { state: spun.state, error: spun.errors[0].name },
    fib: { state: fib.state, result: fib.result },
    negative: { state: negative.state, reason: negative.errors[0].message },
  }));
}
${cjs ? 'main();' : 'await main();'}
`;

// Run in projects that installed docket with one driver or none (see bareProject): which drivers
// the project can resolve, what a Queue on a connection string and on a postgres.js-shaped `sql`
// does, and, with `use`, a job run end to end on that driver (`pg`: a connection string;
// `postgres`: a postgres.js instance the script creates).
const DRIVER_SCRIPT = (cjs: boolean): string => `
${cjs ? `const { Queue, Worker, ConfigError } = require('docket');\nconst { z } = require('zod');` : `import { Queue, Worker, ConfigError } from 'docket';\nimport { z } from 'zod';`}
const [url, schema, use] = process.argv.slice(2);
const installed = (name) => { try { ${cjs ? 'require.resolve(name)' : 'import.meta.resolve(name)'}; return true; } catch { return false; } };
// What docket recognises as a postgres.js \`sql\` (a function with unsafe()), without the package.
const postgresShaped = Object.assign(() => {}, { unsafe() {}, begin() {}, options: {} });
const attempt = (connection) => {
  try {
    new Queue({ connection, schema });
    return 'ok';
  } catch (error) {
    return { configError: error instanceof ConfigError, message: error.message };
  }
};
async function main() {
  const out = { installed: { pg: installed('pg'), postgres: installed('postgres') }, connectionString: attempt(url), postgresShaped: attempt(postgresShaped) };
  if (use) {
    const queue = 'only-' + use + '-${cjs ? 'cjs' : 'esm'}';
    const worker = new Worker({ name: queue, queue, args: z.object({ n: z.number() }), perform: (job) => job.args.n + 1 });
    const sql = use === 'postgres' ? ${cjs ? "require('postgres')" : "(await import('postgres')).default"}(url, { onnotice() {} }) : undefined;
    const q = new Queue({ connection: sql ?? url, schema, workers: [worker], queues: { [queue]: 1 }, pollInterval: 100 });
    await q.migrate();
    const done = new Promise((resolve) => q.on('job:complete', ({ job }) => resolve(job.result)));
    await q.start();
    await q.insert(worker, { n: 1 });
    out.result = await done;
    await q.stop();
    await sql?.end();
  }
  console.log(JSON.stringify(out));
}
main();
`;

/** Projects by the driver they installed: 'none', 'pg', 'postgres'. */
const bare: Record<string, string> = {};

// A project that installed docket and only `driver` of the two: docket is a copy of the built
// package (not a link, which Node would resolve to where the repository's node_modules has
// both drivers) next to links to its dependencies, zod and that driver.
async function bareProject(driver: 'none' | 'pg' | 'postgres'): Promise<string> {
  const dir = path.join(scratch, `only-${driver}`);
  const modules = path.join(dir, 'node_modules');
  await mkdir(path.join(modules, 'docket'), { recursive: true });
  await cp(path.join(pkg, 'dist'), path.join(modules, 'docket', 'dist'), { recursive: true });
  await cp(path.join(pkg, 'package.json'), path.join(modules, 'docket', 'package.json'));
  for (const dep of ['cron-parser', 'eventemitter3', 'zod', ...(driver === 'none' ? [] : [driver])]) {
    await symlink(path.join(repoRoot, 'node_modules', dep), path.join(modules, dep), 'dir');
  }
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: `only-${driver}`, private: true }));
  await writeFile(path.join(dir, 'driver.mjs'), DRIVER_SCRIPT(false));
  await writeFile(path.join(dir, 'driver.cjs'), DRIVER_SCRIPT(true));
  await writeFile(path.join(dir, 'otel-absent.mjs'), OPENTELEMETRY_ABSENT_SCRIPT(false));
  await writeFile(path.join(dir, 'otel-absent.cjs'), OPENTELEMETRY_ABSENT_SCRIPT(true));
  return dir;
}

beforeAll(async () => {
  scratch = await realpath(await mkdtemp(path.join(os.tmpdir(), 'docket-build-')));
  pkg = path.join(scratch, 'docket');
  // README.md and LICENSE: what `npm pack` ships besides dist/ and migrations/.
  for (const entry of ['package.json', 'tsconfig.json', 'tsconfig.base.json', 'tsup.config.ts', 'scripts', 'migrations', 'src', 'README.md', 'LICENSE']) {
    if (existsSync(path.join(repoRoot, entry))) await cp(path.join(repoRoot, entry), path.join(pkg, entry), { recursive: true });
  }
  await symlink(path.join(repoRoot, 'node_modules'), path.join(pkg, 'node_modules'), 'dir');
  // tsup with declarations: about half a minute idle, several times that beside a database-heavy
  // test file on a 2-core CI machine.
  await run('npm', ['run', 'build'], { cwd: pkg, env, timeout: 300_000 });

  // A project of its own that depends on docket (linked to the built copy) and on zod.
  project = path.join(scratch, 'consumer');
  await mkdir(path.join(project, 'node_modules'), { recursive: true });
  await symlink(pkg, path.join(project, 'node_modules', 'docket'), 'dir');
  await symlink(path.join(repoRoot, 'node_modules', 'zod'), path.join(project, 'node_modules', 'zod'), 'dir');
  await symlink(path.join(repoRoot, 'node_modules', 'prom-client'), path.join(project, 'node_modules', 'prom-client'), 'dir');
  await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, dependencies: { docket: '*' } }));
  await writeFile(path.join(project, 'esm.mjs'), ESM_SCRIPT);
  await writeFile(path.join(project, 'cjs.cjs'), CJS_SCRIPT);
  await writeFile(path.join(project, 'thread-workers.mjs'), THREAD_WORKERS(false));
  await writeFile(path.join(project, 'threads.mjs'), THREADS_SCRIPT(false));
  await writeFile(path.join(project, 'thread-workers.cjs'), THREAD_WORKERS(true));
  await writeFile(path.join(project, 'threads.cjs'), THREADS_SCRIPT(true));
  await writeFile(path.join(project, 'testing.mjs'), TESTING_SCRIPT(false));
  await writeFile(path.join(project, 'testing.cjs'), TESTING_SCRIPT(true));
  await writeFile(path.join(project, 'prometheus.mjs'), PROMETHEUS_SCRIPT(false));
  await writeFile(path.join(project, 'prometheus.cjs'), PROMETHEUS_SCRIPT(true));
  await writeFile(path.join(project, 'opentelemetry.mjs'), OPENTELEMETRY_SCRIPT(false));
  await writeFile(path.join(project, 'opentelemetry.cjs'), OPENTELEMETRY_SCRIPT(true));
  await writeFile(path.join(project, 'dashboard.mjs'), DASHBOARD_SCRIPT(false));
  await writeFile(path.join(project, 'dashboard.cjs'), DASHBOARD_SCRIPT(true));
  for (const driver of ['none', 'pg', 'postgres'] as const) bare[driver] = await bareProject(driver);
}, 330_000); // the build's 300 s and the copies around it

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
  await dropSchema(url, schema);
});

async function node(script: string, ...args: string[]): Promise<Record<string, unknown>> {
  return nodeIn(project, script, ...args);
}

async function nodeIn(cwd: string, script: string, ...args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, [script, ...args], { cwd, env, timeout: 30_000 });
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines.at(-1)!) as Record<string, unknown>;
}

describe('the built package', () => {
  it('has every file package.json points to', () => {
    const files = ['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts', 'dist/thread-entry.js', 'dist/thread-entry.cjs'];
    for (const file of [...files, 'dist/testing.js', 'dist/testing.cjs', 'dist/testing.d.ts', 'dist/testing.d.cts', 'dist/prometheus.js', 'dist/prometheus.cjs', 'dist/prometheus.d.ts', 'dist/prometheus.d.cts', 'dist/opentelemetry.js', 'dist/opentelemetry.cjs', 'dist/opentelemetry.d.ts', 'dist/opentelemetry.d.cts', 'dist/dashboard.js', 'dist/dashboard.cjs', 'dist/dashboard.d.ts', 'dist/dashboard.d.cts']) {
      expect(existsSync(path.join(pkg, file)), file).toBe(true);
    }
  });

  it('works from a plain Node ESM project, end to end against the database', async () => {
    const out = await node('esm.mjs', url, schema);
    expect(out.resolved).toBe(pathToFileURL(path.join(pkg, 'dist/index.js')).href);
    expect(out.exports).toEqual(shape(source as unknown as Record<string, unknown>));
    const versions = readdirSync(new URL('../migrations/', import.meta.url))
      .filter((f) => f.endsWith('.sql'))
      .map((f) => Number(f.slice(0, 4)))
      .sort((a, b) => a - b);
    expect(out.migration).toMatchObject({ applied: versions, version: versions.at(-1) });
    expect(out.sameJob).toBe(true);
    expect(out.result).toEqual({ doubled: 42 });
    expect(out.stored).toEqual({ state: 'completed', attempt: 1, result: { doubled: 42 } });
  });

  it('works from require() (CJS) with the same exports as the ESM build', async () => {
    const [cjs, esm] = await Promise.all([node('cjs.cjs'), import(pathToFileURL(path.join(pkg, 'dist/index.js')).href) as Promise<Record<string, unknown>>]);
    expect(cjs.resolved).toBe(path.join(pkg, 'dist/index.cjs'));
    expect(cjs.exports).toEqual(shape(esm));
    expect(cjs.exports).toEqual(shape(source as unknown as Record<string, unknown>));
    expect(Object.keys(cjs.exports as object)).toEqual(
      expect.arrayContaining(['Queue', 'Worker', 'WorkerResults', 'ShutdownError', 'QueueStateError', 'JOB_STATES']),
    );
    expect(cjs.worker).toEqual({ name: 'cjs', queue: 'default', maxAttempts: 20 });
    expect(cjs.ok).toBe('ok');
    expect(cjs.states).toEqual([...source.JOB_STATES]);
    expect(cjs.configError).toEqual({ isConfigError: true, isDocketError: true, code: 'DOCKET_CONFIG' });
  });

  it.each(['testing.mjs', 'testing.cjs'])('serves docket/testing (%s): matchers and drain() on a Queue of the main entry', async (script) => {
    const out = await node(script, url, schema);
    expect(out).toEqual({ enqueued: { to: 'ada' }, completed: 1, result: 'hi ada' });
  });

  it.each(['prometheus.mjs', 'prometheus.cjs'])('serves docket/prometheus (%s): metrics of a Queue of the main entry in the app\'s registry', async (script) => {
    const out = await node(script, url, schema);
    const file = path.join(pkg, script.endsWith('.cjs') ? 'dist/prometheus.cjs' : 'dist/prometheus.js');
    expect(out.resolved).toBe(script.endsWith('.cjs') ? file : pathToFileURL(file).href);
    expect(out.exports).toEqual(shape(prometheusSource as unknown as Record<string, unknown>));
    expect(out.scraped).toEqual(prometheusSource.METRIC_NAMES.map((name) => `built_${name}`));
    expect(out.left).toBe(0);
  });

  it.each(['opentelemetry.mjs', 'opentelemetry.cjs'])('serves docket/opentelemetry (%s): a Plugin of the main entry, taken by its Queue', async (script) => {
    const out = await node(script, url, schema);
    const file = path.join(pkg, script.endsWith('.cjs') ? 'dist/opentelemetry.cjs' : 'dist/opentelemetry.js');
    expect(out.resolved).toBe(script.endsWith('.cjs') ? file : pathToFileURL(file).href);
    expect(out.exports).toEqual(shape(opentelemetrySource as unknown as Record<string, unknown>));
    expect(out.isPlugin).toBe(true);
    expect(out.meta).toEqual({});
  });

  it.each(['dashboard.mjs', 'dashboard.cjs'])('serves docket/dashboard (%s): its page and API for a Queue of the main entry, with no copy of it', async (script) => {
    const out = await node(script, url, schema);
    const file = path.join(pkg, script.endsWith('.cjs') ? 'dist/dashboard.cjs' : 'dist/dashboard.js');
    expect(out.resolved).toBe(script.endsWith('.cjs') ? file : pathToFileURL(file).href);
    expect(out.exports).toEqual(shape(dashboardSource as unknown as Record<string, unknown>));
    expect(out.refused).toEqual({ isConfigError: true, code: 'DOCKET_CONFIG' });
    expect(out.denied).toBe(401);
    expect(out.page).toEqual({ status: 200, csp: "default-src 'none'", script: true });
    expect(out.queues).toBe(true);
    // The main entry's runtime is imported as the package, never bundled in a second time.
    expect(await readFile(file, 'utf8')).not.toMatch(/class (ConfigError|DocketError|Queue)\b/);
  });

  it.each(['threads.mjs', 'threads.cjs'])('runs thread workers from the build (%s), and the process ends after stop()', async (script) => {
    const out = await node(script, url, schema);
    expect(out).toEqual({
      stuck: { state: 'discarded', error: 'JobTimeoutError' },
      fib: { state: 'completed', result: { fib: 6765, isMainThread: false } },
      negative: { state: 'discarded', reason: 'negative' },
    });
  });
});

/**
 * The unpacked size the package must stay under: 2.08 MB with workflows (1.73 MB before them:
 * +51 KB of code per format, the rest its source maps), two thirds of it source maps. The
 * operations entries then took it to 3.29 MB: docket/dashboard +254 KB (40 KB of code per
 * format, its page's script and style included; the rest source maps and 7 KB of declarations),
 * the CLI, docket/prometheus and docket/opentelemetry the rest.
 */
const UNPACKED_LIMIT = 3_500_000;

// What `npm pack` would publish: only these files (dist/ holds the bundles, their source maps
// and declarations, flat).
const PUBLISHED = [/^dist\/[\w-]+\.(js|cjs|d\.ts|d\.cts|js\.map|cjs\.map)$/, /^migrations\/\d{4}_\w+\.sql$/, /^README\.md$/, /^LICENSE(\.md)?$/, /^package\.json$/];

describe('the published package', () => {
  it(`packs only dist/, migrations/, README.md and package.json, under ${UNPACKED_LIMIT / 1e6} MB unpacked`, async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: pkg, env, timeout: 60_000 });
    const [packed] = JSON.parse(stdout) as { files: { path: string }[]; unpackedSize: number; size: number; entryCount: number }[];
    const files = packed!.files.map((f) => f.path).sort();
    expect(files.filter((f) => !PUBLISHED.some((re) => re.test(f))), 'files npm pack would publish that should not be').toEqual([]);
    expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts', 'dist/thread-entry.js', 'dist/thread-entry.cjs', 'dist/testing.js', 'dist/testing.d.cts']));
    const migrations = readdirSync(path.join(pkg, 'migrations')).filter((f) => f.endsWith('.sql'));
    expect(files.filter((f) => f.startsWith('migrations/'))).toEqual(migrations.map((f) => `migrations/${f}`).sort());
    expect(
      packed!.unpackedSize,
      `the package unpacks to ${packed!.unpackedSize} bytes (${packed!.entryCount} files), over the ${UNPACKED_LIMIT}-byte limit: see what grew with \`npm pack --dry-run\``,
    ).toBeLessThan(UNPACKED_LIMIT);
  });

  it('declares nothing tagged @internal', async () => {
    const declarations = (await readdir(path.join(pkg, 'dist'))).filter((f) => /\.d\.c?ts$/.test(f));
    expect(declarations.length).toBeGreaterThanOrEqual(4);
    for (const file of declarations) {
      const text = await readFile(path.join(pkg, 'dist', file), 'utf8');
      expect(text.includes('@internal'), `dist/${file} still has a member tagged @internal (stripInternal)`).toBe(false);
    }
  });

  it('bundles neither pg, postgres nor zod, and imports no driver up front', async () => {
    const dist = await readdir(path.join(pkg, 'dist'));
    for (const file of dist.filter((f) => /\.c?js$/.test(f))) {
      const text = await readFile(path.join(pkg, 'dist', file), 'utf8');
      // A static import or require of a peer: loading docket would need it installed.
      expect(text, `dist/${file} imports a peer package at load time`).not.toMatch(/(?:\bfrom\s*|\brequire\(\s*|\bimport\(\s*)["'](?:pg|postgres|zod)(?:\/[^"']*)?["']/);
      // prom-client (an optional peer) is docket/prometheus's alone: the main entry loads without it.
      if (!file.startsWith('prometheus.')) expect(text, `dist/${file} imports prom-client`).not.toMatch(/["']prom-client["']/);
      // So is @opentelemetry/api, docket/opentelemetry's alone.
      if (!file.startsWith('opentelemetry.')) expect(text, `dist/${file} imports @opentelemetry`).not.toMatch(/["']@opentelemetry\//);
    }
    for (const file of dist.filter((f) => f.endsWith('.map'))) {
      // The inputs of each bundle: docket's sources only (and tsup's CJS shim), no package's code.
      const { sources } = JSON.parse(await readFile(path.join(pkg, 'dist', file), 'utf8')) as { sources: string[] };
      expect(sources.filter((s) => s.includes('node_modules/') && !s.includes('node_modules/tsup/')), `dist/${file}: inlined packages`).toEqual([]);
    }
  });

  it.each(['driver.mjs', 'driver.cjs'])('loads without pg or postgres installed, and names the missing one (%s)', async (script) => {
    const out = await nodeIn(bare.none!, script, url, schema);
    expect(out.installed, 'the project without drivers can resolve one: check NODE_PATH and node_modules above the temp dir').toEqual({ pg: false, postgres: false });
    expect(out.connectionString).toEqual({ configError: true, message: 'docket needs the "pg" package to connect with a connection string: npm install pg' });
    expect(out.postgresShaped).toEqual({ configError: true, message: 'docket needs the "postgres" package to LISTEN with a postgres.js connection: npm install postgres' });
  });

  it.each(['otel-absent.mjs', 'otel-absent.cjs'])('loads without @opentelemetry/api installed; only docket/opentelemetry needs it (%s)', async (script) => {
    const out = await nodeIn(bare.none!, script);
    expect(out.api, 'the bare project can resolve @opentelemetry/api: check NODE_PATH and node_modules above the temp dir').toBe(false);
    expect(out.queue).toBe('function');
    expect(out.otel).toEqual({ code: script.endsWith('.cjs') ? 'MODULE_NOT_FOUND' : 'ERR_MODULE_NOT_FOUND', namesTheApi: true });
  });

  it.each(['driver.mjs', 'driver.cjs'])('runs a job with only pg installed (%s)', async (script) => {
    const out = await nodeIn(bare.pg!, script, url, schema, 'pg');
    expect(out.installed).toEqual({ pg: true, postgres: false });
    expect(out.connectionString).toBe('ok');
    expect(out.postgresShaped).toMatchObject({ configError: true, message: expect.stringContaining('npm install postgres') });
    expect(out.result).toBe(2);
  });

  it.each(['driver.mjs', 'driver.cjs'])('runs a job with only postgres installed (%s)', async (script) => {
    const out = await nodeIn(bare.postgres!, script, url, schema, 'postgres');
    expect(out.installed).toEqual({ pg: false, postgres: true });
    expect(out.connectionString).toMatchObject({ configError: true, message: expect.stringContaining('npm install pg') });
    expect(out.postgresShaped).toBe('ok');
    expect(out.result).toBe(2);
  });
});

// The `docket` bin (package.json "bin" → dist/cli.js) as installed: an executable script that
// imports the package by its own name (no second copy of docket inside), prints its help without
// pg, names pg when a command needs the database, and works end to end with pg alone.
describe('the docket bin', () => {
  async function bin(dir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const cli = path.join(dir, 'node_modules', 'docket', 'dist', 'cli.js');
    try {
      const { stdout, stderr } = await run(process.execPath, [cli, ...args], { cwd: dir, env, timeout: 30_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('is declared, executable, has a shebang and imports the package rather than bundling it', async () => {
    const manifest = JSON.parse(await readFile(path.join(pkg, 'package.json'), 'utf8')) as { bin?: unknown };
    expect(manifest.bin).toEqual({ docket: './dist/cli.js' });
    const file = path.join(pkg, 'dist', 'cli.js');
    expect(statSync(file).mode & 0o111, 'dist/cli.js is not executable').not.toBe(0);
    const text = await readFile(file, 'utf8');
    expect(text.startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(text).toMatch(/from ["']docket["']/);
    expect(text).not.toContain('class Queue');
  });

  it('prints its help without pg installed, and names pg when a command needs the database', async () => {
    const help = await bin(bare.none!, '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes:');
    const status = await bin(bare.none!, 'status', '--database-url', url, '--schema', schema);
    expect(status.code).toBe(1);
    expect(status.stderr).toContain('docket needs the "pg" package to connect to the database');
    expect(status.stderr).toContain('npm install pg');
  });

  it('migrates and reports status with only pg installed', async () => {
    const migrate = await bin(bare.pg!, 'migrate', '--database-url', url, '--schema', schema, '--json');
    expect(migrate.code, migrate.stderr).toBe(0);
    expect(JSON.parse(migrate.stdout)).toMatchObject({ schema, applied: [] });
    const status = await bin(bare.pg!, 'status', '--database-url', url, '--schema', schema, '--json');
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ schema, leader: null, nodes: [] });
  });
});
