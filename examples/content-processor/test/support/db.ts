// The test database (chosen once per run by test/global-setup.ts) and a schema per file
// (the helpers shared with the library's tests, from @docket/dev-postgres).
import { inject } from 'vitest';

/** URL of the run's database, provided by test/global-setup.ts. */
export function databaseUrl(): string {
  const url = inject('databaseUrl');
  if (!url) throw new Error('databaseUrl was not provided: is test/global-setup.ts this project\'s globalSetup?');
  return url;
}

export { createPgPool, dropSchema, uniqueSchemaName } from '@docket/dev-postgres';
