// LISTEN lost three ways (issue 15, scenario 2), on both drivers, with the Queue's connections
// through a TCP proxy the test runs: its LISTEN backend terminated 50 times; its LISTEN socket
// black-holed (half-open: no RST, no error, nothing heard); and `UNLISTEN *` injected into it
// with the reply swallowed (the client never knows). Each time docket listens anew within the
// bound (5 s; half-open 10 s); a job inserted meanwhile starts by polling; one inserted after
// starts at once (woken by NOTIFY, long before the poll interval); none is lost; and each outage
// costs at most 5 log lines. A job cancelled while the node could not hear is aborted once it
// listens again (its reconnect re-reads controls and re-checks running attempts).
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Queue, Worker } from '../../src/index.js';
import type { QueueOptions } from '../../src/index.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { useSchema, waitFor } from '../support/queue.js';

const db = useSchema('listenlost');
const POLL = 4_000;
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

describe.each(['pg', 'postgres'] as const)('LISTEN lost, %s', (driver) => {
  it('comes back each time, within its bound, with nothing lost and few log lines', async () => {
    const app = `listenlost-${driver}-${process.pid}`;
    const target = new URL(db.url);
    const proxy: TcpProxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    cleanups.push(() => proxy.close());
    const viaProxy = new URL(db.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    viaProxy.searchParams.set('application_name', app);

    const started = new Map<string, number>();
    const ping = new Worker({
      name: `ping-${driver}`,
      queue: `lost-${driver}`,
      args: z.object({}),
      perform: async (job) => {
        started.set(job.id, Date.now());
        return null;
      },
    });
    // Runs until aborted: the job cancelled while the node cannot hear (scenario 2).
    const aborted = new Set<string>();
    const hold = new Worker({
      name: `hold-${driver}`,
      queue: `lost-${driver}`,
      args: z.object({}),
      perform: (job, { signal }) =>
        new Promise<null>((resolve) =>
          signal.addEventListener('abort', () => {
            aborted.add(job.id);
            resolve(null);
          }),
        ),
    });
    const logs: { at: number; line: string }[] = [];
    const log = (m: string) => logs.push({ at: Date.now(), line: m });
    let connection: QueueOptions['connection'];
    if (driver === 'pg') {
      connection = viaProxy.toString();
    } else {
      const sql = postgres(viaProxy.toString(), { max: 4, onnotice: () => {}, connection: { application_name: app } });
      cleanups.push(() => sql.end({ timeout: 1 }));
      connection = sql;
    }
    const queue = new Queue({
      connection,
      schema: db.schema,
      workers: [ping, hold],
      queues: { [`lost-${driver}`]: 2 },
      pollInterval: POLL,
      // No reconcile timer to speak of: a control notice lost in a LISTEN gap must be recovered
      // by the reconnect itself.
      reconcileInterval: 3_600_000,
      logger: { debug: () => {}, info: log, warn: log, error: log },
    });
    const inserter = await db.queue({ workers: [ping, hold], queues: {} }); // direct, not through the proxy
    await queue.start();
    cleanups.push(() => queue.stop({ timeout: 1_000 }));

    // The LISTEN backend in use: the newest one; every one seen before counts as lost (a
    // black-holed backend lives on, still showing its LISTEN).
    const lost = new Set<number>();
    const listener = async (): Promise<{ pid: number; port: number } | undefined> => {
      const { rows } = await db.pool.query<{ pid: number; client_port: number }>(
        `SELECT pid, client_port FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'LISTEN%' ORDER BY backend_start DESC`,
        [app],
      );
      const live = rows.find((r) => !lost.has(r.pid));
      return live === undefined ? undefined : { pid: live.pid, port: live.client_port };
    };
    const current = async (): Promise<{ pid: number; port: number }> => {
      let found: { pid: number; port: number } | undefined;
      await waitFor(async () => (found = await listener()) !== undefined, 'a LISTEN backend');
      return found!;
    };
    const listenAgain = async (old: number, bound: number): Promise<number> => {
      lost.add(old);
      const from = Date.now();
      await waitFor(async () => (await listener()) !== undefined, `a new LISTEN after losing backend ${old}`, bound);
      return Date.now() - from;
    };
    // Woken by NOTIFY: starts long before the poll interval.
    const wokenAtOnce = async (): Promise<number> => {
      const job = await inserter.insert(ping, {});
      const at = Date.now();
      await waitFor(() => started.has(job.id), 'a job inserted after LISTEN came back to start', POLL * 3);
      return started.get(job.id)! - at;
    };
    await current();
    expect(await wokenAtOnce()).toBeLessThan(POLL / 2);

    // 1. The LISTEN backend terminated, 50 times over.
    const relisten: number[] = [];
    for (let i = 0; i < 50; i++) {
      const { pid } = await current();
      await db.pool.query('SELECT pg_terminate_backend($1)', [pid]);
      relisten.push(await listenAgain(pid, 5_000));
    }
    expect(await wokenAtOnce()).toBeLessThan(POLL / 2);

    // 2. Half-open: the socket stays up, nothing goes through, nobody is told.
    // A job runs on the node; it is cancelled while the node hears nothing, so the cancel's
    // notice is lost: the reconnect re-checks the node's running attempts and aborts it.
    const held = await inserter.insert(hold, {});
    await waitFor(async () => (await db.count(`id = ${held.id} AND state = 'executing'`)) === 1, 'the held job to run');
    const logsBefore = logs.length;
    const silent = await current();
    proxy.blackhole(silent.port);
    const inGap = await inserter.insert(ping, {});
    await inserter.cancel(held.id, 'cancelled while the node could not hear');
    const halfOpen = await listenAgain(silent.pid, 10_000);
    await waitFor(() => aborted.has(held.id), 'the job cancelled in the gap to be aborted after the reconnect', 5_000);
    await waitFor(() => started.has(inGap.id), 'the job inserted in the gap to start (by polling)', POLL * 3);
    expect(await wokenAtOnce()).toBeLessThan(POLL / 2);
    const halfOpenLines = logs.length - logsBefore;

    // 3. UNLISTEN slipped into the connection, its reply swallowed.
    const logsBeforeUnlisten = logs.length;
    const deaf = await current();
    proxy.inject(deaf.port, 'UNLISTEN *');
    await waitFor(async () => {
      const { rows } = await db.pool.query<{ query: string }>('SELECT query FROM pg_stat_activity WHERE pid = $1', [deaf.pid]);
      return rows[0]?.query === 'UNLISTEN *';
    }, 'the injected UNLISTEN to run');
    const unlistened = await listenAgain(deaf.pid, 5_000);
    expect(await wokenAtOnce()).toBeLessThan(POLL / 2);
    const unlistenLines = logs.length - logsBeforeUnlisten;

    console.log(
      `[listen-lost ${driver}] re-LISTEN after termination: max ${Math.max(...relisten)} ms, median ${relisten.sort((a, b) => a - b)[25]} ms over 50; ` +
        `half-open: ${halfOpen} ms (${halfOpenLines} log lines); UNLISTEN: ${unlistened} ms (${unlistenLines} log lines)`,
    );
    expect(Math.max(...relisten)).toBeLessThan(5_000);
    expect(halfOpen).toBeLessThan(10_000);
    expect(unlistened).toBeLessThan(5_000);
    expect(halfOpenLines).toBeLessThanOrEqual(5);
    expect(unlistenLines).toBeLessThanOrEqual(5);
    // Nothing lost: every job inserted ran and was acked (the last ack may still be on its way).
    await waitFor(async () => (await db.count(`worker = 'ping-${driver}' AND state <> 'completed'`)) === 0, 'every job completed');
  }, 120_000);
});
