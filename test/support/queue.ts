// Helpers for tests that run real queues: a per-file schema, queues that are always stopped,
// and waits on events or conditions (never fixed sleeps).
import type pg from 'pg';
import { afterAll } from 'vitest';
import { Queue } from '../../src/index.js';
import type { QueueEventName, QueueEvents, QueueOptions } from '../../src/index.js';
import { createPgPool, databaseUrl, dropSchema, uniqueSchemaName } from './db.js';

/** Waits until `check` returns true (polled), or fails with `what` after `timeout` ms. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeout = 20_000): Promise<void> {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves with the first payload of `event` that matches `predicate`. */
export function nextEvent<E extends QueueEventName>(
  queue: Queue,
  event: E,
  predicate: (...args: Parameters<QueueEvents[E]>) => boolean = () => true,
  timeout = 20_000,
): Promise<Parameters<QueueEvents[E]>[0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      queue.off(event, listener as never);
      reject(new Error(`Timed out after ${timeout} ms waiting for ${event}`));
    }, timeout);
    const listener = (...args: Parameters<QueueEvents[E]>): void => {
      if (!predicate(...args)) return;
      clearTimeout(timer);
      queue.off(event, listener as never);
      resolve(args[0]);
    };
    queue.on(event, listener as never);
  });
}

/**
 * A test context for one file: its own schema, a pg pool, and queues that are stopped and
 * dropped after the file. `queue()` creates (and migrates, once) a Queue on that schema.
 */
export function useSchema(prefix: string): {
  readonly url: string;
  readonly schema: string;
  readonly pool: pg.Pool;
  queue(options: Omit<QueueOptions, 'connection' | 'schema'> & { connection?: QueueOptions['connection'] }): Promise<Queue>;
  count(where?: string): Promise<number>;
} {
  const url = databaseUrl();
  const schema = uniqueSchemaName(prefix);
  const pool = createPgPool(url, `docket-test-${schema}`);
  const queues: Queue[] = [];
  let migrated: Promise<unknown> | undefined;
  afterAll(async () => {
    await Promise.all(queues.map((q) => q.stop({ timeout: 1_000 })));
    await pool.end();
    await dropSchema(url, schema);
  });
  return {
    url,
    schema,
    pool,
    async queue(options) {
      const queue = new Queue({ pollInterval: 200, ...options, connection: options.connection ?? pool, schema });
      queues.push(queue);
      migrated ??= queue.migrate();
      await migrated;
      return queue;
    },
    async count(where = 'true') {
      const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".jobs WHERE ${where}`);
      return rows[0]!.n;
    },
  };
}
