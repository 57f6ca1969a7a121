export {
  BlockSync,
  type BlockSyncOptions,
  type BlocksRequest,
  type BlocksResponse,
  decodeBlocksRequest,
  decodeBlocksResponse,
  encodeBlocksRequest,
  SYNC_BATCH_BLOCKS,
  serveBlocks,
} from './block-sync.js';
export {
  BLOCKS_PROTOCOL,
  type BlockSyncReactor,
  type BlockSyncReactorComponents,
  type BlockSyncReactorOptions,
  createBlockSyncReactor,
} from './block-sync-reactor.js';
export {
  decodeSnapshotOffer,
  decodeSnapshotPage,
  decodeSnapshotRequest,
  encodeSnapshotOffer,
  encodeSnapshotPage,
  encodeSnapshotRequest,
  SNAPSHOT_KEY_BYTES,
  SNAPSHOT_MAX_ENTRY_BYTES,
  SNAPSHOT_MAX_PAGE_BYTES,
  SNAPSHOT_MAX_REQUEST_BYTES,
  SNAPSHOT_PAGE_BYTES,
  type SnapshotEntry,
  type SnapshotOffer,
  type SnapshotPage,
  type SnapshotRequest,
  StateSyncError,
  type StateSyncErrorCode,
} from './snapshot-codec.js';
export {
  type SnapshotHead,
  SnapshotServer,
  type SnapshotServerOptions,
} from './snapshot-server.js';
export {
  SnapshotDownload,
  type SnapshotTransport,
  type StateSyncOptions,
  type StateSyncResult,
  stateSync,
  verifySnapshotEntries,
} from './state-sync.js';
export {
  catchUpFromSnapshot,
  createStateSyncReactor,
  SNAPSHOTS_PROTOCOL,
  type StateSyncReactor,
  type StateSyncReactorComponents,
} from './state-sync-reactor.js';
export {
  type CertifiedBlock,
  type FollowOptions,
  followValidatorSets,
  MAX_VALIDATOR_SET_CHANGES,
  organizationsInSnapshot,
} from './validator-sets.js';
