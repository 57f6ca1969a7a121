export {
  type ConsensusConfig,
  ConsensusCore,
  type ConsensusStats,
  DROP_REASONS,
  type DropReason,
  highestPrepared,
  VALIDATOR_SET_CHANGE_DELAY,
} from './core.js';
export { ConsensusError, type ConsensusErrorCode } from './errors.js';
export { equivocationSigningHash, verifyEquivocation } from './evidence.js';
export { decodeHardState, encodeHardState } from './hardstate.js';
export {
  checkpointCertificateSigningHash,
  checkpointSigningHash,
  commitCertificateSigningHash,
  DIGEST_LENGTH,
  decodeMessage,
  encodeMessage,
  MAX_SIGNATURE_LENGTH,
  MAX_VALIDATORS,
  messageSigningHash,
  newViewSigningHash,
  parseMessage,
  type VotePhase,
  viewChangeSigningHash,
  voteSigningHash,
} from './messages.js';
export { faultTolerance, primaryIndex, quorumSize } from './quorum.js';
export {
  drainReady,
  type ReadyHandlers,
  type RestoreInput,
  restoreCore,
} from './ready-loop.js';
export type {
  AppliedBlock,
  CheckpointCertificate,
  CheckpointMessage,
  CommitCertificate,
  CommitMessage,
  CommittedBlock,
  ConsensusApplication,
  ConsensusMessage,
  ConsensusSigner,
  DecisionMessage,
  Equivocation,
  EquivocationPhase,
  HardState,
  MessageType,
  NewViewMessage,
  OutboundMessage,
  OwnVote,
  PrePrepareMessage,
  PreparedCertificate,
  PrepareMessage,
  Proposal,
  Ready,
  SignatureVerifier,
  SignedMessage,
  SignedStatement,
  ValidatorSetEntry,
  ViewChangeMessage,
  ViewChangeProof,
  Vote,
} from './types.js';
export {
  ValidatorSet,
  VerifiedSignatures,
  verifyCheckpointCertificate,
  verifyCommitCertificate,
  verifyPreparedCertificate,
} from './validators.js';
