import { CodedError } from '@medchain/crypto';

/** Every failure thrown by this package carries one of these codes. */
export type ConsensusErrorCode =
  | 'CONSENSUS_MALFORMED_MESSAGE'
  | 'CONSENSUS_BAD_CONFIG'
  | 'CONSENSUS_BAD_VALIDATOR_SET'
  | 'CONSENSUS_BAD_PROPOSAL'
  | 'CONSENSUS_APPLIED_OUT_OF_ORDER'
  | 'CONSENSUS_READY_NOT_ADVANCED'
  | 'CONSENSUS_BAD_HARD_STATE';

export class ConsensusError extends CodedError<ConsensusErrorCode> {
  override readonly name = 'ConsensusError';
}
