// Per-test-file isolation on a shared test database: fresh schema names, dropping them, and pg
// pools that neither exhaust the server nor crash on a terminated backend. Shared by the
// library's and the examples' test support.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

let schemaCounter = 0;

/**
 * A fresh schema name: lowercase letters, digits and underscores only, starting with a
 * letter, at most 40 characters. `prefix` is sanitised and shortened to fit.
 * Example: uniqueSchemaName('Retry Policy') -> 'retry_policy_1f3k2_9c1e4ab0'.
 */
export function uniqueSchemaName(prefix = 'test'): string {
  const suffix = `_${process.pid.toString(36)}${(schemaCounter++).toString(36)}_${randomBytes(4).toString('hex')}`;
  let head = prefix.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
  if (!/^[a-z]/.test(head)) head = `s${head}`;
  return head.slice(0, 40 - suffix.length) + suffix;
}

/** `DROP SCHEMA IF EXISTS <name> CASCADE` on a short-lived connection of its own. */
export async function dropSchema(url: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, application_name: 'docket-test-drop-schema' });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${client.escapeIdentifier(name)} CASCADE`);
  } finally {
    await client.end();
  }
}

/**
 * A pg Pool whose connections carry `application_name = appName`, so a test can find
 * them in pg_stat_activity (e.g. for pg_terminate_backend). Idle-client errors, which a
 * terminated backend produces, are swallowed by a default listener; add your own to see them.
 */
export function createPgPool(url: string, appName: string, config: pg.PoolConfig = {}): pg.Pool {
  // Idle connections go after a second: the suite runs files side by side on one server, and
  // pools holding connections they no longer use would exhaust its max_connections.
  const pool = new pg.Pool({ connectionString: url, application_name: appName, idleTimeoutMillis: 1_000, ...config });
  pool.on('error', () => {});
  return pool;
}
