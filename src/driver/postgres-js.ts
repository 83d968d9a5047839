// The postgres.js driver: runs on the host's `sql` instance (never ended by us), turns the host's
// `sql.begin(tx => ...)` transaction into a Queryable, and uses postgres.js's own LISTEN, which
// reconnects by itself and calls us back on every (re)connect.
import type postgres from 'postgres';
import type { Driver, ListenHandlers, Queryable, Statement, Subscription } from './types.js';
import { backoffDelay } from '../definitions/backoff.js';
import { loadDriverPackage } from './load.js';
import type { PreparedStatements } from './prepared.js';

type Sql = postgres.Sql;
type TxSql = postgres.TransactionSql;
type Runner = Pick<Sql, 'unsafe'>;

/** Whether `value` is a postgres.js `sql` instance or transaction. */
export function isPostgresJs(value: unknown): value is Sql {
  return typeof value === 'function' && typeof (value as Sql).unsafe === 'function';
}

// postgres.js prepares a statement only when both the host's instance (its `prepare` option)
// and the query ask for it. `retry`: see PreparedStatements.run.
function runnerQueryable(runner: Runner, prepared: PreparedStatements, retry: boolean): Queryable {
  return {
    query: <R>(statement: Statement, params: readonly unknown[]): Promise<R[]> =>
      prepared.run(
        statement,
        async (prepare) =>
          (await runner.unsafe(statement.text, params as postgres.ParameterOrJSON<never>[], { prepare })) as unknown as R[],
        retry,
      ),
    async exec(sql: string): Promise<void> {
      await runner.unsafe(sql).simple();
    },
  };
}

/** Wraps the host's postgres.js transaction so docket's statements run inside it. */
export function postgresJsTransaction(tx: TxSql | Sql, prepared: PreparedStatements): Queryable {
  return runnerQueryable(tx, prepared, false);
}

/** Creates the postgres.js driver over the host's `sql`. */
export function createPostgresJsDriver(sql: Sql, prepared: PreparedStatements): Driver {
  // Loaded now, not at the first LISTEN, so that a package docket cannot resolve fails the
  // Queue constructor rather than start().
  const factory = loadDriverPackage('postgres', 'to LISTEN with a postgres.js connection');
  const base = runnerQueryable(sql, prepared, true);
  return {
    kind: 'postgres',
    owned: false,
    prepared,
    query: base.query,
    exec: base.exec,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      // READ COMMITTED whatever the database's default: see the pg driver.
      return (await sql.begin('isolation level read committed', (tx) => fn(runnerQueryable(tx, prepared, false)))) as T;
    },
    listen(channel: string, handlers: ListenHandlers): Subscription {
      return listenPostgresJs(factory, sql, channel, handlers);
    },
    async close(): Promise<void> {
      // The host owns `sql`; we only drop our LISTEN (done by the subscription).
    },
  };
}

// Connection settings copied from the host's instance for our own LISTEN instance.
const LISTEN_OPTION_KEYS = [
  'host', 'port', 'path', 'database', 'user', 'pass', 'ssl', 'connection',
  'connect_timeout', 'keep_alive', 'target_session_attrs', 'fetch_types',
] as const;

// LISTEN runs on a one-connection postgres.js instance of our own, built from the host's
// settings: postgres.js re-creates listeners when it reconnects, after which the host
// instance's unlisten() no longer removes ours, so a stopped queue would stay subscribed.
// Ending our own instance always removes it, and never touches the host's `sql`.
function listenPostgresJs(factory: typeof postgres, sql: Sql, channel: string, handlers: ListenHandlers): Subscription {
  const source = sql.options as unknown as Record<string, unknown>;
  const options: Record<string, unknown> = { max: 1, idle_timeout: 0, max_lifetime: null, onnotice: () => {} };
  for (const key of LISTEN_OPTION_KEYS) if (source[key] !== undefined) options[key] = source[key];
  const listener = factory(options as postgres.Options<Record<string, postgres.PostgresType>>);
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;
  // postgres.js re-listens on reconnect by itself once the first LISTEN succeeded; until then
  // (database down at start) we retry with capped backoff.
  const attempt = (): void => {
    listener
      .listen(
        channel,
        (payload) => {
          if (closed) return;
          try {
            handlers.onNotify(payload);
          } catch (error) {
            handlers.onError(error);
          }
        },
        () => {
          failures = 0;
          if (!closed) handlers.onConnect();
        },
      )
      .then(undefined, (error: unknown) => {
        if (closed) return;
        handlers.onError(error);
        timer = setTimeout(attempt, backoffDelay(failures++));
      });
  };
  attempt();
  return {
    async close(): Promise<void> {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      await listener.end({ timeout: 1 }).catch(() => {});
    },
  };
}
