// `npm run example:quickstart` must work from a fresh clone with no database configured: the quickstart
// starts its own embedded PostgreSQL, runs its jobs to the end, and exits cleanly.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);

it('the quickstart runs every job to a final state on an embedded PostgreSQL', async () => {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  // npm, tsx and a first initdb: CPU-bound, several times slower on a loaded 2-core machine.
  const { stdout } = await run('npm', ['run', '--silent', 'example:quickstart'], { env, timeout: 300_000 });
  expect(stdout).toContain('starting an embedded PostgreSQL');
  expect(stdout).toContain('all jobs finished');
  expect(stdout).toMatch(/flaky-upload completed attempts 2\/3/);
  expect(stdout).toMatch(/flaky-upload discarded attempts 2\/3/);
  expect(stdout.match(/hash-text +completed/g)).toHaveLength(3);
  expect(stdout).toContain('stopped');
}, 330_000);
