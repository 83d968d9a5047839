/**
 * Database helpers for test files. The database itself is chosen by test/global-setup.ts.
 */
import postgres from 'postgres';
import { inject } from 'vitest';

/** URL of the test database provided by test/global-setup.ts. */
export function databaseUrl(): string {
  const url = inject('databaseUrl');
  if (!url) throw new Error('databaseUrl was not provided: is test/global-setup.ts configured as globalSetup?');
  return url;
}

export { createPgPool, dropSchema, uniqueSchemaName } from '@docket/dev-postgres';

/** A postgres.js client with `application_name = appName` and NOTICEs silenced. */
export function createPostgresJs(url: string, appName: string, options: postgres.Options<{}> = {}): postgres.Sql {
  return postgres(url, {
    onnotice: () => {},
    idle_timeout: 2,
    ...options,
    connection: { ...options.connection, application_name: appName },
  });
}
