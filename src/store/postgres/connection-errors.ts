/**
 * Tells a broken connection apart from an ordinary SQL error.
 *
 * A connection error means the statement's outcome may be unknown (a COMMIT
 * that lost its connection may or may not have happened), so callers must not
 * retry writes blindly; the pool replaces the dead connection on its own and
 * the next request gets a fresh one.
 */

/** SQLSTATE codes that mean "this session is gone", not "this statement was wrong". */
const CONNECTION_SQLSTATES = new Set([
  '57P01', // admin_shutdown (pg_terminate_backend, smart/fast shutdown)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (server starting up / shutting down)
  '53300', // too_many_connections
]);

/** Node.js socket-level error codes. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);

/** Messages node-postgres uses for a connection that ended under it (these errors have no `code`). */
const CONNECTION_MESSAGES = [
  /connection terminated/i,
  /not queryable/i,
  /connection error/i,
  /timeout exceeded when trying to connect/i,
  /cannot use a pool after calling end/i,
  /server closed the connection/i,
];

/** True when `err` says the database connection failed or was lost (as opposed to a SQL error). */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (code.startsWith('08')) return true; // class 08: connection exception
    if (CONNECTION_SQLSTATES.has(code) || SOCKET_CODES.has(code)) return true;
    // Any other SQLSTATE is an error reported by a live server: not a connection problem.
    if (/^[0-9A-Z]{5}$/.test(code)) return false;
  }
  if (err instanceof AggregateError) return err.errors.some(isConnectionError);
  return CONNECTION_MESSAGES.some((re) => re.test(err.message));
}
