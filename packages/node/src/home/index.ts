export {
  BACKUP_DIR_PREFIX,
  BACKUP_SOCKET_FILE,
  type BackupSocket,
  type SnapshotResult,
  type SnapshotSources,
  startBackupSocket,
  takeSnapshot,
} from './backup-socket.js';
export {
  checkHomeFormat,
  HOME_FORMAT_FILE,
  HOME_FORMAT_VERSION,
  isFreshHome,
  LEGACY_HOME_FORMAT,
  readHomeFormat,
  refuseNewer,
  STATE_LAYOUT_FORMAT,
  writeHomeFormat,
} from './format.js';
export {
  type EntrySource,
  loadDump,
  readDump,
  snapshotEntries,
  withLevel,
  writeDump,
} from './level-dump.js';
export { MIGRATIONS, type MigrationResult, type MigrationStep, migrateHome } from './migrations.js';
export { peerKeySeed, writePeerKeyFromSeed } from './peer-key.js';
export {
  loadRotatedValidatorKeys,
  readValidatorKeyFile,
  VALIDATOR_KEYS_DIR,
  type ValidatorKey,
  ValidatorKeyring,
} from './validator-keys.js';
