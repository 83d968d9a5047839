// Migrations killed midway (issue 15, scenario 9): a process migrating a populated version-5
// schema is SIGKILLed while version 6 is half applied (held on a table lock the test takes), then
// 20 queues on 20 pools migrate at once. No partial version: the killed transaction leaves
// nothing, each version is recorded once, and every job is there with its args unchanged.
import pg from 'pg';
import { expect, it } from 'vitest';
import { Queue } from '../../src/index.js';
import { LATEST_VERSION } from '../../src/engine/migrate/migrator.js';
import { spawnReporter } from '../support/child.js';
import { createPgPool, dropSchema, uniqueSchemaName, databaseUrl } from '../support/db.js';
import { waitFor } from '../support/queue.js';

it('a migration SIGKILLed midway leaves no partial version; 20 migrating at once then apply each version once, jobs intact', async () => {
  const url = databaseUrl();
  const schema = uniqueSchemaName('migkill');
  const q = `"${schema}"`;
  const pool = createPgPool(url, 'migrate-kill-test', { max: 25 });
  const pools: pg.Pool[] = [];
  try {
    const queue = new Queue({ connection: pool, schema });
    for (const script of queue.migrationScripts().filter((m) => m.version <= 5)) await pool.query(script.sql);
    await pool.query(
      `INSERT INTO ${q}.jobs (state, queue, worker, args, attempt, completed_at, errors)
       SELECT (ARRAY['available','scheduled','completed','discarded'])[1 + i % 4]::${q}.job_state, 'q' || (i % 3), 'w',
              jsonb_build_object('n', i, 'text', md5(i::text)), i % 2,
              CASE WHEN i % 4 >= 2 THEN now() - (i || ' minutes')::interval END, '[]'
       FROM generate_series(1, 5000) AS i`,
    );
    const fingerprint = async () =>
      (await pool.query<{ n: number; digest: string }>(`SELECT count(*)::int AS n, md5(string_agg(id || ':' || args::text, ',' ORDER BY id)) AS digest FROM ${q}.jobs`)).rows[0]!;
    const before = await fingerprint();
    expect(before.n).toBe(5000);

    // Hold version 6 midway: its statements that change the jobs table wait on this lock.
    const holder = await pool.connect();
    await holder.query('BEGIN');
    await holder.query(`LOCK TABLE ${q}.jobs IN SHARE MODE`);
    const child = spawnReporter('test/fixtures/migrate-child.ts', { DATABASE_URL: url, DOCKET_SCHEMA: schema });
    const waiting = async () =>
      (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'migrate-child' AND wait_event_type = 'Lock'`)).rows[0]!.n === 1;
    await waitFor(waiting, `the child's migration to wait on the lock (${child.stderr()})`, 30_000);
    const ledger = async () => (await pool.query<{ version: number }>(`SELECT version FROM ${q}.migrations ORDER BY version`)).rows.map((r) => r.version);
    child.child.kill('SIGKILL');
    expect((await child.exited).signal).toBe('SIGKILL');
    await holder.query('ROLLBACK');
    holder.release();
    // Its backend finishes the statement it waited for, finds its client gone, and rolls back.
    await waitFor(
      async () => (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'migrate-child'`)).rows[0]!.n === 0,
      'the killed backend to go',
      30_000,
    );
    expect(await ledger()).toEqual([1, 2, 3, 4, 5]);
    const { rows: leftovers } = await pool.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name IN ('job_keys', 'jobs_finished', 'jobs_live')`, [schema]);
    expect(leftovers).toEqual([]);

    const queues = Array.from({ length: 20 }, (_, i) => {
      const p = createPgPool(url, `migrate-kill-${i}`, { max: 1 });
      pools.push(p);
      return new Queue({ connection: p, schema });
    });
    const reports = await Promise.all(queues.map((x) => x.migrate()));
    expect(reports.flatMap((r) => r.applied).sort((a, b) => a - b)).toEqual([6, 7, 8, 9, 10]);
    expect(reports.every((r) => r.version === LATEST_VERSION)).toBe(true);
    expect(await ledger()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await fingerprint()).toEqual(before);
  } finally {
    await Promise.all(pools.map((p) => p.end()));
    await dropSchema(url, schema);
    await pool.end();
  }
}, 120_000);
