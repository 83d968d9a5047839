import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Picks the database (DATABASE_URL, a container, or embedded PostgreSQL) once per run.
    globalSetup: ['test/global-setup.ts'],
    include: ['test/**/*.test.ts', 'examples/content-processor/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Child processes, not threads: tests kill backends and open many sockets.
    pool: 'forks',
    // 2-core machine and every file talks to a real database: at most 2 files at a time.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
