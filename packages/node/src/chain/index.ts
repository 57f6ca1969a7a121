export { ChainBackend, type ChainBackendOptions } from './api-backend.js';
export {
  Chain,
  type ChainOptions,
  DEFAULT_MAX_CLOCK_DRIFT_MS,
  type ExecutedBlock,
  type PendingTransactions,
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
  CONSENSUS_MAX_MESSAGE_BYTES,
  CONSENSUS_PROTOCOL,
  type ConsensusReactor,
  type ConsensusReactorComponents,
  type ConsensusReactorOptions,
  createConsensusReactor,
} from './consensus-reactor.js';
export {
  ConsensusDriver,
  type DriverOptions,
  EvidenceLog,
  type RestoredConsensus,
  restoreConsensus,
} from './driver.js';
export { decodeTxBatch, encodeTxBatch, GOSSIP_MAX_FRAME_BYTES, TxGossip } from './gossip.js';
export {
  type AdmitResult,
  type AdmitSource,
  type CommittedHead,
  Mempool,
  type MempoolOptions,
} from './mempool.js';
export {
  createMempoolReactor,
  MEMPOOL_PROTOCOL,
  type MempoolReactor,
  type MempoolReactorComponents,
  type MempoolReactorOptions,
  REGOSSIP_MAX_TXS,
} from './mempool-reactor.js';
export {
  type EvidenceList,
  type RecordedEquivocation,
  SUBMIT_REJECTIONS,
  type SubmitRejection,
  type SubmitResult,
} from './types.js';
