// Migrations: concurrent migrate() from many processes' worth of pools, a custom quoted schema
// name end to end, exported SQL for the host's own tool, and start() refusing an old schema.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MigrationError, Queue, Worker } from '../../src/index.js';
import { createPgPool, createPostgresJs, databaseUrl, dropSchema, uniqueSchemaName } from '../support/db.js';
import { nextEvent } from '../support/queue.js';

const url = databaseUrl();
const admin = createPgPool(url, 'docket-migrate-admin');
const schemas: string[] = [];
const fresh = (name: string): string => {
  schemas.push(name);
  return name;
};

afterAll(async () => {
  for (const s of schemas) await dropSchema(url, s);
  await admin.end();
});

const LATEST = 10;

describe('migrations', () => {
  it('20 queues on 20 pools migrating at once apply each version exactly once', async () => {
    const schema = fresh(uniqueSchemaName('concurrent'));
    const queues = Array.from({ length: 20 }, () => new Queue({ connection: url, schema, poolSize: 2 }));
    try {
      const reports = await Promise.all(queues.map((q) => q.migrate()));
      expect(reports.every((r) => r.version === LATEST)).toBe(true);
      expect(reports.flatMap((r) => r.applied).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      const { rows } = await admin.query(`SELECT version, name FROM "${schema}".migrations ORDER BY version`);
      expect(rows).toEqual([
        { version: 1, name: 'jobs' },
        { version: 2, name: 'claim_token' },
        { version: 3, name: 'control' },
        { version: 4, name: 'plugins' },
        { version: 5, name: 'control_version' },
        { version: 6, name: 'finished_history' },
        { version: 7, name: 'held_state' },
        { version: 8, name: 'workflows' },
        { version: 9, name: 'drop_days_briefly' },
        { version: 10, name: 'job_meta' },
      ]);
    } finally {
      await Promise.all(queues.map((q) => q.stop()));
    }
  });

  it('migrates through postgres.js too, concurrently with pg', async () => {
    const schema = fresh(uniqueSchemaName('pgjs'));
    const sql = createPostgresJs(url, 'docket-migrate-pgjs', { max: 4 });
    try {
      const viaJs = [new Queue({ connection: sql, schema }), new Queue({ connection: sql, schema })];
      const viaPg = new Queue({ connection: admin, schema });
      const reports = await Promise.all([...viaJs, viaPg].map((q) => q.migrate()));
      expect(reports.flatMap((r) => r.applied).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      const { rows } = await admin.query(`SELECT count(*)::int AS n FROM "${schema}".migrations`);
      expect(rows[0].n).toBe(10);
    } finally {
      await sql.end();
    }
  });

  it('works end to end in a schema named like "My-Schema"', async () => {
    const schema = fresh(`My-Schema ${randomBytes(3).toString('hex')}`);
    const worker = new Worker({ name: 'quoted', args: z.object({ n: z.number() }), perform: async (job) => job.args.n + 1 });
    const queue = new Queue({ connection: admin, schema, workers: [worker] });
    expect((await queue.migrate()).applied).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await queue.start();
    const done = nextEvent(queue, 'job:complete');
    const job = await queue.insert(worker, { n: 41 });
    expect((await done).job.result).toBe(42);
    expect((await queue.getJob(job.id))!.state).toBe('completed');
    await queue.stop();
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM "${schema}".jobs`);
    expect(rows[0].n).toBe(1);
  });

  it('exports SQL a host migration tool can run; migrate() then sees it applied', async () => {
    const schema = fresh(uniqueSchemaName('exported'));
    const queue = new Queue({ connection: admin, schema });
    const scripts = queue.migrationScripts();
    expect(scripts.map((s) => s.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(scripts[0]!.sql).toContain(`"${schema}".jobs`);
    expect(scripts[0]!.sql).not.toContain('{{schema}}');
    const client = await admin.connect();
    try {
      for (const script of scripts) await client.query(script.sql);
    } finally {
      client.release();
    }
    expect(await queue.migrate()).toEqual({ applied: [], version: LATEST });
    await queue.start();
    await queue.stop();
  });

  it('start() on an unmigrated schema is a MigrationError and changes nothing', async () => {
    const schema = fresh(uniqueSchemaName('unmigrated'));
    const queue = new Queue({ connection: admin, schema, queues: { default: 1 } });
    await expect(queue.start()).rejects.toBeInstanceOf(MigrationError);
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1`, [schema]);
    expect(rows[0].n).toBe(0);
    await queue.stop();
  });

  it('a migration that fails leaves no partial version behind', async () => {
    const schema = fresh(uniqueSchemaName('conflict'));
    // Something already owns the name the first migration needs: the version must roll back whole.
    await admin.query(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".jobs (id int)`);
    const queue = new Queue({ connection: admin, schema });
    await expect(queue.migrate()).rejects.toBeInstanceOf(MigrationError);
    const { rows } = await admin.query(
      `SELECT (SELECT count(*)::int FROM "${schema}".migrations) AS versions,
              (SELECT count(*)::int FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = $1 AND t.typname = 'job_state') AS types`,
      [schema],
    );
    expect(rows[0]).toEqual({ versions: 0, types: 0 });
    await queue.stop();
  });
});
