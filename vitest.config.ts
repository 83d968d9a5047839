import { defineConfig } from 'vitest/config';

// Two projects under one `npm test`: the library's own tests (test/, on src/) and the content
// processor's (a workspace package with its own vitest.config.ts, on the built package). Each
// picks its database in its globalSetup; with DATABASE_URL set both use that server.
export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'library',
          // Picks the database (DATABASE_URL, a container, or embedded PostgreSQL) once per run.
          globalSetup: ['test/global-setup.ts'],
          include: ['test/**/*.test.ts'],
          // Heavy fault scenarios: `npm run test:chaos` (vitest.chaos.config.ts).
          exclude: ['test/chaos/**', '**/node_modules/**'],
        },
      },
      'examples/content-processor',
    ],
    // Under CI=true a skipped test fails the run (test/support/no-skips-reporter.ts).
    reporters: ['default', './test/support/no-skips-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Child processes, not threads: tests kill backends and open many sockets.
    pool: 'forks',
    // 2-core machine and every file talks to a real database: at most 2 files at a time.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
