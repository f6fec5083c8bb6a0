import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Fields that every log line about the current request carries (request id,
 * method, route; inside a batch also the dialect and the operation index),
 * carried by async context so that a route deep inside a batch can log an
 * unexpected error with them without being passed them.
 */
export interface LogFields {
  reqId?: string;
  method?: string;
  route?: string;
  dialect?: string;
  index?: number;
  opId?: string;
}

const storage = new AsyncLocalStorage<LogFields>();

export function withLogFields<T>(fields: LogFields, fn: () => T): T {
  return storage.run({ ...storage.getStore(), ...fields }, fn);
}

export function logFields(): LogFields {
  return storage.getStore() ?? {};
}

/**
 * What an operator needs of an unexpected error: its name, message, code
 * (SQLSTATE, errno) and stack. Deliberately not pino's serializer, which
 * copies every enumerable member: a driver error's `detail` or `parameters`
 * can hold record values, and bodies and tokens never reach a log.
 */
export function errorFields(err: unknown): { name: string; message: string; code?: string; stack?: string } {
  if (!(err instanceof Error)) return { name: typeof err, message: String(err) };
  const code = (err as { code?: unknown }).code;
  return {
    name: err.name,
    message: err.message,
    ...(typeof code === 'string' || typeof code === 'number' ? { code: String(code) } : {}),
    ...(err.stack ? { stack: err.stack } : {}),
  };
}
