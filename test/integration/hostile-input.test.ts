// Huge and hostile input (issue 15, scenario 10): args JSON cannot carry, jsonb cannot store, or
// over the size limit are refused with an ArgsValidationError before any round trip; insert
// options out of PostgreSQL's range get a ConfigError; and whatever perform throws or returns,
// the job ends in a final state with a readable error instead of staying `executing`.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ArgsValidationError, ConfigError, Queue, Worker, WorkerResults, WorkflowError } from '../../src/index.js';
import type { Job } from '../../src/index.js';
import { databaseUrl } from '../support/db.js';
import { useSchema, waitFor } from '../support/queue.js';

const db = useSchema('hostile');
const MiB = 1024 * 1024;

const anything = new Worker({ name: 'anything', args: z.unknown(), perform: async () => null });
const text = new Worker({ name: 'text', args: z.object({ text: z.string() }), perform: async () => null });

/** A Queue (migrated, not started) on a pool that counts every query and checkout. */
async function countingQueue(options: { maxArgsBytes?: number } = {}): Promise<{ queue: Queue; roundTrips: () => number }> {
  await db.queue({ workers: [anything, text] }); // migrates the schema once
  const pool = new pg.Pool({ connectionString: databaseUrl(), max: 2 });
  let trips = 0;
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  const connect = pool.connect.bind(pool) as (...args: unknown[]) => unknown;
  (pool as unknown as { query: unknown }).query = (...args: unknown[]) => (trips++, query(...args));
  (pool as unknown as { connect: unknown }).connect = (...args: unknown[]) => (trips++, connect(...args));
  const queue = new Queue({ connection: pool, schema: db.schema, workers: [anything, text], ...options });
  return {
    queue,
    roundTrips: () => trips,
  };
}

async function refused(promise: Promise<unknown>): Promise<ArgsValidationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ArgsValidationError);
  return error as ArgsValidationError;
}

describe('args that cannot be stored', () => {
  it('refuses BigInt, cycles, NUL and lone surrogates with an ArgsValidationError naming the path, before any round trip', async () => {
    const { queue, roundTrips } = await countingQueue();
    const before = await db.count();
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = cycle;

    expect((await refused(queue.insert(anything, { n: 10n }))).issues[0]!.message).toMatch(/cannot be stored as JSON: .*BigInt/);
    expect((await refused(queue.insert(anything, cycle))).issues[0]!.message).toMatch(/cannot be stored as JSON: .*circular/i);
    const nul = await refused(queue.insert(text, { text: 'nul\u0000byte' }));
    expect(nul.issues[0]).toEqual({ path: ['text'], message: expect.stringMatching(/NUL character/) });
    const lone = await refused(queue.insert(anything, { list: ['ok', { ['key\uD800']: 1 }] }));
    expect(lone.issues[0]).toEqual({ path: ['list', 1, 'key\uD800'], message: expect.stringMatching(/lone surrogate/) });
    const lowOnly = await refused(queue.insert(text, { text: 'x\uDC00' }));
    expect(lowOnly.issues[0]!.path).toEqual(['text']);

    // insertMany names the item, as a field and in the message; none of the batch is written.
    const many = await refused(queue.insertMany(text, [{ text: 'a' }, { text: 'b' }, { text: 'c\u0000' }]));
    expect(many.index).toBe(2);
    expect(many.message).toContain('(item 2)');
    const schema = await refused(queue.insertMany(text, [{ text: 'a' }, { text: 7 as unknown as string }]));
    expect(schema.index).toBe(1);

    expect(roundTrips()).toBe(0);
    expect(await db.count()).toBe(before);
  });

  it('stores what looks like those but is not: escaped text, paired surrogates, other control characters', async () => {
    const { queue } = await countingQueue();
    const args = { text: 'a literal \\u0000 and \\ud800, an emoji 😀, a tab\t and \u0001' };
    const job = await queue.insert(text, args);
    expect((await queue.getJob(job.id))!.args).toEqual(args);
  });
});

