// The CI gate on skipped tests (test/support/no-skips-reporter.ts): a run with a skipped test
// fails under CI=true, naming the test, and passes without CI=true. Run as a real vitest in a
// child process on a one-file project of its own.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'docket-no-skips-'));
  await writeFile(path.join(dir, 'probe.check.ts'), "import { it } from 'vitest';\nit.skip('needs a missing tool', () => {});\nit('runs', () => {});\n");
  const reporter = path.join(root, 'test/support/no-skips-reporter.ts');
  await writeFile(
    path.join(dir, 'vitest.config.mjs'),
    `export default { test: { root: ${JSON.stringify(dir)}, include: ['probe.check.ts'], reporters: ['default', ${JSON.stringify(reporter)}] } };\n`,
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function vitest(ci: boolean): Promise<{ code: number; output: string }> {
  const env = { ...process.env };
  delete env.CI;
  if (ci) env.CI = 'true';
  const args = [path.join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--config', path.join(dir, 'vitest.config.mjs')];
  return run(process.execPath, args, { cwd: root, env }).then(
    ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, output: error.stdout + error.stderr }),
  );
}

it('fails a run with a skipped test under CI=true, naming it; passes it otherwise', async () => {
  const [onCi, offCi] = await Promise.all([vitest(true), vitest(false)]);
  expect(onCi.code, onCi.output).toBe(1);
  expect(onCi.output).toContain('1 test(s) skipped, which CI does not allow');
  expect(onCi.output).toContain('probe.check.ts > needs a missing tool');
  expect(offCi.code, offCi.output).toBe(0);
}, 60_000);
