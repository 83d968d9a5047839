// Builds docket (what `npm run build` does) when dist/ is missing or older than what it is built from,
// so that the workspace packages that import `docket` (the examples, their tests) always get
// the package as users get it: the built files, through package.json's exports. Quiet when
// dist/ is up to date; one line and the build's output only when it fails.
//   node scripts/ensure-built.mjs [--quiet]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const quiet = process.argv.includes('--quiet');

// What the build reads (src/engine/migrate/bundled.ts is generated from migrations/ and so is
// newer than them after any build) and what it writes.
const INPUTS = ['src', 'migrations', 'package.json', 'tsup.config.ts', 'tsconfig.json', 'scripts/gen-migrations.mjs'];
const OUTPUTS = ['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts', 'testing.js', 'testing.cjs', 'testing.d.ts', 'prometheus.js', 'prometheus.cjs', 'prometheus.d.ts', 'prometheus.d.cts', 'thread-entry.js', 'thread-entry.cjs', 'cli.js', 'dashboard.js', 'dashboard.cjs', 'dashboard.d.ts', 'dashboard.d.cts', 'opentelemetry.js', 'opentelemetry.cjs', 'opentelemetry.d.ts', 'opentelemetry.d.cts'];

function newest(path) {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))));
}

function oldestOutput() {
  let oldest = Infinity;
  for (const file of OUTPUTS) {
    const stat = statSync(join(root, 'dist', file), { throwIfNoEntry: false });
    if (!stat) return { missing: file };
    oldest = Math.min(oldest, stat.mtimeMs);
  }
  return { oldest };
}

const output = oldestOutput();
const stale = output.missing === undefined && Math.max(...INPUTS.map((p) => newest(join(root, p)))) > output.oldest;
if (output.missing === undefined && !stale) process.exit(0);

if (!quiet) console.log(`[docket] building the package (${output.missing ? `dist/${output.missing} is missing` : 'dist/ is older than src/'})`);
// Built beside dist/ and then swapped in, so that a process using dist/ meanwhile (a test run,
// a running example) never finds it half-written: tsup empties its output folder first.
const fresh = join(root, `dist.building-${process.pid}`);
const old = join(root, `dist.old-${process.pid}`);
const steps = [
  [process.execPath, ['scripts/gen-migrations.mjs']],
  [process.execPath, ['node_modules/tsup/dist/cli-default.js', '--out-dir', fresh]],
];
for (const [command, args] of steps) {
  const run = spawnSync(command, args, { cwd: root, encoding: 'utf8' });
  if (run.status !== 0) {
    rmSync(fresh, { recursive: true, force: true });
    console.error(`[docket] building the package failed (${args.join(' ')}, exit ${run.status ?? run.signal}):\n${run.stdout}${run.stderr}`);
    process.exit(1);
  }
}
if (existsSync(join(root, 'dist'))) renameSync(join(root, 'dist'), old);
renameSync(fresh, join(root, 'dist'));
rmSync(old, { recursive: true, force: true });
