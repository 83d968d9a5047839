// The logger interface docket writes to. The library never prints: hosts pass their own logger
// (pino, winston and console all fit), and the default discards everything.

/**
 * A minimal structured logger: a message, then an optional object of details. `console`
 * fits as is; for pino, which takes the object first, adapt the argument order.
 *
 * @example
 * ```ts
 * new Queue({ connection, logger: console });
 * const log = pino();
 * new Queue({ connection, logger: {
 *   debug: (m, o) => log.debug(o, m), info: (m, o) => log.info(o, m),
 *   warn: (m, o) => log.warn(o, m), error: (m, o) => log.error(o, m),
 * } });
 * ```
 */
export interface Logger {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

/** A logger that drops everything; the default. */
export function silentLogger(): Logger {
  const noop = (): void => {};
  return { debug: noop, info: noop, warn: noop, error: noop };
}
