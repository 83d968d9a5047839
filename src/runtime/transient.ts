// Classifies database errors: transient ones (connection lost, server shutting down, too many
// connections, serialization) are retried; others mean the statement itself cannot succeed.

const TRANSIENT_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '40001', '40P01', '55P03']);

/** Whether retrying the same statement later may succeed. */
export function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  // No SQLSTATE at all: a socket error (ECONNRESET, ECONNREFUSED, "Connection terminated",
  // postgres.js CONNECTION_CLOSED...). Those are the outage cases.
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true;
  return code.startsWith('08') || TRANSIENT_SQLSTATES.has(code);
}
