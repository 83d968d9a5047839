// Vitest globalSetup of the content processor's tests: the run's PostgreSQL (DATABASE_URL,
// else a container, else an embedded server: testDatabase() of @docket/dev-postgres), handed to
// the test files as `inject('databaseUrl')` (test/support/db.ts).
import { testDatabase } from '@docket/dev-postgres';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const db = await testDatabase({ label: '[content-processor tests]' });
  console.log(`[content-processor tests] database: ${db.version}, ${db.description}`);
  project.provide('databaseUrl', db.url);
  return db.teardown;
}
