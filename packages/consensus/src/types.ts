/** A block to order: the core never looks inside `payload`; `digest` names it (32 bytes). */
export interface Proposal {
  readonly digest: Uint8Array;
  readonly payload: Uint8Array;
}

/** One validator's signature inside a certificate; the signed fields are the certificate's. */
export interface Vote {
  readonly from: Uint8Array;
  readonly signature: Uint8Array;
}

/** A quorum of PREPAREs for (height, view, digest): the digest may have been committed. */
export interface PreparedCertificate {
  readonly view: number;
  readonly digest: Uint8Array;
  readonly votes: readonly Vote[];
}

/** A quorum of COMMITs for (height, view, digest): the block at `height` is final. */
export interface CommitCertificate {
  readonly height: number;
  readonly view: number;
  readonly digest: Uint8Array;
  readonly votes: readonly Vote[];
}

/** A quorum of CHECKPOINTs for (height, stateRoot): a stable checkpoint. */
export interface CheckpointCertificate {
  readonly height: number;
  readonly stateRoot: Uint8Array;
  readonly votes: readonly Vote[];
}

/** The primary's proposal in view 0 (later views propose through NEW-VIEW). */
export interface PrePrepareMessage {
  readonly type: 'preprepare';
  readonly height: number;
  readonly view: number;
  readonly digest: Uint8Array;
  /** Not signed: bound to the signed digest through the application's digest function. */
  readonly payload: Uint8Array;
  readonly from: Uint8Array;
  readonly signature: Uint8Array;
}

export interface PrepareMessage {
  readonly type: 'prepare';
  readonly height: number;
  readonly view: number;
  readonly digest: Uint8Array;
  readonly from: Uint8Array;
  readonly signature: Uint8Array;
}

export interface CommitMessage {
  readonly type: 'commit';
  readonly height: number;
  readonly view: number;
  readonly digest: Uint8Array;
  readonly from: Uint8Array;
  readonly signature: Uint8Array;
}

/** The signed part of a VIEW-CHANGE, as carried inside a NEW-VIEW. */
export interface ViewChangeProof {
  readonly from: Uint8Array;
  readonly signature: Uint8Array;
  readonly prepared: PreparedCertificate | null;
}

/** "I leave for `view`": carries the sender's highest prepared certificate at this height. */
export interface ViewChangeMessage {
  readonly type: 'viewchange';
  readonly height: number;
  readonly view: number;
  readonly prepared: PreparedCertificate | null;
  /** The prepared block, unsigned (bound by its digest), so the next primary can re-propose it. */
  readonly payload: Uint8Array | null;
  readonly from: Uint8Array;
  readonly signature: Uint8Array;
}

/** The new primary's proof that a quorum left the old view, and the proposal it mandates. */
export interface NewViewMessage {
  readonly type: 'newview';
  readonly height: number;
  readonly view: number;
  readonly viewChanges: readonly ViewChangeProof[];
  readonly digest: Uint8Array;
  readonly payload: Uint8Array;
  readonly from: Uint8Array;
  readonly signature: Uint8Array;
}

/** Signed (height, state root) after applying a block at a multiple of the checkpoint interval. */
export interface CheckpointMessage {
  readonly type: 'checkpoint';
  readonly height: number;
  readonly stateRoot: Uint8Array;
  readonly from: Uint8Array;
  readonly signature: Uint8Array;
}

/** A final block with its certificate: sent to laggards, and how the node layer feeds synced blocks. */
export interface DecisionMessage {
  readonly type: 'decision';
  readonly payload: Uint8Array;
  readonly certificate: CommitCertificate;
}

export type SignedMessage =
  | PrePrepareMessage
  | PrepareMessage
  | CommitMessage
  | ViewChangeMessage
  | NewViewMessage
  | CheckpointMessage;

export type ConsensusMessage = SignedMessage | DecisionMessage;

export type MessageType = ConsensusMessage['type'];

