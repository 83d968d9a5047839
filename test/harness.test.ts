/** Sanity check of the test harness itself: the provided database and the helpers in support/db.ts. */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgPool, createPostgresJs, databaseUrl, dropSchema, uniqueSchemaName } from './support/db.js';

describe('test harness', () => {
  const client = new pg.Client({ connectionString: databaseUrl() });
  beforeAll(() => client.connect());
  afterAll(() => client.end());

  const schemaExists = async (name: string) =>
    (await client.query('select 1 from pg_namespace where nspname = $1', [name])).rowCount === 1;

  it('connects to the provided database', async () => {
    const { rows } = await client.query<{ one: number }>('select 1 as one');
    expect(rows).toEqual([{ one: 1 }]);
  });

  it('makes unique, safe schema names', () => {
    const names = new Set(Array.from({ length: 100 }, () => uniqueSchemaName('A very-long Prefix! that needs trimming')));
    expect(names.size).toBe(100);
    for (const name of [...names, uniqueSchemaName('9lives'), uniqueSchemaName('')]) {
      expect(name).toMatch(/^[a-z][a-z0-9_]{0,39}$/);
    }
  });

  it('creates and drops a schema', async () => {
    const name = uniqueSchemaName('harness');
    await client.query(`create schema ${client.escapeIdentifier(name)}`);
    await client.query(`create table ${client.escapeIdentifier(name)}.t (id int)`);
    expect(await schemaExists(name)).toBe(true);
    await dropSchema(databaseUrl(), name);
    expect(await schemaExists(name)).toBe(false);
    await dropSchema(databaseUrl(), name); // IF EXISTS: dropping twice is fine
  });

  it('tags pg and postgres.js connections with application_name', async () => {
    const pool = createPgPool(databaseUrl(), 'harness-pg');
    const sql = createPostgresJs(databaseUrl(), 'harness-postgresjs');
    try {
      const { rows } = await pool.query<{ name: string }>(`select current_setting('application_name') as name`);
      const jsRows = await sql<{ name: string }[]>`select current_setting('application_name') as name`;
      expect(rows[0]?.name).toBe('harness-pg');
      expect(jsRows[0]?.name).toBe('harness-postgresjs');
    } finally {
      await pool.end();
      await sql.end();
    }
  });
});
