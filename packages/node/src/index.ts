import './polyfill.js';

export * from './api/index.js';
export * from './chain/index.js';
export * from './config.js';
export * from './db/index.js';
export { NodeError, type NodeErrorCode } from './errors.js';
export * from './home/index.js';
export {
  createLogger,
  LOG_LEVELS,
  LOG_MODULES,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  LogLevels,
  type LogLevelsChange,
  type LogLevelsView,
  type LogModule,
  logLevelsOf,
  type ModuleLevels,
  moduleLogger,
  withModuleLevels,
} from './logger.js';
export { main, runNode } from './main.js';
export { createMetrics, type Metrics } from './metrics.js';
export * from './net/index.js';
export * from './node.js';
export { installedPolyfills, installPolyfills } from './polyfill.js';
export * from './records/index.js';
export * from './shell/index.js';
export * from './sync/index.js';
export * from './vault/index.js';
export {
  DEFAULT_MAX_WAL_RECORD_BYTES,
  encodeWalRecord,
  scanWalSegment,
  Wal,
  type WalCorruption,
  type WalOptions,
  type WalScan,
} from './wal.js';
