import type { DestinationStream, Logger } from 'pino';
import { pino } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The parts of the node that log under their own name; one child logger each. */
export type LogModule =
  | 'node'
  | 'consensus'
  | 'mempool'
  | 'sync'
  | 'records'
  | 'db'
  | 'wal'
  | 'net'
  | 'api';

export interface LoggerOptions {
  level?: LogLevel;
  /** Where JSON lines go; stdout when omitted. Tests pass an in-memory stream. */
  destination?: DestinationStream;
  /** Fields on every line, e.g. `{ node: 'hospital-a' }` when several nodes share a process. */
  base?: Record<string, string | number>;
}

/** JSON lines (one object per line, pino's format) so logs can be shipped and queried as is. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { ...options.base },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    // Synchronous stdout: the last lines before a crash or exit are the ones that matter.
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** A child logger whose lines all carry `{ module }`. */
export function moduleLogger(parent: Logger, module: LogModule): Logger {
  return parent.child({ module });
}
