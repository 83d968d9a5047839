#!/usr/bin/env node
// Flakiness gate: runs `npx vitest run [VITEST_ARGS...]` N times in a row and reports every
// test that failed at least once.
//
//   npm run test:repeat -- [N] [VITEST_ARGS...]        (N default 5; no args: the whole suite)
//   npm run test:repeat -- 10 test/integration/wakeups.test.ts
//   npm run test:repeat -- 3 test/integration/fencing.test.ts -t 'stale claim'
//
// Each run's output goes to the console and to .cache/test-repeat/<timestamp>/run-<i>.log;
// vitest's JSON reporter writes run-<i>.json beside it, from which the per-test results are
// taken. At the end: each run's duration and pass/fail counts, then every test (file and full
// name) that failed in any run and how often; summary.txt keeps the same. Exit status 1 if any
// test failed, or any run failed without a recorded test failure (e.g. an unhandled error or a
// file that did not load); 130 when interrupted (the summary then covers the runs so far).
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(repoRoot);

const args = process.argv.slice(2);
let runs = 5;
if (args[0] !== undefined && /^\d+$/.test(args[0])) runs = Number(args.shift());
if (args[0] === '--') args.shift();
if (!Number.isInteger(runs) || runs < 1) {
  console.error('test-repeat: N must be a positive integer');
  process.exit(2);
}

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const outDir = path.join('.cache', 'test-repeat', stamp);
mkdirSync(outDir, { recursive: true });

const stripAnsi = (s) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
const rel = (file) => (path.isAbsolute(file) ? path.relative(repoRoot, file) : file);
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

let interrupted = false;
let child;
process.on('SIGINT', () => {
  // The child (same process group) gets the Ctrl-C too; stop after it and summarise.
  interrupted = true;
  if (child && child.exitCode === null) child.kill('SIGINT');
});

/** One vitest run; resolves with its exit code (or the signal's name). */
function runOnce(i) {
  const jsonFile = path.join(outDir, `run-${i}.json`);
  const log = createWriteStream(path.join(outDir, `run-${i}.log`));
  const vitestArgs = ['vitest', 'run', ...args, '--reporter=default', '--reporter=json', `--outputFile.json=${jsonFile}`];
  log.write(`$ npx ${vitestArgs.join(' ')}\n\n`);
  return new Promise((resolve) => {
    child = spawn('npx', vitestArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      log.write(stripAnsi(chunk.toString()));
    });
    child.stderr.on('data', (chunk) => {
      process.stderr.write(chunk);
      log.write(stripAnsi(chunk.toString()));
    });
    child.on('error', (err) => {
      log.write(`\ntest-repeat: could not start vitest: ${err.message}\n`);
    });
    child.on('close', (code, signal) => {
      log.end(`\n[test-repeat] exit ${code ?? signal}\n`, () => resolve({ code: code ?? signal, jsonFile }));
    });
  });
}

/** Per-test results of one run from vitest's JSON report, or undefined if it is missing. */
function readReport(jsonFile) {
  if (!existsSync(jsonFile)) return undefined;
  let report;
  try {
    report = JSON.parse(readFileSync(jsonFile, 'utf8'));
  } catch {
    return undefined;
  }
  const counts = { passed: 0, failed: 0, skipped: 0 };
  const failedTests = [];
  for (const file of report.testResults ?? []) {
    const fileName = rel(file.name);
    const assertions = file.assertionResults ?? [];
    for (const t of assertions) {
      const name = [...(t.ancestorTitles ?? []), t.title].join(' > ');
      if (t.status === 'passed') counts.passed++;
      else if (t.status === 'failed') {
        counts.failed++;
        failedTests.push({ key: `${fileName} > ${name}`, message: (t.failureMessages ?? [])[0] ?? '' });
      } else counts.skipped++; // skipped, pending, todo
    }
    // A file that failed outside its tests (did not load, a hook threw): count it as one failure.
    if (file.status === 'failed' && !assertions.some((t) => t.status === 'failed')) {
      counts.failed++;
      failedTests.push({ key: `${fileName} > (file: ${(file.message ?? 'failed outside its tests').split('\n')[0]})`, message: file.message ?? '' });
    }
  }
  return { counts, failedTests };
}

const results = [];
console.log(`test-repeat: ${runs} run(s) of: npx vitest run ${args.join(' ')}`.trimEnd());
console.log(`test-repeat: logs in ${outDir}/`);
for (let i = 1; i <= runs && !interrupted; i++) {
  console.log(`\n========== test-repeat: run ${i}/${runs} ==========`);
  const started = Date.now();
  const { code, jsonFile } = await runOnce(i);
  const ms = Date.now() - started;
  const report = readReport(jsonFile);
  results.push({ i, code, ms, report });
  const c = report?.counts;
  console.log(
    `========== test-repeat: run ${i}/${runs} ${code === 0 ? 'passed' : `FAILED (exit ${code})`} in ${seconds(ms)}` +
      (c ? `: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped` : ': no JSON report') +
      ' ==========',
  );
}

// --- summary ---------------------------------------------------------------------------------
const lines = [];
lines.push(`test-repeat summary: npx vitest run ${args.join(' ')}`.trimEnd());
lines.push(`logs: ${outDir}/`);
lines.push('');
for (const r of results) {
  const c = r.report?.counts;
  lines.push(
    `  run ${String(r.i).padStart(2)}: ${seconds(r.ms).padStart(8)}  ` +
      (c ? `${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped` : 'no JSON report (see the log)') +
      (r.code === 0 ? '' : `  (exit ${r.code})`),
  );
}
const totalMs = results.reduce((sum, r) => sum + r.ms, 0);
lines.push(`  total: ${seconds(totalMs)} for ${results.length} run(s)${interrupted ? ' (interrupted)' : ''}`);

const failures = new Map(); // key -> { count, runs: [i], message }
for (const r of results) {
  for (const f of r.report?.failedTests ?? []) {
    const entry = failures.get(f.key) ?? { count: 0, runs: [], message: f.message };
    entry.count++;
    entry.runs.push(r.i);
    failures.set(f.key, entry);
  }
}
// Runs that failed with no failed test recorded: unhandled errors, a crash, no report.
const unexplained = results.filter((r) => r.code !== 0 && !(r.report?.failedTests.length > 0));

lines.push('');
if (failures.size === 0 && unexplained.length === 0) {
  lines.push(`No test failed in ${results.length} run(s).`);
} else {
  if (failures.size > 0) {
    lines.push(`Tests that failed at least once (${failures.size}):`);
    const sorted = [...failures.entries()].sort((a, b) => b[1].count - a[1].count || a[0].localeCompare(b[0]));
    for (const [key, { count, runs: inRuns, message }] of sorted) {
      lines.push(`  ${count}/${results.length}  ${key}  (run ${inRuns.join(', ')})`);
      const first = stripAnsi(message).split('\n').find((l) => l.trim() !== '');
      if (first) lines.push(`          ${first.trim().slice(0, 200)}`);
    }
  }
  for (const r of unexplained) {
    lines.push(`  run ${r.i} exited with ${r.code} without a failed test in its report (no test files, an unhandled error, a crash? see run-${r.i}.log)`);
  }
}
const summary = lines.join('\n');
writeFileSync(path.join(outDir, 'summary.txt'), summary + '\n');
console.log(`\n${summary}`);

process.exit(interrupted ? 130 : failures.size > 0 || unexplained.length > 0 ? 1 : 0);
