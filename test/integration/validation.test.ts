// Bad input gets a typed error that names the problem, and nothing is written.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ArgsValidationError, ConfigError, Queue, UnknownWorkerError, Worker } from '../../src/index.js';
import { useSchema } from '../support/queue.js';

const db = useSchema('validation');
const resize = new Worker({
  name: 'resize-image',
  args: z.object({ url: z.string().url(), width: z.number().int().positive() }),
  queue: 'images',
  perform: async () => 'ok',
});

describe('validation', () => {
  it('bad args throw ArgsValidationError naming each field, and write nothing', async () => {
    const queue = await db.queue({ workers: [resize], queues: {} });
    const error = await queue.insert(resize, { url: 'not a url', width: -3 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArgsValidationError);
    const e = error as ArgsValidationError;
    expect(e.code).toBe('DOCKET_ARGS_INVALID');
    expect(e.worker).toBe('resize-image');
    expect(e.issues.map((i) => i.path.join('.')).sort()).toEqual(['url', 'width']);
    expect(e.message).toMatch(/url/);
    expect(e.message).toMatch(/width/);
    expect(await db.count()).toBe(0);
  });

  it('one bad item in insertMany rejects the whole batch and names the item', async () => {
    const queue = await db.queue({ workers: [resize], queues: {} });
    const good = { url: 'http://127.0.0.1/a.png', width: 10 };
    const error = await queue.insertMany(resize, [good, good, { url: 'http://127.0.0.1/b.png', width: 0 }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArgsValidationError);
    expect((error as Error).message).toContain('(item 2)');
    expect(await db.count()).toBe(0);
  });

  it('an unknown worker is a typed error, by name or by an unregistered Worker', async () => {
    const queue = await db.queue({ workers: [resize], queues: {} });
    await expect(queue.insert('no-such-worker', {})).rejects.toBeInstanceOf(UnknownWorkerError);
    const stranger = new Worker({ name: 'stranger', args: z.object({}), perform: async () => null });
    const error = await queue.insert(stranger, {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnknownWorkerError);
    expect((error as Error).message).toContain('"stranger"');
    expect((error as Error).message).toContain('"resize-image"');
    expect(await db.count()).toBe(0);
  });

  it('bad insert options are typed errors', async () => {
    const queue = await db.queue({ workers: [resize], queues: {} });
    const args = { url: 'http://127.0.0.1/a.png', width: 10 };
    await expect(queue.insert(resize, args, { priority: 1.5 })).rejects.toBeInstanceOf(ConfigError);
    await expect(queue.insert(resize, args, { delay: -1 })).rejects.toBeInstanceOf(ConfigError);
    await expect(queue.insert(resize, args, { scheduledAt: new Date('nope') })).rejects.toBeInstanceOf(ConfigError);
    await expect(queue.insert(resize, args, { delay: 1, scheduledAt: new Date() })).rejects.toBeInstanceOf(ConfigError);
    await expect(queue.insert(resize, args, { maxAttempts: 0 })).rejects.toBeInstanceOf(ConfigError);
    await expect(queue.insert(resize, args, { tags: [''] })).rejects.toBeInstanceOf(ConfigError);
    await expect(queue.insert(resize, args, { tx: db.pool })).rejects.toThrow(/pass the client you ran BEGIN on/);
    await expect(queue.insert(resize, args, { tx: {} })).rejects.toBeInstanceOf(ConfigError);
    await expect(queue.getJob('abc')).rejects.toBeInstanceOf(ConfigError);
    expect(await db.count()).toBe(0);
  });

  it.each([
    ['semicolon', 'bad;name'],
    ['quote', 'bad"name'],
    ['empty', ''],
    ['leading digit', '1abc'],
    ['reserved prefix', 'pg_docket'],
    ['too long', 'x'.repeat(51)],
  ])('rejects a bad schema name (%s) with ConfigError before touching the database', (_label, schema) => {
    expect(() => new Queue({ connection: db.pool, schema })).toThrow(ConfigError);
  });

  it('rejects bad queue options', () => {
    expect(() => new Queue({ connection: db.pool, queues: { default: -1 } })).toThrow(/Concurrency of queue "default"/);
    expect(() => new Queue({ connection: db.pool, queues: { 'bad queue': 1 } })).toThrow(ConfigError);
    expect(() => new Queue({ connection: db.pool, workers: [resize, resize] })).toThrow(/Duplicate worker name/);
    expect(() => new Queue({ connection: 42 as never })).toThrow(ConfigError);
    expect(() => new Queue({ connection: '' })).toThrow(ConfigError);
    expect(() => new Queue({ connection: db.pool, preparedStatements: 'no' as never })).toThrow(/"preparedStatements" must be true or false/);
    expect(() => new Queue({ connection: db.pool, listenConnection: '' })).toThrow(/"listenConnection"/);
    expect(() => new Queue({ connection: db.pool, listenConnection: 42 as never })).toThrow(/Queue option "listenConnection" must be/);
  });

  it('rejects bad worker definitions', () => {
    const args = z.object({});
    const perform = async (): Promise<null> => null;
    expect(() => new Worker({ name: '', args, perform })).toThrow(ConfigError);
    expect(() => new Worker({ name: 'x', args, perform, maxAttempts: 0 })).toThrow(/maxAttempts/);
    expect(() => new Worker({ name: 'x', args, perform, timeout: -5 })).toThrow(/timeout/);
    expect(() => new Worker({ name: 'x', args, perform, priority: 99999 })).toThrow(/priority/);
    expect(() => new Worker({ name: 'x', args: {} as never, perform })).toThrow(/zod schema/);
    expect(() => new Worker({ name: 'x', args, perform: 'no' as never })).toThrow(/perform/);
  });

  it('applies zod transforms and defaults before storing', async () => {
    const withDefaults = new Worker({
      name: 'defaults',
      args: z.object({ email: z.string().trim().toLowerCase(), retries: z.number().default(3) }),
      perform: async () => null,
    });
    const queue = await db.queue({ workers: [withDefaults], queues: {} });
    const job = await queue.insert(withDefaults, { email: '  Ada@Example.ORG ' });
    expect(job.args).toEqual({ email: 'ada@example.org', retries: 3 });
    await db.pool.query(`DELETE FROM "${db.schema}".jobs_live`);
  });
});