/** Signs the 32-byte signing hash of a message with this node's validator key. */
export interface ConsensusSigner {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

/** Checks a signature; must never throw (a bad key or signature is simply `false`). */
export interface SignatureVerifier {
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

/** What the core needs from the application (the ledger), all pure and synchronous. */
export interface ConsensusApplication {
  /** The digest that names a payload (for the ledger: the block header hash). */
  digestOf(payload: Uint8Array): Uint8Array;
  /** Whether a new proposal for `height` is acceptable (not called for re-proposed prepared blocks). */
  validateProposal(height: number, payload: Uint8Array): boolean;
  /**
   * Whether the application holds work a block should carry (for the ledger: proposable
   * transactions). While it says false and nobody is working on the height, the view timer
   * stands still, so an idle network sends nothing and changes no view. Omitted: always true.
   */
  hasPendingWork?(): boolean;
}

/** What the node's application reports after applying a committed block. */
export interface AppliedBlock {
  /** State root after the block; signed in checkpoints at multiples of the interval. */
  readonly stateRoot: Uint8Array;
  /** A validator set chosen by this block; takes effect at height + VALIDATOR_SET_CHANGE_DELAY. */
  readonly nextValidators?: readonly Uint8Array[];
}

/** The validators for heights from `fromHeight` on, in rotation order. */
export interface ValidatorSetEntry {
  readonly fromHeight: number;
  readonly validators: readonly Uint8Array[];
}

/** This node's own vote at the current height (the highest view it signed). */
export interface OwnVote {
  readonly view: number;
  readonly digest: Uint8Array;
}

/**
 * Everything a restarted node needs to never sign two different votes for the same
 * (height, view, phase) and to keep the prepared certificate it may have sent a COMMIT for.
 */
export interface HardState {
  /** The height being decided: every lower height is applied. */
  readonly height: number;
  readonly view: number;
  /** The node sent VIEW-CHANGE for `view` and has not yet accepted its NEW-VIEW. */
  readonly viewChanging: boolean;
  readonly prepared: PreparedCertificate | null;
  readonly preparedPayload: Uint8Array | null;
  readonly lastPrepare: OwnVote | null;
  readonly lastCommit: OwnVote | null;
  readonly validatorSets: readonly ValidatorSetEntry[];
  readonly stableCheckpoint: CheckpointCertificate | null;
}

/** A message to send: to one validator (by public key) or to every peer. */
export interface OutboundMessage {
  readonly to: Uint8Array | 'all';
  readonly message: ConsensusMessage;
}

/** A final block, to apply in height order. */
export interface CommittedBlock {
  readonly height: number;
  readonly proposal: Proposal;
  readonly certificate: CommitCertificate;
}

/** The phases in which one validator's two signed statements can contradict each other. */
export type EquivocationPhase = 'preprepare' | 'prepare' | 'commit' | 'checkpoint';

/** One of the two contradicting statements: what was signed, and the signature. */
export interface SignedStatement {
  /** The block digest voted for (the state root, for a checkpoint). */
  readonly digest: Uint8Array;
  readonly signature: Uint8Array;
}

/**
 * Proof that `validator` signed two different statements where it may sign one: two votes of
 * one phase for one (height, view), or two checkpoints for one height. Anyone can check it with
 * `verifyEquivocation` against the validator set of `height`.
 */
export interface Equivocation {
  readonly validator: Uint8Array;
  readonly phase: EquivocationPhase;
  readonly height: number;
  /** The view of both votes; null for checkpoints, which have no view. */
  readonly view: number | null;
  /** The statement the recording node held first, and the contradicting one. */
  readonly first: SignedStatement;
  readonly second: SignedStatement;
}

/**
 * The work the node must do, in this order:
 * 1. persist `hardState` (when not null) and `ownVotes`, and fsync, BEFORE sending anything;
 * 2. send `messages`;
 * 3. apply `committed` in order, calling `applied()` for each;
 * 4. build a block for `proposalRequest` (if any) and call `propose()`; start a sync up to
 *    `syncTo` (if any); store `stableCheckpoint` (if any);
 * 5. call `advance()`.
 */
export interface Ready {
  readonly hardState: HardState | null;
  readonly ownVotes: readonly SignedMessage[];
  readonly messages: readonly OutboundMessage[];
  readonly committed: readonly CommittedBlock[];
  readonly proposalRequest: { readonly height: number; readonly view: number } | null;
  /** This node is behind: blocks up to this height are final elsewhere; fetch them with their certificates. */
  readonly syncTo: number | null;
  readonly stableCheckpoint: CheckpointCertificate | null;
  /**
   * Equivocations this node caught since the last ready (usually none), each verified; keep or
   * report them at any point of the order above. At most one per validator and height.
   */
  readonly evidence: readonly Equivocation[];
}
