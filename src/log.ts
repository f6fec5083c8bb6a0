import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';
import { logFields } from './log-context.js';

export type { Logger };

/** `json`: one JSON object per line (for log collectors); `pretty`: coloured, human-readable lines. */
export type LogFormat = 'json' | 'pretty';

export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];

export interface LoggerOptions {
  /** Default `json`. */
  format?: LogFormat;
  /** Where lines go (default: stdout). */
  destination?: DestinationStream;
}

/**
 * `LOG_FORMAT` when set (`json` or `pretty`), else pretty on a terminal and
 * JSON otherwise (a pipe, a file, a container's log driver).
 */
export function logFormatFrom(value: string | undefined, isTTY: boolean): LogFormat {
  const v = value?.trim().toLowerCase();
  if (!v) return isTTY ? 'pretty' : 'json';
  if ((LOG_FORMATS as readonly string[]).includes(v)) return v as LogFormat;
  throw new Error(`LOG_FORMAT must be json or pretty, not "${value}"`);
}

export function createLogger(level: string, options: LoggerOptions = {}): Logger {
  // Every line logged while a request runs carries its fields (reqId; in a batch its dialect, index, opId).
  const base = { level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime, mixin: () => ({ ...logFields() }) };
  if (options.format !== 'pretty') return options.destination ? pino(base, options.destination) : pino(base);
  // pino-pretty as an in-process stream, not a worker transport: lines appear in order with
  // the process's other output and nothing is lost when the process exits right after logging.
  const require = createRequire(import.meta.url);
  const pretty = require('pino-pretty') as typeof import('pino-pretty');
  const stream = pretty({
    colorize: options.destination === undefined && process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    sync: true,
    singleLine: true,
    ...(options.destination ? { destination: options.destination } : {}),
  });
  return pino(base, stream);
}

export const silentLogger: Logger = pino({ level: 'silent' });
