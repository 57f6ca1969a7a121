export { ChainBackend, type ChainBackendOptions } from './api-backend.js';
export {
  Chain,
  type ChainOptions,
  DEFAULT_MAX_CLOCK_DRIFT_MS,
  type ExecutedBlock,
  type StoredBlockData,
} from './chain.js';
export {
  type ChainHead,
  decodeCertificate,
  decodeReceipt,
  decodeWalRecord,
  encodeCertificate,
  encodeHardStateRecord,
  encodeOwnVoteRecord,
  encodeReceipt,
  type WalRecord,
} from './codec.js';
export {
  ConsensusDriver,
  type DriverOptions,
  type RestoredConsensus,
  restoreConsensus,
} from './driver.js';
export { decodeTxBatch, encodeTxBatch, GOSSIP_MAX_FRAME_BYTES, TxGossip } from './gossip.js';
export { type AdmitResult, type AdmitSource, Mempool, type MempoolOptions } from './mempool.js';
