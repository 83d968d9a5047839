// The postgres.js driver: runs on the host's `sql` instance (never ended by us), turns the host's
// `sql.begin(tx => ...)` transaction into a Queryable, and uses postgres.js's own LISTEN, which
// reconnects by itself and calls us back on every (re)connect.
import type postgres from 'postgres';
import type { Driver, ListenHandlers, Queryable, Statement, Subscription } from './types.js';
import { backoffDelay } from './types.js';

type Sql = postgres.Sql;
type TxSql = postgres.TransactionSql;
type Runner = Pick<Sql, 'unsafe'>;

/** Whether `value` is a postgres.js `sql` instance or transaction. */
export function isPostgresJs(value: unknown): value is Sql {
  return typeof value === 'function' && typeof (value as Sql).unsafe === 'function';
}

function runnerQueryable(runner: Runner): Queryable {
  return {
    async query<R>(statement: Statement, params: readonly unknown[]): Promise<R[]> {
      const rows = await runner.unsafe(statement.text, params as postgres.ParameterOrJSON<never>[], { prepare: true });
      return rows as unknown as R[];
    },
    async exec(sql: string): Promise<void> {
      await runner.unsafe(sql).simple();
    },
  };
}

/** Wraps the host's postgres.js transaction so docket's statements run inside it. */
export function postgresJsTransaction(tx: TxSql | Sql): Queryable {
  return runnerQueryable(tx);
}

/** Creates the postgres.js driver over the host's `sql`. */
export function createPostgresJsDriver(sql: Sql): Driver {
  const base = runnerQueryable(sql);
  return {
    kind: 'postgres',
    owned: false,
    query: base.query,
    exec: base.exec,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      return (await sql.begin((tx) => fn(runnerQueryable(tx)))) as T;
    },
    listen(channel: string, handlers: ListenHandlers): Subscription {
      let closed = false;
      let timer: NodeJS.Timeout | undefined;
      let failures = 0;
      let unlisten: (() => Promise<void>) | undefined;
      // postgres.js re-listens on reconnect by itself once the first LISTEN succeeded; until then
      // (database down at start) we retry with capped backoff.
      const attempt = (): void => {
        sql
          .listen(channel, (payload) => handlers.onNotify(payload), () => {
            failures = 0;
            if (!closed) handlers.onConnect();
          })
          .then(
            (meta) => {
              unlisten = meta.unlisten;
              if (closed) void meta.unlisten().catch(() => {});
            },
            (error: unknown) => {
              if (closed) return;
              handlers.onError(error);
              timer = setTimeout(attempt, backoffDelay(failures++));
            },
          );
      };
      attempt();
      return {
        async close(): Promise<void> {
          closed = true;
          if (timer !== undefined) clearTimeout(timer);
          await unlisten?.().catch(() => {});
        },
      };
    },
    async close(): Promise<void> {
      // The host owns `sql`; we only drop our LISTEN (done by the subscription).
    },
  };
}
