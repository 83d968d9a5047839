// Tells "the database cannot be reached right now" apart from every other failure: a socket
// refused, reset or timed out, a name not (yet) resolvable, a connection closed under the
// driver, or the server saying it is starting up, shutting down or full. These pass when the
// server comes back; an authentication failure, a missing database or a bad schema never do.

const SOCKET_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND',
  // postgres.js
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
]);
// SQLSTATE: connection exceptions (08), admin/crash shutdown and "cannot connect now" (57P01-3),
// too many connections (53300).
const SERVER_CODES = /^(08...|57P0[123]|53300)$/;

/** Whether `error` says the database is unreachable for now (and so worth waiting for). */
export function isUnreachable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message, errors } = error as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof code === 'string' && (SOCKET_CODES.has(code) || SERVER_CODES.test(code))) return true;
  // pg: a connection closed under it carries no code.
  if (typeof message === 'string' && /^Connection terminated/.test(message)) return true;
  // Several addresses tried (IPv4 and IPv6): each refused.
  return Array.isArray(errors) && errors.length > 0 && errors.every(isUnreachable);
}

/** What to call such an error in a log line: its code, else its message (never a URL). */
export function unreachableReason(error: unknown): string {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return typeof code === 'string' ? code : typeof message === 'string' ? message : String(error);
}
