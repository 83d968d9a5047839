// Exactly-once under competition: several Queue instances, each on its own connection pool (as
// separate processes would be), race for the same 5,000 jobs while they are being inserted.
// Every job must run exactly once, none may be missed, all must end `completed`, and the work
// must really be shared (otherwise the test would not be testing competition at all).
import type pg from 'pg';
import type postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Worker } from '../../src/index.js';
import type { Queue } from '../../src/index.js';
import { createPgPool, createPostgresJs } from '../support/db.js';
import { useSchema, waitFor } from '../support/queue.js';

const db = useSchema('exactly_once');

const TOTAL = 5_000;
const CHUNK = 500;
const INSTANCES = 3;
const CONCURRENCY = 10;

type Conn = { kind: 'pg'; pool: pg.Pool } | { kind: 'postgres'; sql: postgres.Sql };

// Connections are closed after the queues on them stopped (useSchema stops its queues in its own
// afterAll; each test also stops its queues itself before closing anything).
const opened: Conn[] = [];
afterAll(async () => {
  await Promise.all(opened.map((c) => (c.kind === 'pg' ? c.pool.end() : c.sql.end({ timeout: 1 }))));
});

function open(kind: Conn['kind'], name: string): Conn {
  const app = `docket-eo-${name}-${db.schema}`;
  // One pool per instance, sized to its concurrency plus room for fetch/ack/stage.
  const conn: Conn =
    kind === 'pg' ? { kind, pool: createPgPool(db.url, app, { max: 5 }) } : { kind, sql: createPostgresJs(db.url, app, { max: 5 }) };
  opened.push(conn);
  return conn;
}

async function runCompetition(label: string, kinds: readonly Conn['kind'][]): Promise<void> {
  const queueName = `eo-${label}`;
  // Every execution, in order: which job, which attempt, on which instance.
  const executions: { id: string; attempt: number; instance: number }[] = [];
  const completes: string[] = [];
  const errors: unknown[] = [];

  const worker = new Worker({
    name: `eo-${label}`,
    queue: queueName,
    args: z.object({ i: z.number().int() }),
    maxAttempts: 1,
    // A little asynchronous work (yield to the event loop) so slots stay occupied for a moment.
    perform: async (job) => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      return job.args.i;
    },
  });

  const queues: Queue[] = [];
  for (const [index, kind] of kinds.entries()) {
    const conn = open(kind, `${label}${index}`);
    const queue = await db.queue({
      connection: conn.kind === 'pg' ? conn.pool : conn.sql,
      workers: [worker],
      queues: { [queueName]: CONCURRENCY },
      nodeId: `${label}-instance-${index}`,
    });
    queue.on('job:start', ({ job }) => executions.push({ id: job.id, attempt: job.attempt, instance: index }));
    queue.on('job:complete', ({ job }) => completes.push(job.id));
    queue.on('queue:error', ({ error, context }) => errors.push({ context, error }));
    queues.push(queue);
  }

  try {
    await Promise.all(queues.map((q) => q.start()));

    // Insert while the instances are already running, in chunks, round-robin over the instances.
    const inserted: string[] = [];
    for (let offset = 0, n = 0; offset < TOTAL; offset += CHUNK, n++) {
      const args = Array.from({ length: Math.min(CHUNK, TOTAL - offset) }, (_, k) => ({ i: offset + k }));
      const jobs = await queues[n % queues.length]!.insertMany(worker, args);
      inserted.push(...jobs.map((j) => j.id));
    }
    expect(new Set(inserted).size).toBe(TOTAL);

    await waitFor(() => completes.length >= TOTAL, `${TOTAL} completions (${completes.length} so far)`, 45_000);
    // Let every queue go quiet, then check nothing ran a second time meanwhile.
    await Promise.all(queues.map((q) => q.stop({ timeout: 5_000 })));

    expect(errors).toEqual([]);

    // Each inserted id ran exactly once; nothing ran that was not inserted.
    const runs = new Map<string, number>();
    for (const e of executions) runs.set(e.id, (runs.get(e.id) ?? 0) + 1);
    const twice = [...runs].filter(([, n]) => n !== 1);
    expect(twice, 'jobs that ran more than once').toEqual([]);
    const missing = inserted.filter((id) => !runs.has(id));
    expect(missing, 'jobs that never ran').toEqual([]);
    expect(runs.size).toBe(TOTAL);
    expect(executions).toHaveLength(TOTAL);
    expect(executions.every((e) => e.attempt === 1)).toBe(true);
    expect(new Set(completes).size).toBe(TOTAL);
    expect(completes).toHaveLength(TOTAL);

    // The database agrees: every job completed, on its first attempt, by the instance that ran it.
    const { rows } = await db.pool.query<{ id: string; state: string; attempt: number; attempted_by: string; result: number }>(
      `SELECT id::text AS id, state::text AS state, attempt, attempted_by, result FROM "${db.schema}".jobs WHERE queue = $1`,
      [queueName],
    );
    expect(rows).toHaveLength(TOTAL);
    const byId = new Map(executions.map((e) => [e.id, e.instance]));
    const wrong = rows.filter(
      (r) => r.state !== 'completed' || r.attempt !== 1 || r.attempted_by !== `${label}-instance-${byId.get(r.id)}`,
    );
    expect(wrong, 'rows not completed by the instance that ran them').toEqual([]);
    expect(new Set(rows.map((r) => r.result)).size).toBe(TOTAL);

    // The work was shared: more than one instance ran jobs.
    const perInstance = kinds.map((_, index) => executions.filter((e) => e.instance === index).length);
    expect(perInstance.reduce((a, b) => a + b, 0)).toBe(TOTAL);
    expect(perInstance.filter((n) => n > 0).length, `jobs per instance: ${perInstance.join(', ')}`).toBeGreaterThan(1);
    // All were started before the first insert and woken by every NOTIFY: each one took part.
    expect(perInstance.every((n) => n > 0), `jobs per instance: ${perInstance.join(', ')}`).toBe(true);
  } finally {
    await Promise.all(queues.map((q) => q.stop({ timeout: 1_000 })));
  }
}

describe('exactly once across competing instances', () => {
  it(`${INSTANCES} instances on separate pg pools run each of ${TOTAL} jobs exactly once`, async () => {
    await runCompetition('pg', Array.from({ length: INSTANCES }, () => 'pg' as const));
  });

  it('mixed drivers: two pg pools and one postgres.js instance run each job exactly once', async () => {
    await runCompetition('mixed', ['pg', 'postgres', 'pg']);
  });
});
