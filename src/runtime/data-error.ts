// Classifies database errors for the ack path. Only a data exception raised by the server
// (SQLSTATE class 22: a value jsonb or a timestamp cannot hold; class 54: a value over one of the
// server's limits, such as jsonb's 255 MiB) says that one row of a batch can never be written; everything else (connection lost, statement timeout, read-only after a
// failover, disk full, a pooler losing prepared statements...) may succeed later and is retried.

/** Whether the server rejected the statement because of the data in it (SQLSTATE class 22 or 54). */
export function isDataError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  // Server errors carry a severity (pg's DatabaseError, postgres.js's PostgresError); socket
  // errors such as EPIPE have a code of the same shape but no severity.
  return typeof severity === 'string' && typeof code === 'string' && (code.startsWith('22') || code.startsWith('54'));
}
