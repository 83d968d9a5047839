// A node whose outcomes cannot be written stops claiming. A slot frees when a job's outcome is
// queued for the ack, not when it is written; without a bound, a node with a wedged ack path
// claims every job there is and holds them all `executing` while its heartbeat says it lives.
// Here the acks are wedged for real: a transaction holds a SHARE lock on the history, so every
// ack (which moves completed jobs into it) waits, while claims (which touch only the live table)
// go through.
import { expect, it } from 'vitest';
import { z } from 'zod';
import { Worker } from '../../src/index.js';
import { BACKLOG_LIMIT } from '../../src/runtime/completer.js';
import { useSchema, waitFor } from '../support/queue.js';

const db = useSchema('backlog');
const TOTAL = 4_000;
const LIMIT = 50;

it('claims nothing more once its unwritten outcomes reach the backlog limit, and resumes when they are written', async () => {
  const lines: { level: string; message: string; pending: number }[] = [];
  const log = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    void lines.push({ level, message, pending: Number(fields?.pending) });
  const logger = { debug: () => {}, info: log('info'), warn: log('warn'), error: log('error') };
  const noop = new Worker({ name: 'noop', queue: 'backlog', args: z.object({ i: z.number() }), perform: async () => null });
  const node = await db.queue({ workers: [noop], queues: { backlog: LIMIT }, pollInterval: 100, logger });
  await node.insertMany(noop, Array.from({ length: TOTAL }, (_, i) => ({ i })));

  const lock = await db.pool.connect();
  try {
    await lock.query('BEGIN');
    await lock.query(`LOCK TABLE "${db.schema}".jobs_finished IN SHARE MODE`);
    await node.start();

    await waitFor(() => lines.some((l) => l.level === 'warn' && /claims no more jobs/.test(l.message)), 'the backlog warning', 30_000);
    expect(lines.find((l) => l.level === 'warn' && /claims no more jobs/.test(l.message))!.pending).toBe(BACKLOG_LIMIT);
    // Then the claims stop: the executing count holds still for a second (ten poll intervals).
    let last = -1;
    let since = Date.now();
    await waitFor(async () => {
      const now = await db.count(`state = 'executing'`);
      if (now !== last) [last, since] = [now, Date.now()];
      return Date.now() - since >= 1_000;
    }, 'claims to stop', 30_000);
    // At most: the backlog, the slots, a full prefetch buffer and one fetch in flight for them.
    expect(last).toBeGreaterThanOrEqual(BACKLOG_LIMIT);
    expect(last).toBeLessThanOrEqual(BACKLOG_LIMIT + 2 * (LIMIT + 500));
    expect(await db.count(`state = 'available'`)).toBe(TOTAL - last);
  } finally {
    await lock.query('COMMIT');
    lock.release();
  }

  // The acks land, the node says so, and claims the rest.
  await waitFor(async () => (await db.count(`state = 'completed'`)) === TOTAL, 'every job to complete', 60_000);
  expect(lines.some((l) => l.level === 'info' && /claiming resumes/.test(l.message))).toBe(true);
  expect(lines.filter((l) => l.level === 'error')).toEqual([]);
}, 120_000);