describe('names, tags and schedules', () => {
  it('refuses tags and schedule names PostgreSQL cannot store, and quotes odd but storable ones end to end', async () => {
    const { queue, roundTrips } = await countingQueue();
    for (const tag of ['nul\u0000', 'half\uD800', '']) {
      await expect(queue.insert(text, { text: 'x' }, { tags: [tag] }), JSON.stringify(tag)).rejects.toThrow(ConfigError);
    }
    await expect(queue.schedules.set({ name: 'nul\u0000', expression: '* * * * *', worker: text, args: { text: 'x' } })).rejects.toThrow(ConfigError);
    await expect(queue.schedules.set({ name: 'bigint', expression: '* * * * *', worker: anything, args: { n: 1n } })).rejects.toThrow(ArgsValidationError);
    expect(roundTrips()).toBe(0);

    const odd = `it's "odd"; DROP TABLE jobs; -- 😀 \\ $1`;
    const job = await queue.insert(text, { text: odd }, { tags: [odd] });
    expect((await queue.getJob(job.id))!).toMatchObject({ args: { text: odd }, tags: [odd] });
    const schedule = await queue.schedules.set({ name: odd, expression: '0 0 1 1 *', worker: text, args: { text: odd } });
    expect(schedule.name).toBe(odd);
    expect((await queue.schedules.get(odd))!.args).toEqual({ text: odd });
  });

  it('never puts args into a NOTIFY payload', async () => {
    const { queue } = await countingQueue();
    const listener = new pg.Client({ connectionString: databaseUrl() });
    await listener.connect();
    const payloads: string[] = [];
    listener.on('notification', (n) => payloads.push(n.payload ?? ''));
    await listener.query(`LISTEN "docket:${db.schema}"`);
    try {
      const marker = `secret-${Date.now()}`;
      // In a transaction the NOTIFY rides in it: sent on commit, whether or not the queue runs.
      const client = await db.pool.connect();
      try {
        await client.query('BEGIN');
        await queue.insert(text, { text: marker }, { tx: client });
        await queue.insertMany(text, [{ text: marker }, { text: marker }], { tx: client, delay: 10 });
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      await waitFor(() => payloads.length > 0, 'the insert notification');
      for (const payload of payloads) expect(payload).not.toContain(marker);
    } finally {
      await listener.end();
    }
  });
});

describe('filters, reasons, names and keys PostgreSQL cannot store', () => {
  // Each of these once reached PostgreSQL and came back as a raw error (22021, 22P05, 22P02), or
  // was silently turned into U+FFFD; now each is a typed error before any round trip.
  const BAD = { nul: 'a\u0000b', high: 'a\uD800b', low: 'a\uDC00b' };

  it('refuses them with a ConfigError or a WorkflowError, writing nothing and changing nothing', async () => {
    const keyed = new Worker({ name: 'keyed', args: z.object({ text: z.string() }), partition: { by: (a) => a.text.slice(0, 1), limit: 1 }, perform: async () => null });
    const { queue, roundTrips } = await countingQueue();
    const setup = await db.queue({ workers: [anything, text, keyed] });
    const job = await setup.insert(text, { text: 'x' });
    const before = await db.count();
    const trips = roundTrips();
    for (const [kind, bad] of Object.entries(BAD)) {
      const calls: [string, () => Promise<unknown>, new (...args: never[]) => Error][] = [
        ['listJobs queue', () => queue.listJobs({ queue: bad }), ConfigError],
        ['listJobs worker', () => queue.listJobs({ worker: [bad] }), ConfigError],
        ['listJobs tags', () => queue.listJobs({ tags: ['ok', bad] }), ConfigError],
        ['cancelJobs tags', () => queue.cancelJobs({ tags: [bad] }), ConfigError],
        ['discardJobs worker', () => queue.discardJobs({ worker: bad }), ConfigError],
        ['retryJobs queue', () => queue.retryJobs({ queue: bad }), ConfigError],
        ['deleteJobs tags', () => queue.deleteJobs({ tags: [bad] }), ConfigError],
        ['cancel reason', () => queue.cancel(job.id, bad), ConfigError],
        ['discard reason', () => queue.discard(job.id, bad), ConfigError],
        ['cancelJobs reason', () => queue.cancelJobs({ ids: [job.id] }, bad), ConfigError],
        ['discardJobs reason', () => queue.discardJobs({ ids: [job.id] }, bad), ConfigError],
        ['cancelWorkflow reason', () => queue.cancelWorkflow('1', bad), ConfigError],
        ['schedule opts.tags', () => queue.schedules.set({ name: `tags-${kind}`, expression: '* * * * *', worker: text, args: { text: 'x' }, opts: { tags: [bad] } }), ConfigError],
        ['workflow name', async () => queue.workflow(bad).add('s', text, { text: 'x' }).insert(), WorkflowError],
        ['step name', async () => queue.workflow('w').add(bad, text, { text: 'x' }).insert(), WorkflowError],
      ];
      for (const [what, call, type] of calls) await expect(call(), `${what} (${kind})`).rejects.toThrow(type);
      // A name no schedule can have names none: no query, no error.
      expect(await queue.schedules.get(bad)).toBeNull();
      expect(await queue.schedules.remove(bad)).toBe(false);
    }
    // A partition key cut in the middle of an emoji (args themselves are fine).
    await expect(setup.insert(keyed, { text: '😀' })).rejects.toThrow(/Partition key .*no NUL or lone surrogates/);
    expect(roundTrips()).toBe(trips);
    expect(await db.count()).toBe(before);
    expect((await queue.getJob(job.id))!.state).toBe('available');
  });

  it('stores error messages and reasons perform gives with NUL or lone surrogates, replaced by U+FFFD', async () => {
    const workers = [
      new Worker({ name: 'throws-lone', args: z.object({}), maxAttempts: 1, perform: async () => { throw new Error(`cut ${'😀'.slice(0, 1)} here \uDC00 and \u0000`); } }),
      new Worker({ name: 'discards-lone', args: z.object({}), maxAttempts: 1, perform: async () => WorkerResults.discard('why \uD800') }),
    ];
    const queue = await db.queue({ workers, queues: { default: 10 } });
    const ended = new Map<string, Job>();
    const both = new Promise<void>((resolve) => {
      queue.on('job:discard', ({ job }) => {
        ended.set(job.worker, job);
        if (ended.size === workers.length) resolve();
      });
    });
    try {
      await queue.start();
      for (const worker of workers) await queue.insert(worker, {});
      await both;
      const stored = async (worker: string) => (await queue.getJob(ended.get(worker)!.id))!;
      expect((await stored('throws-lone')).errors.at(-1)!.message).toBe('cut \uFFFD here \uFFFD and \uFFFD');
      expect((await stored('discards-lone')).errors.at(-1)!.message).toBe('why \uFFFD');
    } finally {
      await queue.stop();
    }
  });
});

describe('args size', () => {
  // A string of `n` bytes of JSON once quoted: {"text":"xxx…"} is n bytes.
  const sized = (n: number) => ({ text: 'x'.repeat(n - '{"text":""}'.length) });

  it('takes 1 MiB − 1 by default and gives it back byte for byte; refuses 1 MiB + 1 and 10 MiB before any round trip', async () => {
    const { queue, roundTrips } = await countingQueue();
    const big = await refused(queue.insert(text, sized(MiB + 1)));
    expect(big.issues[0]!.message).toBe(`args are ${MiB + 1} bytes as JSON, over the limit of ${MiB} (Queue option maxArgsBytes)`);
    await refused(queue.insert(text, sized(10 * MiB)));
    // Multi-byte characters count as bytes, not as string length: 0.4 Mi characters of 3 bytes.
    await refused(queue.insert(text, { text: '€'.repeat(400_000) }));
    expect(roundTrips()).toBe(0);

    const fits = sized(MiB - 1);
    const job = await queue.insert(text, fits);
    const stored = await db.pool.query<{ bytes: number; same: boolean }>(
      `SELECT octet_length(args::text) AS bytes, args->>'text' = $2 AS same FROM "${db.schema}".jobs WHERE id = $1`,
      [job.id, fits.text],
    );
    expect(stored.rows[0]!.same).toBe(true);
    expect((await queue.getJob(job.id))!.args).toEqual(fits);
  });

  it('follows the Queue option maxArgsBytes, and checks the option', async () => {
    const { queue } = await countingQueue({ maxArgsBytes: 1000 });
    await queue.insert(text, sized(1000));
    expect((await refused(queue.insert(text, sized(1001)))).issues[0]!.message).toContain('over the limit of 1000');
    expect(() => new Queue({ connection: db.pool, schema: db.schema, maxArgsBytes: 0 })).toThrow(ConfigError);
    expect(() => new Queue({ connection: db.pool, schema: db.schema, maxArgsBytes: 256 * MiB })).toThrow(/maxArgsBytes/);
  });
});

describe('insert options out of range', () => {
  it('refuses a delay or a scheduledAt PostgreSQL cannot hold with a ConfigError, writing nothing', async () => {
    const { queue, roundTrips } = await countingQueue();
    const options = [
      { delay: 1e20 },
      { delay: 8.64e15 + 1 },
      { delay: 101 * 365 * 24 * 3600 * 1000 },
      { scheduledAt: new Date(8.64e15) },
      { scheduledAt: new Date(-8.64e15) },
      { scheduledAt: new Date('not a date') },
      { scheduledAt: '2030-01-01' as unknown as Date },
    ];
    for (const option of options) {
      await expect(queue.insert(text, { text: 'x' }, option), JSON.stringify(option)).rejects.toThrow(ConfigError);
    }
    expect(roundTrips()).toBe(0);
    const far = await queue.insert(text, { text: 'x' }, { scheduledAt: new Date('9999-12-31T00:00:00Z') });
    expect(far.scheduledAt.toISOString()).toBe('9999-12-31T00:00:00.000Z');
  });
});

describe('what perform throws or returns', () => {
  // Values on which reading throws: the job must still end, with a readable error.
  const hostile: Record<string, () => unknown> = {
    'null-prototype-cycle': () => {
      const value = Object.create(null) as Record<string, unknown>;
      value.self = value;
      return value;
    },
    'message-getter-throws': () => {
      const error = new Error('hidden');
      Object.defineProperty(error, 'message', { get: () => { throw new Error('no message for you'); } });
      return error;
    },
    'name-getter-throws': () => {
      const error = new Error('visible message');
      Object.defineProperty(error, 'name', { get: () => { throw new Error('no name for you'); } });
      return error;
    },
    proxy: () =>
      new Proxy({}, {
        get: () => { throw new Error('trap'); },
        getPrototypeOf: () => { throw new Error('trap'); },
        ownKeys: () => { throw new Error('trap'); },
      }),
  };

  it('ends every attempt in a final state with a readable error, whatever was thrown or returned', async () => {
    const workers = [
      ...Object.entries(hostile).map(([name, make]) => new Worker({ name: `throws-${name}`, args: z.object({}), maxAttempts: 1, perform: async () => { throw make(); } })),
      // Not a thenable (promise resolution reads `then`; that throwing would be a plain rejection),
      // but every other read throws.
      new Worker({
        name: 'returns-proxy',
        args: z.object({}),
        maxAttempts: 1,
        perform: async () => new Proxy({}, { get: (_, key) => { if (key === 'then') return undefined; throw new Error('trap'); } }),
      }),
      new Worker({ name: 'returns-thenable-trap', args: z.object({}), maxAttempts: 1, perform: async () => hostile.proxy!() }),
      new Worker({ name: 'returns-bigint', args: z.object({}), maxAttempts: 1, perform: async () => ({ n: 1n }) }),
      new Worker({ name: 'throws-huge', args: z.object({}), maxAttempts: 1, perform: async () => { throw new Error('e'.repeat(200_000)); } }),
    ];
    const queue = await db.queue({ workers, queues: { default: 10 } });
    const ended = new Map<string, Job>();
    const all = new Promise<void>((resolve) => {
      queue.on('job:discard', ({ job }) => {
        ended.set(job.worker, job);
        if (ended.size === workers.length) resolve();
      });
    });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      await queue.start();
      for (const worker of workers) await queue.insert(worker, {});
      await all;
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    const message = (worker: string) => ended.get(worker)!.errors.at(-1)!.message;
    expect(message('throws-null-prototype-cycle')).toMatch(/\[object Object\]|cannot be read/);
    expect(message('throws-message-getter-throws')).toBe('Error');
    expect(ended.get('throws-name-getter-throws')!.errors.at(-1)).toMatchObject({ message: 'visible message', name: 'Error' });
    expect(message('throws-proxy')).toBe('perform threw a value that cannot be read');
    expect(message('returns-proxy')).toBe('perform returned a value that cannot be read: Error: trap');
    expect(message('returns-thenable-trap')).toBe('trap');
    expect(message('returns-bigint')).toMatch(/^perform returned a value that is not JSON: .*BigInt/);
    const huge = message('throws-huge');
    expect(huge.length).toBeLessThan(70_000);
    expect(huge).toMatch(new RegExp(`… \\(${200_000 - 64 * 1024} more characters cut\\)$`));
    for (const job of ended.values()) {
      const stored = (await queue.getJob(job.id))!;
      expect(stored.state, job.worker).toBe('discarded');
    }
    expect(unhandled).toEqual([]);
  });
});
