// The content processor's tests: `npm test` here, or as the `content-processor` project of the
// repository's `npm test` (see the root vitest.config.ts). Their `docket` is the built package
// (the root's `npm test` builds it first when dist/ is stale).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'content-processor',
    globalSetup: ['test/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
