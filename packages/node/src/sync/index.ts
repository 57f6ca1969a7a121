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
  decodeSnapshot,
  encodeSnapshotRequest,
  isSnapshotRequest,
  type Snapshot,
  type StateSyncOptions,
  serveSnapshot,
  stateSync,
  verifySnapshotEntries,
} from './state-sync.js';
