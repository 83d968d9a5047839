// The CLI's exit codes and the errors that carry them. Every failure ends up as one of four codes,
// so scripts can tell "you typed it wrong" (2) from "the database is not there" (3) from "it ran,
// and the answer is no" (1). `exitCodeOf` classifies errors thrown by the library or by pg.
import { DocketError } from '../index.js';

/** The documented exit codes (README "Command line", `docket --help`). */
export const EXIT = {
  /** It worked. */
  ok: 0,
  /** The operation failed or found nothing (no such job, a job that cannot be cancelled, a database error). */
  failed: 1,
  /** Usage: an unknown command or option, a missing or bad value. */
  usage: 2,
  /** The database cannot be reached: refused, unknown host, timed out, authentication or database missing. */
  unreachable: 3,
} as const;

/** What a command ended with: one of {@link EXIT}'s values. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports as its message alone, ending with `code`. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

/** A usage error: what was wrong with the command line (exit 2). */
export class UsageError extends CliError {
  constructor(message: string) {
    super(EXIT.usage, message);
  }
}

// Socket-level failures: while they happen, no command can be answered.
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);
// SQLSTATE classes 08 (connection exception) and 57P0x (the server shutting down or starting).
const UNREACHABLE_STATE = /^(08|57P0)/;

/** Whether `error` (from pg or a socket) means the database could not be talked to at all. */
export function isUnreachable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || UNREACHABLE_STATE.test(code))) return true;
  // pg's own wording when a connect times out or the server hangs up.
  return typeof message === 'string' && /^Connection terminated|timeout expired/i.test(message);
}

/** The exit code for an error a command threw. */
export function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof CliError) return error.exitCode;
  // The library's checks of what the user typed (a bad schema name, a limit out of range...).
  if (error instanceof DocketError && error.code === 'DOCKET_CONFIG') return EXIT.usage;
  if (isUnreachable(error)) return EXIT.unreachable;
  return EXIT.failed;
}

/** A one-line description of an error for stderr. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const { code } = error as { code?: unknown };
    // pg errors carry the SQLSTATE; socket errors an errno name already in the message.
    const state = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? ` (SQLSTATE ${code})` : '';
    const text = error.message.length > 0 ? error.message : String(code ?? error.name);
    return `${text}${state}`;
  }
  return String(error);
}
