// The driver seam: the little docket needs from a PostgreSQL client. `pg` and postgres.js each
// implement it once; everything above this line is driver-agnostic and uses the same SQL text.
import type { PreparedStatements } from './prepared.js';

/** A SQL statement with `$n` parameters. `name` lets drivers prepare hot statements once. */
export interface Statement {
  readonly name: string;
  readonly text: string;
  /**
   * False for statements whose best plan depends on which filters are set (listing, bulk
   * control): they are planned for each call's parameters instead of reusing a generic plan.
   */
  readonly prepare?: boolean;
}

/** Something statements run on: the pool, a transaction of ours, or the host's transaction. */
export interface Queryable {
  query<R>(statement: Statement, params: readonly unknown[]): Promise<R[]>;
  /** Runs several `;`-separated statements with no parameters (migrations). */
  exec(sql: string): Promise<void>;
}

/** Callbacks of a LISTEN subscription. */
export interface ListenHandlers {
  onNotify(payload: string): void;
  /** Called on every (re)connect once LISTEN is in place: a chance to catch up on what was missed. */
  onConnect(): void;
  onError(error: unknown): void;
}

/** A live LISTEN subscription. */
export interface Subscription {
  close(): Promise<void>;
}

/** A connection to the database: a pool to run on, transactions, and LISTEN. */
export interface Driver extends Queryable {
  readonly kind: 'pg' | 'postgres';
  /** Whether docket created the underlying pool (and so must end it). */
  readonly owned: boolean;
  /** Whether statements are named (prepared), shared with the host transactions it wraps. */
  readonly prepared: PreparedStatements;
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** LISTEN on a dedicated connection that reconnects by itself with capped backoff. */
  listen(channel: string, handlers: ListenHandlers): Subscription;
  /** Ends what docket created; never a pool or client the host gave it. */
  close(): Promise<void>;
}
