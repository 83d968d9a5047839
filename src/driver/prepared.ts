// Whether a driver names (prepares) docket's statements, and the switch away from that when the
// server loses track of them. Behind a connection pooler in transaction mode (PgBouncer before
// 1.21, or later ones without max_prepared_statements), one client's statements land on
// different server connections, so a statement prepared on one is missing on the next (26000)
// or already there under that name (42P05). Either error comes before anything ran, so the
// statement can run again, unnamed. Hosts that know they sit behind such a pooler say
// `preparedStatements: false` and never see the warning.
import type { Logger } from '../definitions/logger.js';

const LOST = new Set(['26000', '42P05']);

/** The naming policy of one driver: on until the server shows it cannot keep named statements. */
export class PreparedStatements {
  #enabled: boolean;

  constructor(
    enabled: boolean,
    private readonly logger: Pick<Logger, 'warn'>,
  ) {
    this.#enabled = enabled;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /**
   * Runs `statement` through `run`, named when naming is on and the statement allows it; when
   * the server refuses the name and `retry` is true (the pool, where nothing else ran: inside a
   * transaction the refusal has already aborted it), once more unnamed.
   */
  async run<R>(statement: { readonly prepare?: boolean }, run: (named: boolean) => Promise<R>, retry: boolean): Promise<R> {
    const named = this.#enabled && statement.prepare !== false;
    try {
      return await run(named);
    } catch (error) {
      if (named && this.lost(error) && retry) return run(false);
      throw error;
    }
  }

  /**
   * Whether `error` is the server not knowing a named statement (or knowing it already). The
   * first such error turns naming off for good, with one warning.
   */
  lost(error: unknown): boolean {
    const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
    if (typeof code !== 'string' || !LOST.has(code)) return false;
    if (this.#enabled) {
      this.#enabled = false;
      this.logger.warn(
        'docket: the database lost one of its prepared statements (a connection pooler in transaction mode, such as PgBouncer?); ' +
          'docket now sends unnamed statements. Set the Queue option preparedStatements: false to start that way.',
        { code },
      );
    }
    return true;
  }
}
