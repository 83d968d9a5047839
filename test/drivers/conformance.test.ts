// One suite, run against both drivers: inserts, reads, transactional inserts committed and
// rolled back, and processing must behave identically on pg and postgres.js.
import type pg from 'pg';
import type postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Queue, Worker } from '../../src/index.js';
import type { Job } from '../../src/index.js';
import { createPgPool, createPostgresJs, databaseUrl, dropSchema, uniqueSchemaName } from '../support/db.js';
import { nextEvent, waitFor } from '../support/queue.js';

const url = databaseUrl();
const schema = uniqueSchemaName('conformance');
const pool = createPgPool(url, 'docket-conformance-pg');
const sql = createPostgresJs(url, 'docket-conformance-pgjs');

afterAll(async () => {
  await pool.end();
  await sql.end();
  await dropSchema(url, schema);
});

const Args = z.object({ text: z.string(), n: z.number().int(), nested: z.object({ ok: z.boolean() }).optional() });
const ran: string[] = [];
const echo = new Worker({
  name: 'echo',
  args: Args,
  queue: 'conformance',
  perform: async (job) => {
    ran.push(job.id);
    return { echoed: job.args.text, n: job.args.n };
  },
});

// Inserting in the host's transaction: each driver has its own way to open one.
type HostTx = <T>(fn: (tx: unknown) => Promise<T>) => Promise<T>;
const drivers: { name: string; connection: () => pg.Pool | postgres.Sql; tx: HostTx }[] = [
  {
    name: 'pg',
    connection: () => pool,
    tx: async (fn) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const out = await fn(client);
        await client.query('COMMIT');
        return out;
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      } finally {
        client.release();
      }
    },
  },
  {
    name: 'postgres.js',
    connection: () => sql,
    tx: async (fn) => (await sql.begin((tx) => fn(tx))) as never,
  },
];

function comparable(job: Job): Omit<Job, 'id' | 'insertedAt' | 'scheduledAt'> {
  const { id: _id, insertedAt: _i, scheduledAt: _s, ...rest } = job;
  return rest;
}

const results = new Map<string, { inserted: Job; read: Job | null }>();

// Job filters travel as array literals built by docket: values that are array syntax (commas,
// quotes, backslashes, braces, the word NULL) must match themselves, on every driver setup.
async function checkFilters(queue: Queue): Promise<void> {
  const odd = ['y,z', 'q"\\{} ', 'NULL'];
  const a = await queue.insert(echo, { text: 'odd', n: 1 }, { tags: ['x', ...odd], delay: 60_000 });
  const b = await queue.insert(echo, { text: 'plain', n: 2 }, { tags: ['x'], delay: 60_000 });
  const ids = [a.id, b.id];
  const listed = async (filter: object): Promise<string[]> => (await queue.listJobs({ ids, order: 'asc', ...filter })).jobs.map((j) => j.id);
  expect(await listed({ tags: odd, queue: 'conformance', state: ['scheduled', 'available'], worker: 'echo' })).toEqual([a.id]);
  expect(await listed({ tags: ['NULL'] })).toEqual([a.id]);
  expect(await listed({ tags: ['x'], state: 'scheduled' })).toEqual(ids);
  expect(await listed({ tags: ['y'] })).toEqual([]);
  expect(await queue.cancelJobs({ ids, tags: ['x'], state: 'scheduled' }, 'conformance')).toBe(2);
  expect(await listed({ state: 'cancelled', tags: ['x'] })).toEqual(ids);
  expect(await queue.retryJobs({ ids: [a.id], state: ['cancelled'], tags: odd })).toBe(1);
  expect(await listed({ state: ['available', 'cancelled'] })).toEqual(ids);
  expect(await queue.deleteJobs({ ids, worker: ['echo'] })).toBe(2);
}

