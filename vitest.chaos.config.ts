import { defineConfig } from 'vitest/config';

// The fault scenarios too heavy for `npm test` (test/chaos: millions of rows), run by
// `npm run test:chaos` and by .ci/run after the suite. Same database choice as the library's.
export default defineConfig({
  test: {
    name: 'chaos',
    globalSetup: ['test/global-setup.ts'],
    include: ['test/chaos/**/*.test.ts'],
    reporters: ['default', './test/support/no-skips-reporter.ts'],
    testTimeout: 900_000,
    hookTimeout: 300_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
