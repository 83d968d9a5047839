/**
 * Vitest globalSetup of the library's tests: picks the PostgreSQL they run against
 * (DATABASE_URL, else a container, else embedded PostgreSQL: see testDatabase() in
 * packages/dev-postgres) and hands its URL to the test files (`inject('databaseUrl')`, see
 * test/support/db.ts).
 *
 * The line printed names the server's version (SHOW server_version), so a CI log shows
 * which PostgreSQL ran.
 */
import { testDatabase } from '@docket/dev-postgres';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const db = await testDatabase({ label: '[docket tests]' });
  console.log(`[docket tests] database: ${db.version}, ${db.description}`);
  project.provide('databaseUrl', db.url);
  return db.teardown;
}
