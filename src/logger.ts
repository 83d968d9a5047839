// The logger interface docket writes to. The library never prints: hosts pass their own logger
// (pino, winston and console all fit), and the default discards everything.

/**
 * A minimal structured logger. `pino()`, `console` and most loggers satisfy it.
 *
 * @example
 * ```ts
 * new Queue({ connection, logger: pino() });
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
