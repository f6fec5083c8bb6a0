/**
 * A failure to start that an operator can act on: the message names what
 * failed and what to check (`cannot reach PostgreSQL at 127.0.0.1:5999
 * (ECONNREFUSED): is it running? …`). The CLI prints it alone, without a
 * stack, and exits 1; the original error stays available as `cause`.
 */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

/** The code of a Node.js or driver error (`ECONNREFUSED`, `28P01`, `SQLITE_CANTOPEN`), looking inside an AggregateError. */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code !== '') return code;
  if (err instanceof AggregateError) for (const inner of err.errors) if (errorCode(inner)) return errorCode(inner);
  return undefined;
}

export function errorMessage(err: unknown): string {
  if (err instanceof AggregateError && err.message === '' && err.errors[0] instanceof Error) return err.errors[0].message;
  return err instanceof Error ? err.message : String(err);
}

/** "uid 65534", or "this user" where there are no uids (Windows). */
export function currentUser(): string {
  const uid = process.getuid?.();
  return uid === undefined ? 'this user' : `uid ${uid}`;
}
