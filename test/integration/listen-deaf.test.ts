// A LISTEN route that never delivers (issue 15, scenario 4, without PgBouncer's other effects):
// through a proxy that drops every notification, a node gives up on LISTEN after three silent
// subscriptions with one warning and no other line; once notifications flow again, its next
// recheck hears its probe, it says so, and notices reach it again.
import { afterAll, expect, it } from 'vitest';
import { createEngine } from '../../src/engine/create-engine.js';
import { Listening } from '../../src/runtime/listening.js';
import { startMutingProxy } from '../support/muting-proxy.js';
import { useSchema, waitFor } from '../support/queue.js';

const db = useSchema('deaf');
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

it('gives up on a LISTEN that hears nothing, says so once, and listens again once it can', async () => {
  await db.queue({ queues: {} }); // migrates
  const target = new URL(db.url);
  const proxy = await startMutingProxy(target.hostname, Number(target.port || 5432));
  cleanups.push(() => proxy.close());
  const viaProxy = new URL(db.url);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  const lines: { level: string; message: string }[] = [];
  const logger = {
    debug: () => {},
    info: (message: string) => void lines.push({ level: 'info', message }),
    warn: (message: string) => void lines.push({ level: 'warn', message }),
    error: (message: string) => void lines.push({ level: 'error', message }),
  };
  const channel = `docket:${db.schema}`;
  const engine = createEngine({ connection: viaProxy.toString(), poolSize: 2, logger, schema: db.schema, quotedSchema: `"${db.schema}"`, channel });
  cleanups.push(() => engine.close());
  const notices: string[] = [];
  let connects = 0;
  const listening = new Listening(engine, 'deaf-node', { onNotice: (p) => notices.push(p), onConnect: () => connects++, onError: () => {} }, logger, 1_000);
  cleanups.push(() => listening.stop());

  proxy.mute(true);
  listening.start();
  await waitFor(() => lines.some((l) => /LISTEN delivers nothing/.test(l.message)), 'the node to give up on LISTEN', 30_000);
  expect(connects, 'subscriptions tried before giving up').toBeGreaterThanOrEqual(3);
  // One line: the silent subscriptions before it said nothing.
  expect(lines).toHaveLength(1);
  expect(lines[0]!.level).toBe('warn');

  proxy.mute(false);
  await waitFor(() => lines.some((l) => /delivers notifications again/.test(l.message)), 'the recheck to hear its probe', 20_000);
  await db.pool.query('SELECT pg_notify($1, $2)', [channel, 'hello']);
  await waitFor(() => notices.includes('hello'), 'a notice to reach the node again');
  // (Later lines, if any, would be a probe late on a busy machine: a lost LISTEN, listened on anew.)
  expect(lines.slice(0, 2).map((l) => l.level)).toEqual(['warn', 'info']);
}, 90_000);