describe.each(drivers)('driver conformance: $name', ({ name, connection, tx }) => {
  const queue = new Queue({ connection: connection(), schema, workers: [echo], queues: { conformance: 4 }, pollInterval: 60_000 });

  afterAll(() => queue.stop({ timeout: 1_000 }));

  it('migrates, inserts and reads back the same Job', async () => {
    await queue.migrate();
    const inserted = await queue.insert(echo, { text: 'hé "quoted" \\ ✓', n: 7, nested: { ok: true } }, { tags: ['a', 'b'], priority: 3 });
    expect(inserted).toMatchObject({
      worker: 'echo',
      queue: 'conformance',
      state: 'available',
      args: { text: 'hé "quoted" \\ ✓', n: 7, nested: { ok: true } },
      tags: ['a', 'b'],
      priority: 3,
      attempt: 0,
      maxAttempts: 20,
      errors: [],
      result: null,
      attemptedAt: null,
      completedAt: null,
    });
    expect(typeof inserted.id).toBe('string');
    expect(inserted.insertedAt).toBeInstanceOf(Date);
    const read = await queue.getJob(inserted.id);
    expect(read).toEqual(inserted);
    results.set(name, { inserted, read });
    // Jobs are cleaned up so the processing test below sees only its own.
    await pool.query(`DELETE FROM "${schema}".jobs_live WHERE id = $1`, [inserted.id]);
  });

  it('inserts many in one call, in order', async () => {
    const jobs = await queue.insertMany(echo, [1, 2, 3, 4, 5].map((n) => ({ text: `t${n}`, n })), { delay: 60_000 });
    expect(jobs.map((j) => j.args.n)).toEqual([1, 2, 3, 4, 5]);
    expect(jobs.every((j) => j.state === 'scheduled')).toBe(true);
    expect(new Set(jobs.map((j) => j.id)).size).toBe(5);
    await pool.query(`DELETE FROM "${schema}".jobs_live WHERE id = ANY($1::bigint[])`, [jobs.map((j) => j.id)]);
  });

  it('filters jobs by values that look like array syntax', async () => {
    await checkFilters(queue);
  });

  it('a job inserted in a committed host transaction exists and wakes a worker', async () => {
    await queue.start();
    const started = nextEvent(queue, 'job:complete');
    const job = await tx((t) => queue.insert(echo, { text: 'committed', n: 1 }, { tx: t }));
    const done = await started;
    // pollInterval is a minute: only the NOTIFY sent at commit can have woken the queue this fast.
    expect(done.job.id).toBe(job.id);
    expect(done.job.result).toEqual({ echoed: 'committed', n: 1 });
    expect((await queue.getJob(job.id))!.state).toBe('completed');
  });

  it('a job inserted in a rolled-back host transaction never exists and wakes nobody', async () => {
    const starts: string[] = [];
    const onStart = (e: { job: Job }): void => void starts.push(e.job.id);
    queue.on('job:start', onStart);
    let insertedId: string | undefined;
    await expect(
      tx(async (t) => {
        const job = await queue.insert(echo, { text: 'rolled back', n: 2 }, { tx: t });
        insertedId = job.id;
        // Inside the transaction the row is visible to that transaction...
        throw new Error('host rolls back');
      }),
    ).rejects.toThrow('host rolls back');
    expect(insertedId).toBeDefined();
    expect(await queue.getJob(insertedId!)).toBeNull();
    // A committed job inserted afterwards is processed, proving the queue was awake and listening;
    // the rolled-back one was never started.
    const after = nextEvent(queue, 'job:complete');
    const marker = await queue.insert(echo, { text: 'after', n: 3 });
    expect((await after).job.id).toBe(marker.id);
    queue.off('job:start', onStart);
    expect(starts).toEqual([marker.id]);
    expect(ran).not.toContain(insertedId);
  });

  it('processes a batch of jobs, each once', async () => {
    const before = ran.length;
    const jobs = await queue.insertMany(echo, Array.from({ length: 40 }, (_, n) => ({ text: 'batch', n })));
    await waitFor(async () => (await pool.query(`SELECT count(*)::int AS n FROM "${schema}".jobs WHERE id = ANY($1::bigint[]) AND state = 'completed'`, [jobs.map((j) => j.id)])).rows[0].n === 40, 'all 40 completed');
    const mine = ran.slice(before).filter((id) => jobs.some((j) => j.id === id));
    expect(mine.sort()).toEqual(jobs.map((j) => j.id).sort());
  });
});

describe('both drivers', () => {
  it('produce identical Job objects for the same insert', () => {
    const a = results.get('pg')!;
    const b = results.get('postgres.js')!;
    expect(comparable(a.inserted)).toEqual(comparable(b.inserted));
    expect(comparable(a.read!)).toEqual(comparable(b.read!));
  });
});

describe('postgres.js without fetch_types', () => {
  it('still returns tags as arrays (arrays are parsed by docket, not the driver)', async () => {
    const bare = createPostgresJs(url, 'docket-conformance-bare', { fetch_types: false });
    try {
      const queue = new Queue({ connection: bare, schema, workers: [echo], queues: {} });
      const job = await queue.insert(echo, { text: 'tags', n: 1 }, { tags: ['x', 'y,z'], delay: 60_000 });
      expect(job.tags).toEqual(['x', 'y,z']);
      expect((await queue.getJob(job.id))!.tags).toEqual(['x', 'y,z']);
      await checkFilters(queue);
      await queue.stop();
    } finally {
      await bare.end();
    }
  });
});
