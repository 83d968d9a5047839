// The test database (chosen once per run by test/global-setup.ts) and a schema per file.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

/** URL of the run's database, provided by test/global-setup.ts. */
export function databaseUrl(): string {
  const url = inject('databaseUrl');
  if (!url) throw new Error('databaseUrl was not provided: is test/global-setup.ts this project\'s globalSetup?');
  return url;
}

/** A fresh schema name (lowercase letters, digits, underscores; at most 40 characters). */
export function uniqueSchemaName(prefix: string): string {
  const suffix = `_${process.pid.toString(36)}_${randomBytes(4).toString('hex')}`;
  return prefix.toLowerCase().replace(/[^a-z0-9_]+/g, '_').slice(0, 40 - suffix.length) + suffix;
}

/** `DROP SCHEMA IF EXISTS <name> CASCADE` on a connection of its own. */
export async function dropSchema(url: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, application_name: 'cp-test-drop-schema' });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${client.escapeIdentifier(name)} CASCADE`);
  } finally {
    await client.end();
  }
}

/**
 * A pg Pool whose connections carry `application_name = appName`. Idle connections close after a
 * second (files run side by side on one server); idle-client errors are swallowed.
 */
export function createPgPool(url: string, appName: string, config: pg.PoolConfig = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, application_name: appName, idleTimeoutMillis: 1_000, ...config });
  pool.on('error', () => {});
  return pool;
}
