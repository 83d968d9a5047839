// The `pg` (node-postgres) driver: a Pool to run on (the host's, or one docket owns when given a
// connection string), the host's PoolClient inside BEGIN for transactional inserts, and a
// dedicated Client for LISTEN that reconnects with capped backoff.
import type pg from 'pg';
import type { Driver, ListenHandlers, Queryable, Statement, Subscription } from './types.js';
import { backoffDelay } from '../definitions/backoff.js';
import type { Logger } from '../definitions/logger.js';
import { loadDriverPackage } from './load.js';
import type { PreparedStatements } from './prepared.js';

type PgRunner = Pick<pg.PoolClient, 'query'>;

// `retry`: see PreparedStatements.run.
function runnerQueryable(runner: PgRunner, prepared: PreparedStatements, retry: boolean): Queryable {
  return {
    query: <R>(statement: Statement, params: readonly unknown[]): Promise<R[]> =>
      prepared.run(
        statement,
        async (named) => {
          const values = params as unknown[];
          const result = await runner.query(named ? { name: statement.name, text: statement.text, values } : { text: statement.text, values });
          return result.rows as R[];
        },
        retry,
      ),
    async exec(sql: string): Promise<void> {
      await runner.query(sql);
    },
  };
}

/** Whether `value` looks like a pg Pool. */
export function isPgPool(value: unknown): value is pg.Pool {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as pg.Pool).connect === 'function' &&
    typeof (value as pg.Pool).query === 'function' &&
    'totalCount' in value
  );
}

/** Whether `value` looks like a pg Client / PoolClient (something a host transaction runs on). */
export function isPgClient(value: unknown): value is pg.ClientBase {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as pg.ClientBase).query === 'function' &&
    typeof (value as pg.ClientBase).connect === 'function' &&
    !('totalCount' in value)
  );
}

/** Wraps the host's pg client (inside BEGIN) so docket's statements run in its transaction. */
export function pgTransaction(client: pg.ClientBase, prepared: PreparedStatements): Queryable {
  return runnerQueryable(client, prepared, false);
}

/** Creates the pg driver over a pool. `owned` pools are ended by `close()`; host pools never are. */
export function createPgDriver(pool: pg.Pool, owned: boolean, logger: Logger, prepared: PreparedStatements): Driver {
  if (owned) {
    // An idle client dying (DB restart) makes the pool emit 'error'; unhandled, that kills the
    // process. We own this pool, so we own its errors.
    pool.on('error', (error) => logger.warn('docket: idle pg connection failed', { error }));
  }
  const base = runnerQueryable(pool, prepared, true);
  return {
    kind: 'pg',
    owned,
    prepared,
    query: base.query,
    exec: base.exec,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        // docket's own transactions (migrations, limited fetches) rely on READ COMMITTED
        // snapshots per statement, whatever the database's default isolation is.
        await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
        const out = await fn(runnerQueryable(client, prepared, false));
        await client.query('COMMIT');
        return out;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          broken = rollbackError as Error;
        }
        throw error;
      } finally {
        client.release(broken);
      }
    },
    listen(channel: string, handlers: ListenHandlers): Subscription {
      return listenPg(pool, channel, handlers);
    },
    async close(): Promise<void> {
      if (owned) await pool.end();
    },
  };
}

// A Client of our own (built from the pool's options) rather than a pool slot: a LISTEN
// connection lives for the queue's life and must not starve the host's pool.
function listenPg(pool: pg.Pool, channel: string, handlers: ListenHandlers): Subscription {
  // A pg Pool carries its Client class; `pg` itself is loaded only for a pool-like object without one.
  const ClientClass =
    (pool as unknown as { Client?: typeof pg.Client }).Client ?? loadDriverPackage('pg', 'to LISTEN on a pg Pool').Client;
  const options = (pool as unknown as { options: pg.ClientConfig }).options;
  let closed = false;
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;

  const schedule = (): void => {
    if (closed || timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, backoffDelay(failures++));
  };

  const connect = async (): Promise<void> => {
    const c = new ClientClass(options);
    client = c;
    let dropped = false;
    const drop = (error?: unknown): void => {
      if (dropped) return;
      dropped = true;
      if (error !== undefined && !closed) handlers.onError(error);
      c.removeAllListeners('notification');
      c.end().catch(() => {});
      if (client === c) client = undefined;
      schedule();
    };
    c.on('error', drop);
    c.on('end', () => drop());
    c.on('notification', (msg) => {
      try {
        handlers.onNotify(msg.payload ?? '');
      } catch (error) {
        handlers.onError(error);
      }
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${quoteChannel(channel)}`);
    } catch (error) {
      drop(error);
      return;
    }
    if (closed) {
      await c.end().catch(() => {});
      return;
    }
    failures = 0;
    handlers.onConnect();
  };

  void connect();
  return {
    async close(): Promise<void> {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      const c = client;
      client = undefined;
      if (c !== undefined) {
        c.removeAllListeners('end');
        await endWithin(c, 1_000);
      }
    },
  };
}

// end() waits for the server to close the socket, which a half-open connection (the very one
// the LISTEN probe gives up on) never does: after `ms`, the socket is destroyed instead.
async function endWithin(c: pg.Client, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([
    c.end().then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]);
  clearTimeout(timer);
  if (!ended) (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

function quoteChannel(channel: string): string {
  return `"${channel.replace(/"/g, '""')}"`;
}
