export { Bucket, HEIGHT_BYTES, TX_INDEX_BYTES } from './buckets.js';
export {
  type BucketSnapshot,
  Database,
  type DatabaseOptions,
  type RangeOptions,
  WriteBatch,
} from './controller.js';
export {
  decodeHeight,
  decodeTxLocation,
  encodeHeight,
  encodeTxLocation,
  type TxLocation,
} from './keys.js';
export { DEFAULT_LEVEL_MEMORY, type LevelMemoryOptions, LevelStore } from './level-store.js';
export {
  ChainStore,
  type CommittedBlock,
  EvidenceRepository,
  Repository,
  SCHEMA_VERSION,
} from './repositories.js';
export { StateStore } from './state-store.js';
