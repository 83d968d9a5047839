// Tells "the database cannot be reached right now" apart from every other failure: a socket
// refused, reset or timed out, a name lookup failing for now, a connection closed or timed out
// under the driver, or the server (or PgBouncer in front of it) saying it is starting up,
// shutting down, full or cannot reach its server. These pass when the server comes back. A
// wrong password, a missing database, a host name that does not exist (ENOTFOUND), a client
// the host already ended, or an unmigrated schema never do.

const SOCKET_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN',
  // postgres.js
  'CONNECTION_CLOSED', 'CONNECT_TIMEOUT',
]);
// SQLSTATE: connection exceptions (08) but 08P01, admin/crash shutdown and "cannot connect now"
// (57P01-3), too many connections (53300).
const SERVER_CODES = /^(08(?!P01)...|57P0[123]|53300)$/;
// PgBouncer answers most of its own errors with 08P01, "no such database" among them: only those
// that say its server is out of reach are worth waiting for.
const PGBOUNCER_TRANSIENT = /cannot connect to server|server login (has been failing|failed)|server conn crashed|no more connections allowed|pgbouncer cannot connect/i;
// pg: a connection closed under it, or its connect timing out (pg-pool's connectionTimeoutMillis).
const PG_MESSAGES = /^(Connection terminated|timeout exceeded when trying to connect|timeout expired)/;

/** Whether `error` says the database is unreachable for now (and so worth waiting for). */
export function isUnreachable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message, errors } = error as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof code === 'string' && (SOCKET_CODES.has(code) || SERVER_CODES.test(code))) return true;
  if (code === '08P01' && typeof message === 'string' && PGBOUNCER_TRANSIENT.test(message)) return true;
  if (typeof message === 'string' && PG_MESSAGES.test(message)) return true;
  // Several addresses tried (IPv4 and IPv6): each refused.
  return Array.isArray(errors) && errors.length > 0 && errors.every(isUnreachable);
}

/** What to call such an error in a log line: its code, else its message (never a URL). */
export function unreachableReason(error: unknown): string {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return typeof code === 'string' ? code : typeof message === 'string' ? message : String(error);
}
