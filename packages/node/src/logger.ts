import type { DestinationStream, Logger } from 'pino';
import { pino } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The parts of the node that log under their own name; one child logger each. */
export const LOG_MODULES = [
  'node',
  'consensus',
  'mempool',
  'sync',
  'records',
  'db',
  'wal',
  'net',
  'api',
] as const;
export type LogModule = (typeof LOG_MODULES)[number];

/** Levels for some modules; the others follow the logger's own level. */
export type ModuleLevels = Partial<Record<LogModule, LogLevel>>;

export interface LoggerOptions {
  level?: LogLevel;
  /** Per-module levels over `level` (config `logLevels`). */
  modules?: ModuleLevels;
  /** Where JSON lines go; stdout when omitted. Tests pass an in-memory stream. */
  destination?: DestinationStream;
  /** Fields on every line, e.g. `{ node: 'hospital-a' }` when several nodes share a process. */
  base?: Record<string, string | number>;
}

/** The log levels in force: the default and every module's. */
export interface LogLevelsView {
  /** The level of every module without its own. */
  readonly level: LogLevel;
  /** The modules set apart from the default. */
  readonly modules: ModuleLevels;
  /** What each module logs at now. */
  readonly effective: Record<LogModule, LogLevel>;
}

/** A change: a new default, and modules to set (a level) or to return to the default (null). */
export interface LogLevelsChange {
  readonly level?: LogLevel;
  readonly modules?: Partial<Record<LogModule, LogLevel | null>>;
}

/**
 * The module levels of one root logger, and its module children, so a level changed at run
 * time (the admin route) reaches every child already made. pino children keep the level they
 * were made with, so each is set here, never left to follow the root.
 */
export class LogLevels {
  private readonly overrides = new Map<LogModule, LogLevel>();
  private readonly children = new Map<LogModule, Logger[]>();

  constructor(
    private readonly root: Logger,
    modules: ModuleLevels = {},
  ) {
    this.apply({ modules });
  }

  levelOf(module: LogModule): LogLevel {
    return this.overrides.get(module) ?? (this.root.level as LogLevel);
  }

  view(): LogLevelsView {
    return {
      level: this.root.level as LogLevel,
      modules: Object.fromEntries(this.overrides),
      effective: Object.fromEntries(
        LOG_MODULES.map((module) => [module, this.levelOf(module)]),
      ) as Record<LogModule, LogLevel>,
    };
  }

  /** Applies a change (already validated: levels and modules from LOG_LEVELS and LOG_MODULES). */
  apply(change: LogLevelsChange): LogLevelsView {
    if (change.level !== undefined) this.root.level = change.level;
    for (const [module, level] of Object.entries(change.modules ?? {})) {
      if (level === null || level === undefined) this.overrides.delete(module as LogModule);
      else this.overrides.set(module as LogModule, level);
    }
    for (const [module, loggers] of this.children) {
      for (const logger of loggers) logger.level = this.levelOf(module);
    }
    return this.view();
  }

  /** A child logger whose lines carry `{ module }`, at the module's level. */
  child(module: LogModule): Logger {
    const logger = this.root.child({ module }, { level: this.levelOf(module) });
    const list = this.children.get(module) ?? [];
    list.push(logger);
    this.children.set(module, list);
    controls.set(logger, this);
    return logger;
  }
}

/** Each root logger's and each module child's LogLevels. */
const controls = new WeakMap<Logger, LogLevels>();

/** JSON lines (one object per line, pino's format) so logs can be shipped and queried as is. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const logger = pino(
    {
      level: options.level ?? 'info',
      base: { ...options.base },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    // Synchronous stdout: the last lines before a crash or exit are the ones that matter.
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
  controls.set(logger, new LogLevels(logger, options.modules));
  return logger;
}

/**
 * The LogLevels of a root logger or of any of its module children; a logger made elsewhere
 * (not by createLogger) gets one, with no module set apart.
 */
export function logLevelsOf(logger: Logger): LogLevels {
  let control = controls.get(logger);
  if (control === undefined) {
    control = new LogLevels(logger);
    controls.set(logger, control);
  }
  return control;
}

/** Sets module levels (config `logLevels`) on a root logger, for children made from now on too. */
export function withModuleLevels(logger: Logger, modules: ModuleLevels): Logger {
  logLevelsOf(logger).apply({ modules });
  return logger;
}

/** A child logger whose lines all carry `{ module }`, at the module's level. */
export function moduleLogger(parent: Logger, module: LogModule): Logger {
  return logLevelsOf(parent).child(module);
}
