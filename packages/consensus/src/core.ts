import { bytesEqual, fromHex as bytesOfHex, toHex } from '@medchain/crypto';
import { ConsensusError } from './errors.js';
import {
  checkpointSigningHash,
  DIGEST_LENGTH,
  messageSigningHash,
  newViewSigningHash,
  parseMessage,
  viewChangeSigningHash,
  voteSigningHash,
} from './messages.js';
import type {
  AppliedBlock,
  CheckpointCertificate,
  CheckpointMessage,
  CommitCertificate,
  CommitMessage,
  CommittedBlock,
  ConsensusApplication,
  ConsensusSigner,
  DecisionMessage,
  Equivocation,
  EquivocationPhase,
  HardState,
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
import {
  ValidatorSet,
  VerifiedSignatures,
  verifyPreparedCertificate,
  verifyQuorumVotes,
} from './validators.js';
import { type FirstVote, VoteBook } from './votebook.js';

/**
 * Validator-set rule: a set reported by `applied(h, {nextValidators})` decides heights
 * h + VALIDATOR_SET_CHANGE_DELAY and up. Every honest node applies the same blocks, so every
 * honest node derives the same schedule; the one-height gap means the set for height h + 1 is
 * always known while deciding h (so early messages for h + 1 can be checked) and gives the
 * node layer one block's time to connect to new members.
 */
export const VALIDATOR_SET_CHANGE_DELAY = 2;

export interface ConsensusConfig {
  /** Inside every signed message, so votes cannot be replayed on another chain. */
  readonly chainId: string;
  readonly signer: ConsensusSigner;
  /**
   * Keys this validator rotated to (or will): at each height the core signs with the first of
   * `signer` and these that the height's validator set holds, so a rotation committed on chain
   * switches keys at the height every node derives, without a restart. Read at every new
   * height, so the node may add a key to this array while running.
   */
  readonly rotatedSigners?: readonly ConsensusSigner[];
  readonly verifier: SignatureVerifier;
  readonly application: ConsensusApplication;
  /** The validators of height 1, in rotation order. */
  readonly genesisValidators: readonly Uint8Array[];
  /** K: a checkpoint is signed after applying every K-th height (default 10). */
  readonly checkpointInterval?: number;
  /**
   * Most payload bytes of committed blocks kept for laggards (default 64 MiB): past it the
   * oldest go first, and a laggard that needs one syncs blocks instead.
   */
  readonly maxRetainedDecisionBytes?: number;
  /** Ticks to wait in view 0 before a view change; doubles per view (default 10). */
  readonly baseTimeoutTicks?: number;
  /** Cap on timeout doublings (default 5: at most 32 x the base). */
  readonly maxTimeoutDoublings?: number;
  /**
   * Replaces the quorum rule. ONLY for tests that prove the simulator's checkers can fail:
   * any other value than the default breaks safety.
   */
  readonly unsafeQuorumForTesting?: (n: number) => number;
}

/** Why `step()` dropped a message; `ConsensusStats.dropped` counts each. */
export const DROP_REASONS = [
  'malformed',
  'nonValidator',
  'oldHeight',
  'futureHeight',
  'wrongView',
  'duplicate',
  'conflicting',
  'badSignature',
  'notPrimary',
  'badProposal',
  'invalidProposal',
  'badCertificate',
  'oldCheckpoint',
  'bufferFull',
] as const;

export type DropReason = (typeof DROP_REASONS)[number];

export interface ConsensusStats {
  received: number;
  dropped: Record<DropReason, number>;
  committed: number;
  viewChanges: number;
  /** Own votes not signed because they would contradict a vote already signed (after a restart). */
  refusedDoubleVotes: number;
  /** A stable checkpoint's state root differs from ours: this node's state diverged. */
  checkpointMismatches: number;
  decisionsSent: number;
  /** Equivocations caught and handed out in ready().evidence. */
  equivocations: number;
}

/** How far past the current view votes are kept (so a lagging node can count them later). */
const VIEW_LOOKAHEAD = 64;
/** Future-height messages buffered per validator for the next height. */
const FUTURE_BUFFER_PER_VALIDATOR = 16;
/** Decisions for heights this far ahead are kept, so synced blocks may arrive out of order. */
const DECISION_BUFFER_HEIGHTS = 64;
/** A peer gets decisions from us at most once per this many ticks. */
const DECISION_REPLY_INTERVAL_TICKS = 5;
/** Decisions sent to a laggard at once (it buffers up to DECISION_BUFFER_HEIGHTS ahead). */
const DECISIONS_PER_REPLY = 8;
/** A sync request is repeated if the node is still behind after this many ticks. */
const SYNC_RETRY_TICKS = 20;
/** From this view on, a node stuck at its height suspects it is behind any peer ahead of it. */
const STUCK_VIEW = 2;
/** Decisions kept for laggards when no checkpoint becomes stable. */
const MAX_RETAINED_DECISIONS = 256;
const DEFAULT_MAX_RETAINED_DECISION_BYTES = 64 * 1024 * 1024;
/** Evidence waiting for ready() (the node drains it every batch): beyond this it is not kept. */
const MAX_PENDING_EVIDENCE = 1024;

/** Everything about the height being decided, across all its views; replaced at the next height. */
class HeightState {
  view = 0;
  viewChanging = false;
  ticks = 0;
  readonly accepted = new Map<number, Proposal>();
  /** view -> digest hex of the primary's proposal seen for it (valid or not). */
  readonly proposalSeen = new Map<number, string>();
  readonly payloads = new Map<string, Uint8Array>();
  readonly prepares = new VoteBook();
  readonly commits = new VoteBook();
  /** The first verified (or own) PRE-PREPARE of view 0: what a conflicting one is evidence against. */
  prePrepare: SignedStatement | null = null;
  /** Validators (hex) with evidence recorded at this height: their later conflicts go unverified. */
  readonly equivocators = new Set<string>();
  readonly viewChanges = new Map<number, Map<string, ViewChangeMessage>>();
  prepared: PreparedCertificate | null = null;
  preparedPayload: Uint8Array | null = null;
  lastPrepare: OwnVote | null = null;
  lastCommit: OwnVote | null = null;
  /** The view this node, as primary, asked the application to propose for. */
  proposalWanted: number | null = null;
  newViewSent: NewViewMessage | null = null;
  /** A commit certificate whose block we have not seen yet. */
  certifiedWithoutPayload: CommitCertificate | null = null;
  decided: CommittedBlock | null = null;
}

/**
 * One validator's PBFT state machine, RawNode-style: no I/O, no clock, no randomness.
 * Feed it `step()`, `tick()`, `propose()` and `applied()`; drain `ready()` and `advance()`.
 * One height is decided at a time; views are per height (view 0 at every new height).
 */
export class ConsensusCore {
  private readonly chainId: string;
  private readonly ownSigners: { first: ConsensusSigner; rotated: readonly ConsensusSigner[] };
  /** The own key the current height's set holds (set by selectSigner). */
  private signer: ConsensusSigner;
  private selfHex: string;
  private readonly signatures: VerifiedSignatures;
  private readonly app: ConsensusApplication;
  private readonly checkpointInterval: number;
  private readonly baseTimeoutTicks: number;
  private readonly maxTimeoutDoublings: number;
  private readonly quorumOf: ((n: number) => number) | undefined;

  private height: number;
  private heightState = new HeightState();
  private validatorSets: ValidatorSetEntry[];
  private readonly setCache = new Map<number, ValidatorSet>();
  private stableCheckpoint: CheckpointCertificate | null;
  private pendingStable: CheckpointCertificate | null = null;
  /** Each validator's latest checkpoint vote: O(n) memory whatever byzantine peers send. */
  private readonly checkpointVotes = new Map<string, CheckpointMessage>();
  private readonly ownStateRoots = new Map<number, Uint8Array>();
  private readonly decisions = new Map<number, DecisionMessage>();
  /** Payload bytes of the decisions kept, and their bound. */
  private decisionBytes = 0;
  private readonly maxDecisionBytes: number;
  private futureMessages: SignedMessage[] = [];
  private evidence: Equivocation[] = [];
  /** validator hex -> the checkpoint height evidence against it was recorded for. */
  private readonly checkpointEquivocators = new Map<string, number>();
  private readonly futureDecisions = new Map<number, DecisionMessage>();
  /** Highest height each peer proved (by a signed message) to be working on. */
  private readonly peerHeights = new Map<string, number>();
  private readonly decisionReplies = new Map<string, number>();
  private now = 0;
  private behindTarget = 0;
  private lastSyncRequestAt = Number.NEGATIVE_INFINITY;

  private hardStateDirty = true;
  private ownVotes: SignedMessage[] = [];
  private outbox: OutboundMessage[] = [];
  private committed: CommittedBlock[] = [];
  private proposalRequest: { height: number; view: number } | null = null;
  private syncTo: number | null = null;
  private newStableCheckpoint: CheckpointCertificate | null = null;
  private awaitingAdvance = false;

  private readonly counters: ConsensusStats = {
    received: 0,
    dropped: Object.fromEntries(DROP_REASONS.map((reason) => [reason, 0])) as Record<
      DropReason,
      number
    >,
    committed: 0,
    viewChanges: 0,
    refusedDoubleVotes: 0,
    checkpointMismatches: 0,
    decisionsSent: 0,
    equivocations: 0,
  };

  constructor(config: ConsensusConfig, restored?: HardState) {
    this.chainId = config.chainId;
    this.ownSigners = { first: config.signer, rotated: config.rotatedSigners ?? [] };
    this.signer = config.signer;
    this.selfHex = toHex(config.signer.publicKey);
    this.signatures = new VerifiedSignatures(config.verifier);
    this.app = config.application;
    this.checkpointInterval = positiveInteger(
      config.checkpointInterval ?? 10,
      'checkpointInterval',
    );
    this.maxDecisionBytes = positiveInteger(
      config.maxRetainedDecisionBytes ?? DEFAULT_MAX_RETAINED_DECISION_BYTES,
      'maxRetainedDecisionBytes',
    );
    this.baseTimeoutTicks = positiveInteger(config.baseTimeoutTicks ?? 10, 'baseTimeoutTicks');
    this.maxTimeoutDoublings = positiveInteger(
      config.maxTimeoutDoublings ?? 5,
      'maxTimeoutDoublings',
    );
    this.quorumOf = config.unsafeQuorumForTesting;

    if (restored === undefined) {
      this.height = 1;
      this.validatorSets = [{ fromHeight: 1, validators: config.genesisValidators }];
      this.stableCheckpoint = null;
      this.setAt(1);
      this.startHeight();
      return;
    }
    if (!Number.isSafeInteger(restored.height) || restored.height < 1) {
      throw new ConsensusError('CONSENSUS_BAD_HARD_STATE', 'hard state height must be >= 1');
    }
    this.height = restored.height;
    this.validatorSets = restored.validatorSets.map((entry) => ({ ...entry }));
    if (this.validatorSets.length === 0 || this.validatorSets[0]!.fromHeight > this.height) {
      throw new ConsensusError(
        'CONSENSUS_BAD_HARD_STATE',
        'hard state has no validator set for its height',
      );
    }
    this.setAt(this.height);
    this.selectSigner();
    this.stableCheckpoint = restored.stableCheckpoint;
    const state = this.heightState;
    state.view = restored.view;
    state.viewChanging = restored.viewChanging;
    state.prepared = restored.prepared;
    state.preparedPayload = restored.preparedPayload;
    state.lastPrepare = restored.lastPrepare;
    state.lastCommit = restored.lastCommit;
    if (state.prepared !== null && state.preparedPayload !== null) {
      state.payloads.set(toHex(state.prepared.digest), state.preparedPayload);
    }
    if (state.viewChanging) {
      // Re-sending the same VIEW-CHANGE (same prepared certificate) is not a second vote.
      this.broadcastViewChange();
    } else if (state.lastPrepare === null || state.lastPrepare.view < state.view) {
      this.askForProposal(state.view);
    }
  }

  // --- Inputs -------------------------------------------------------------------------------

  /** Feeds one message from a peer (or a synced decision). Bad input is dropped and counted. */
  step(input: unknown): void {
    this.counters.received++;
    let message: ReturnType<typeof parseMessage>;
    try {
      message = parseMessage(input);
    } catch {
      this.drop('malformed');
      return;
    }
    this.dispatch(message);
  }

  /** One unit of logical time (the node calls it every ~100 ms). */
  tick(): void {
    this.now++;
    if (this.behindTarget >= this.height && this.now - this.lastSyncRequestAt >= SYNC_RETRY_TICKS) {
      this.requestSync(this.behindTarget, true);
    }
    const state = this.heightState;
    if (state.decided !== null || !this.isValidator()) return;
    if (state.viewChanging && state.view >= STUCK_VIEW) this.suspectBehind();
    if (!this.heightHasWork()) return;
    state.ticks++;
    if (state.ticks >= this.timeoutTicks(state.view)) this.startViewChange(state.view + 1);
  }

  /**
   * The application's block for the pending `proposalRequest`. Returns false when the request
   * went stale (the view or height moved on); the block may be offered again when asked.
   */
  propose(proposal: Proposal): boolean {
    const state = this.heightState;
    const view = state.proposalWanted;
    if (state.decided !== null || view === null || view !== state.view) return false;
    if (
      !(proposal.digest instanceof Uint8Array) ||
      proposal.digest.length !== DIGEST_LENGTH ||
      !(proposal.payload instanceof Uint8Array) ||
      !this.digestMatches(proposal.payload, proposal.digest)
    ) {
      throw new ConsensusError(
        'CONSENSUS_BAD_PROPOSAL',
        'proposal digest does not match digestOf(payload)',
      );
    }
    if (view === 0) {
      if (state.viewChanging || state.accepted.has(0) || !this.mayPrepare(0, proposal.digest)) {
        return false;
      }
      const prePrepare: PrePrepareMessage = {
        type: 'preprepare',
        height: this.height,
        view: 0,
        digest: proposal.digest,
        payload: proposal.payload,
        from: this.signer.publicKey,
        signature: this.sign(
          voteSigningHash(this.chainId, 'preprepare', this.height, 0, proposal.digest),
        ),
      };
      state.proposalWanted = null;
      state.proposalSeen.set(0, toHex(proposal.digest));
      state.prePrepare = statement(prePrepare.digest, prePrepare);
      this.emitOwn(prePrepare);
      this.accept(0, proposal);
      return true;
    }
    this.tryNewView(view, proposal);
    return state.newViewSent?.view === view;
  }

  /**
   * The application applied the committed block at `height` (the current height). Also call it
   * after a restart when the block store already holds block `hardState.height`.
   */
  applied(height: number, result: AppliedBlock): void {
    if (height !== this.height) {
      throw new ConsensusError(
        'CONSENSUS_APPLIED_OUT_OF_ORDER',
        `applied(${height}) but the current height is ${this.height}`,
      );
    }
    if (!(result.stateRoot instanceof Uint8Array) || result.stateRoot.length !== DIGEST_LENGTH) {
      throw new ConsensusError('CONSENSUS_BAD_CONFIG', 'stateRoot must be 32 bytes');
    }
    if (result.nextValidators !== undefined) {
      const fromHeight = height + VALIDATOR_SET_CHANGE_DELAY;
      new ValidatorSet(result.nextValidators); // throws on a malformed set: an application bug
      this.validatorSets = this.validatorSets.filter((entry) => entry.fromHeight < fromHeight);
      this.validatorSets.push({ fromHeight, validators: result.nextValidators.map((key) => key) });
      this.setCache.delete(fromHeight);
    }
    if (height % this.checkpointInterval === 0) this.signCheckpoint(height, result.stateRoot);
    if (this.pendingStable !== null && this.pendingStable.height <= height) {
      this.makeStable(this.pendingStable);
    }
    this.height = height + 1;
    this.heightState = new HeightState();
    this.startHeight();
  }

  // --- Outputs ------------------------------------------------------------------------------

  hasReady(): boolean {
    return (
      this.hardStateDirty ||
      this.outbox.length > 0 ||
      this.committed.length > 0 ||
      this.proposalRequest !== null ||
      this.syncTo !== null ||
      this.newStableCheckpoint !== null ||
      this.evidence.length > 0
    );
  }

  /** Takes the pending work; see {@link Ready} for the order the node must follow. */
  ready(): Ready {
    if (this.awaitingAdvance) {
      throw new ConsensusError('CONSENSUS_READY_NOT_ADVANCED', 'call advance() before ready()');
    }
    const ready: Ready = {
      hardState: this.hardStateDirty ? this.hardState() : null,
      ownVotes: this.ownVotes,
      messages: this.outbox,
      committed: this.committed,
      proposalRequest: this.proposalRequest,
      syncTo: this.syncTo,
      stableCheckpoint: this.newStableCheckpoint,
      evidence: this.evidence,
    };
    this.hardStateDirty = false;
    this.ownVotes = [];
    this.outbox = [];
    this.committed = [];
    this.proposalRequest = null;
    this.syncTo = null;
    this.newStableCheckpoint = null;
    this.evidence = [];
    this.awaitingAdvance = true;
    return ready;
  }

  /** The previous `ready()` was handled: persisted, sent and applied. */
  advance(): void {
    this.awaitingAdvance = false;
  }

  hardState(): HardState {
    const state = this.heightState;
    return {
      height: this.height,
      view: state.view,
      viewChanging: state.viewChanging,
      prepared: state.prepared,
      preparedPayload: state.preparedPayload,
      lastPrepare: state.lastPrepare,
      lastCommit: state.lastCommit,
      validatorSets: this.validatorSets.map((entry) => ({ ...entry })),
      stableCheckpoint: this.stableCheckpoint,
    };
  }

  // --- Queries ------------------------------------------------------------------------------

  get currentHeight(): number {
    return this.height;
  }

  get currentView(): number {
    return this.heightState.view;
  }

  get lastStableCheckpoint(): CheckpointCertificate | null {
    return this.stableCheckpoint;
  }

  /** The validators deciding `height` (known up to current height + delay - 1). */
  validatorsAt(height: number): readonly Uint8Array[] {
    return this.setAt(height).keys;
  }

  /** How many decisions are kept for laggards (pruned below the stable checkpoint). */
  get retainedDecisions(): number {
    return this.decisions.size;
  }

  stats(): ConsensusStats {
    return { ...this.counters, dropped: { ...this.counters.dropped } };
  }

  // --- Dispatch -----------------------------------------------------------------------------

  private dispatch(message: ReturnType<typeof parseMessage>): void {
    if (message.type === 'decision') {
      this.onDecision(message);
      return;
    }
    if (message.type === 'checkpoint') {
      this.onCheckpoint(message);
      return;
    }
    if (message.height < this.height) {
      this.helpLaggard(message);
      this.drop('oldHeight');
      return;
    }
    if (message.height > this.height) {
      this.onFutureMessage(message);
      return;
    }
    const state = this.heightState;
    if (state.decided !== null) {
      this.helpLaggard(message);
      this.drop('oldHeight');
      return;
    }
    const set = this.setAt(this.height);
    const fromHex = toHex(message.from);
    if (!set.has(fromHex)) {
      this.drop('nonValidator');
      return;
    }
    switch (message.type) {
      case 'preprepare':
        this.onPrePrepare(message, set);
        return;
      case 'prepare':
        this.onPrepare(message, fromHex);
        return;
      case 'commit':
        this.onCommit(message, fromHex);
        return;
      case 'viewchange':
        this.onViewChange(message, fromHex, set);
        return;
      case 'newview':
        this.onNewView(message, set);
        return;
    }
  }

  /**
   * PRE-PREPARE (view 0): the primary's proposal; accepted once, prepared if valid.
   * Castro & Liskov, OSDI '99, §4.2: accepted only if signed, from the view's primary, and no
   * other digest was accepted for this view and sequence number. The sequence number is the
   * height, so §4.3's water marks shrink to "this height" (the next one is buffered).
   */
  private onPrePrepare(message: PrePrepareMessage, set: ValidatorSet): void {
    const state = this.heightState;
    this.offerPayload(message.payload);
    if (!bytesEqual(set.primary(this.height, 0), message.from)) {
      this.drop('notPrimary');
      return;
    }
    const digestHex = toHex(message.digest);
    const seen = state.proposalSeen.get(0);
    if (seen !== undefined) {
      if (seen === digestHex) this.drop('duplicate');
      else if (state.prePrepare === null) this.drop('conflicting');
      else this.onConflict(message, 'preprepare', 0, toHex(message.from), state.prePrepare);
      return;
    }
    if (!this.verifySigned(message)) return;
    if (!this.digestMatches(message.payload, message.digest)) {
      this.drop('badProposal');
      return;
    }
    state.proposalSeen.set(0, digestHex);
    state.prePrepare = statement(message.digest, message);
    state.payloads.set(digestHex, message.payload);
    if (state.view !== 0 || state.viewChanging) {
      // Too late to vote, but the block may still be committed by others' COMMITs.
      this.tryDecideAny();
      return;
    }
    if (!this.validProposal(message.payload)) {
      this.drop('invalidProposal');
      return;
    }
    this.accept(0, { digest: message.digest, payload: message.payload });
  }

  /**
   * PREPARE: counted for its view; a quorum for the accepted proposal makes it prepared.
   * §4.2's prepared(m, v, n, i): the pre-prepare plus matching PREPAREs, here a quorum that
   * includes the primary's own PREPARE (2f + 1 for n = 3f + 1).
   */
  private onPrepare(message: PrepareMessage, fromHex: string): void {
    const state = this.heightState;
    if (message.view < state.view || message.view > state.view + VIEW_LOOKAHEAD) {
      this.drop('wrongView');
      return;
    }
    const digestHex = toHex(message.digest);
    const prior = state.prepares.firstVote(message.view, fromHex);
    if (prior !== undefined) {
      if (prior.digestHex === digestHex) this.drop('duplicate');
      else this.onConflict(message, 'prepare', message.view, fromHex, firstStatement(prior));
      return;
    }
    if (!this.verifySigned(message)) return;
    state.prepares.add(message.view, fromHex, digestHex, vote(message));
    if (message.view === state.view) this.tryCommitVote();
  }

  /**
   * COMMIT: a quorum in any view is a commit certificate, so older views count too.
   * §4.2's committed-local; the paper takes COMMITs of the current view only, but a quorum
   * signed for an older view proves the same (§4.5.1: it carries into every later view).
   */
  private onCommit(message: CommitMessage, fromHex: string): void {
    const state = this.heightState;
    if (message.view > state.view + VIEW_LOOKAHEAD) {
      this.drop('wrongView');
      return;
    }
    const digestHex = toHex(message.digest);
    const prior = state.commits.firstVote(message.view, fromHex);
    if (prior !== undefined) {
      if (prior.digestHex === digestHex) this.drop('duplicate');
      else this.onConflict(message, 'commit', message.view, fromHex, firstStatement(prior));
      return;
    }
    if (!this.verifySigned(message)) return;
    state.commits.add(message.view, fromHex, digestHex, vote(message));
    this.tryDecide(message.view, message.digest);
  }

  /**
   * VIEW-CHANGE: gathered per view; f+1 for higher views pull us along; a quorum lets the new
   * primary act. §4.4 (the prepared certificate is the paper's P set, for one sequence number)
   * and §4.5.2 (joining on f + 1).
   */
  private onViewChange(message: ViewChangeMessage, fromHex: string, set: ValidatorSet): void {
    const state = this.heightState;
    if (message.payload !== null) this.offerPayload(message.payload);
    if (message.view < state.view || message.view > state.view + VIEW_LOOKAHEAD) {
      this.drop('wrongView');
      return;
    }
    let forView = state.viewChanges.get(message.view);
    if (forView?.has(fromHex)) {
      this.drop('duplicate');
      return;
    }
    if (!this.verifySigned(message)) return;
    if (
      message.prepared !== null &&
      !verifyPreparedCertificate(this.chainId, this.height, message.prepared, set, this.signatures)
    ) {
      this.drop('badCertificate');
      return;
    }
    if (message.prepared !== null) this.compareWithCertificate('prepare', message.prepared);
    if (message.prepared !== null && message.payload !== null) {
      if (!this.digestMatches(message.payload, message.prepared.digest)) {
        this.drop('badProposal');
        return;
      }
      state.payloads.set(toHex(message.prepared.digest), message.payload);
    }
    if (forView === undefined) {
      forView = new Map();
      state.viewChanges.set(message.view, forView);
    }
    forView.set(fromHex, message);
    if (state.newViewSent !== null && state.newViewSent.view === message.view) {
      // The sender evidently missed our NEW-VIEW.
      this.outbox.push({ to: message.from, message: state.newViewSent });
    }
    this.maybeJoinHigherView(set);
    if (
      message.view > state.view &&
      forView.size >= set.quorum &&
      bytesEqual(set.primary(this.height, message.view), this.signer.publicKey)
    ) {
      this.startViewChange(message.view);
    }
    this.tryNewView(message.view);
  }

  /**
   * NEW-VIEW: checked against its view changes; it must re-propose the highest prepared block.
   * §4.4: a backup accepts it if signed by the view's primary, its VIEW-CHANGEs (the paper's V)
   * are a valid quorum, and its proposal is the one they mandate (the paper's O; a fresh block
   * where the paper would order a null request), then sends PREPARE and enters the view.
   */
  private onNewView(message: NewViewMessage, set: ValidatorSet): void {
    const state = this.heightState;
    this.offerPayload(message.payload);
    if (message.view < state.view || message.view > state.view + VIEW_LOOKAHEAD) {
      this.drop('wrongView');
      return;
    }
    if (!bytesEqual(set.primary(this.height, message.view), message.from)) {
      this.drop('notPrimary');
      return;
    }
    const digestHex = toHex(message.digest);
    const seen = state.proposalSeen.get(message.view);
    if (seen !== undefined) {
      this.drop(seen === digestHex ? 'duplicate' : 'conflicting');
      return;
    }
    if (!this.verifySigned(message)) return;
    if (!this.validViewChangeProofs(message.view, message.viewChanges, set)) {
      this.drop('badCertificate');
      return;
    }
    for (const proof of message.viewChanges) {
      if (proof.prepared !== null) this.compareWithCertificate('prepare', proof.prepared);
    }
    const mandated = highestPrepared(message.viewChanges);
    if (
      (mandated !== null && !bytesEqual(mandated.digest, message.digest)) ||
      !this.digestMatches(message.payload, message.digest)
    ) {
      this.drop('badProposal');
      return;
    }
    state.proposalSeen.set(message.view, digestHex);
    state.payloads.set(digestHex, message.payload);
    // A re-proposed prepared block was validated by at least f+1 honest validators already.
    if (mandated === null && !this.validProposal(message.payload)) {
      this.drop('invalidProposal');
      return;
    }
    this.enterView(message.view);
    this.accept(message.view, { digest: message.digest, payload: message.payload });
  }

  private validViewChangeProofs(
    view: number,
    proofs: readonly ViewChangeProof[],
    set: ValidatorSet,
  ): boolean {
    if (proofs.length < set.quorum) return false;
    const senders = new Set<string>();
    for (const proof of proofs) {
      const fromHex = toHex(proof.from);
      if (!set.has(fromHex) || senders.has(fromHex)) return false;
      senders.add(fromHex);
      if (proof.prepared !== null && proof.prepared.view >= view) return false;
      const hash = viewChangeSigningHash(this.chainId, this.height, view, proof.prepared);
      if (!this.signatures.verify(proof.from, hash, proof.signature)) return false;
      if (
        proof.prepared !== null &&
        !verifyPreparedCertificate(this.chainId, this.height, proof.prepared, set, this.signatures)
      ) {
        return false;
      }
    }
    return true;
  }

  /**
   * CHECKPOINT: a quorum on (height, root) makes it stable; beyond our height it means we are
   * behind. §4.3: the quorum of matching CHECKPOINTs is the checkpoint's proof of correctness.
   */
  private onCheckpoint(message: CheckpointMessage): void {
    const height = message.height;
    if (height % this.checkpointInterval !== 0) {
      this.drop('malformed');
      return;
    }
    if (this.stableCheckpoint !== null && height <= this.stableCheckpoint.height) {
      this.drop('oldCheckpoint');
      return;
    }
    const set = this.setAt(height);
    const fromHex = toHex(message.from);
    if (!set.has(fromHex)) {
      this.drop('nonValidator');
      return;
    }
    const prior = this.checkpointVotes.get(fromHex);
    if (prior !== undefined && prior.height >= height) {
      if (prior.height !== height) this.drop('oldCheckpoint');
      else if (bytesEqual(prior.stateRoot, message.stateRoot)) this.drop('duplicate');
      else {
        this.onConflict(message, 'checkpoint', null, fromHex, statement(prior.stateRoot, prior));
      }
      return;
    }
    if (!this.verifySigned(message)) return;
    this.checkpointVotes.set(fromHex, message);
    this.notePeerHeight(fromHex, height + 1);
    this.evaluateCheckpoint(height, message.stateRoot, set);
  }

  /**
   * DECISION: a block with its commit certificate, from a peer or from the node's sync. Not a
   * PBFT message: it is how a replica "obtains missing information from another replica" (§4.4).
   */
  private onDecision(message: DecisionMessage): void {
    const certificate = message.certificate;
    const height = certificate.height;
    if (height < this.height || (height === this.height && this.heightState.decided !== null)) {
      this.drop('oldHeight');
      return;
    }
    if (height > this.height + DECISION_BUFFER_HEIGHTS) {
      this.drop('futureHeight');
      return;
    }
    if (height > this.height && this.futureDecisions.has(height)) {
      this.drop('duplicate');
      return;
    }
    const set = this.setAt(height);
    const hash = voteSigningHash(
      this.chainId,
      'commit',
      height,
      certificate.view,
      certificate.digest,
    );
    if (!verifyQuorumVotes(certificate.votes, hash, set, this.signatures)) {
      this.drop('badCertificate');
      return;
    }
    if (!this.digestMatches(message.payload, certificate.digest)) {
      this.drop('badProposal');
      return;
    }
    if (height > this.height) {
      this.futureDecisions.set(height, message);
      this.requestSync(height, false);
      return;
    }
    this.compareWithCertificate('commit', certificate);
    this.decide({ digest: certificate.digest, payload: message.payload }, certificate);
  }

  /** A signed message for a later height: proof the sender is there; buffered if for the next one. */
  private onFutureMessage(message: Exclude<SignedMessage, CheckpointMessage>): void {
    const set = this.setAt(message.height);
    const fromHex = toHex(message.from);
    if (!set.has(fromHex)) {
      this.drop('nonValidator');
      return;
    }
    if (!this.verifySigned(message)) return;
    this.notePeerHeight(fromHex, message.height);
    if (message.height !== this.height + 1) {
      this.drop('futureHeight');
      return;
    }
    if (this.futureMessages.length >= FUTURE_BUFFER_PER_VALIDATOR * set.size) {
      this.drop('bufferFull');
      return;
    }
    this.futureMessages.push(message);
  }

  // --- Protocol steps -----------------------------------------------------------------------

  /** Entered when `height` becomes current: asks for a proposal if primary, replays early messages. */
  private startHeight(): void {
    this.selectSigner();
    this.hardStateDirty = true;
    this.askForProposal(0);
    const buffered = this.futureMessages;
    this.futureMessages = [];
    for (const message of buffered) {
      if (message.height === this.height) this.dispatch(message);
    }
    for (const height of [...this.futureDecisions.keys()]) {
      if (height < this.height) this.futureDecisions.delete(height);
    }
    const decision = this.futureDecisions.get(this.height);
    if (decision !== undefined) {
      this.futureDecisions.delete(this.height);
      if (this.heightState.decided === null) this.dispatch(decision);
    }
  }

  private askForProposal(view: number): void {
    const state = this.heightState;
    if (!this.isPrimary(view) || state.decided !== null || state.proposalWanted === view) return;
    state.proposalWanted = view;
    this.proposalRequest = { height: this.height, view };
  }

  /** Accepts the proposal of `view` (ours or the primary's) and sends our PREPARE. */
  private accept(view: number, proposal: Proposal): void {
    const state = this.heightState;
    state.accepted.set(view, proposal);
    state.payloads.set(toHex(proposal.digest), proposal.payload);
    if (!this.isValidator()) return;
    if (!this.mayPrepare(view, proposal.digest)) {
      this.counters.refusedDoubleVotes++;
      return;
    }
    const prepare: PrepareMessage = {
      type: 'prepare',
      height: this.height,
      view,
      digest: proposal.digest,
      from: this.signer.publicKey,
      signature: this.sign(
        voteSigningHash(this.chainId, 'prepare', this.height, view, proposal.digest),
      ),
    };
    state.lastPrepare = { view, digest: proposal.digest };
    this.hardStateDirty = true;
    if (state.prepares.votedFor(view, this.selfHex) === undefined) {
      state.prepares.add(view, this.selfHex, toHex(proposal.digest), vote(prepare));
    }
    this.emitOwn(prepare);
    this.tryCommitVote();
  }

  /** Our PREPARE for (view, digest) would not contradict one we signed before. */
  private mayPrepare(view: number, digest: Uint8Array): boolean {
    const last = this.heightState.lastPrepare;
    return (
      last === null || last.view < view || (last.view === view && bytesEqual(last.digest, digest))
    );
  }

  /**
   * Prepared (quorum of PREPAREs for the accepted proposal in our view): keep the certificate,
   * send COMMIT. §4.2: COMMIT is multicast when prepared becomes true.
   */
  private tryCommitVote(): void {
    const state = this.heightState;
    if (state.viewChanging || state.decided !== null || !this.isValidator()) return;
    const proposal = state.accepted.get(state.view);
    if (proposal === undefined) return;
    if (state.lastCommit !== null && state.lastCommit.view >= state.view) return;
    const set = this.setAt(this.height);
    const digestHex = toHex(proposal.digest);
    if (state.prepares.count(state.view, digestHex) < set.quorum) return;
    if (state.prepared === null || state.prepared.view < state.view) {
      state.prepared = {
        view: state.view,
        digest: proposal.digest,
        votes: state.prepares.votes(state.view, digestHex, set.quorum),
      };
      state.preparedPayload = proposal.payload;
    }
    const commit: CommitMessage = {
      type: 'commit',
      height: this.height,
      view: state.view,
      digest: proposal.digest,
      from: this.signer.publicKey,
      signature: this.sign(
        voteSigningHash(this.chainId, 'commit', this.height, state.view, proposal.digest),
      ),
    };
    state.lastCommit = { view: state.view, digest: proposal.digest };
    this.hardStateDirty = true;
    if (state.commits.votedFor(state.view, this.selfHex) === undefined) {
      state.commits.add(state.view, this.selfHex, digestHex, vote(commit));
    }
    this.emitOwn(commit);
    this.tryDecide(state.view, proposal.digest);
  }

  /** §4.2: committed-local (a quorum of matching COMMITs) hands the block out for execution. */
  private tryDecide(view: number, digest: Uint8Array): void {
    const state = this.heightState;
    if (state.decided !== null) return;
    const set = this.setAt(this.height);
    const digestHex = toHex(digest);
    if (state.commits.count(view, digestHex) < set.quorum) return;
    const certificate: CommitCertificate = {
      height: this.height,
      view,
      digest,
      votes: state.commits.votes(view, digestHex, set.quorum),
    };
    const payload = state.payloads.get(digestHex);
    if (payload === undefined) {
      state.certifiedWithoutPayload = certificate;
      this.requestSync(this.height, false);
      return;
    }
    this.decide({ digest, payload }, certificate);
  }

  /** A payload arrived after its certificate: decide now. */
  private tryDecideAny(): void {
    const certificate = this.heightState.certifiedWithoutPayload;
    if (certificate !== null) this.tryDecide(certificate.view, certificate.digest);
  }

  /** Any payload whose digest matches a certificate we hold is the committed block, whoever sent it. */
  private offerPayload(payload: Uint8Array): void {
    const certificate = this.heightState.certifiedWithoutPayload;
    if (certificate === null || this.heightState.decided !== null) return;
    if (!this.digestMatches(payload, certificate.digest)) return;
    this.heightState.payloads.set(toHex(certificate.digest), payload);
    this.tryDecideAny();
  }

  private decide(proposal: Proposal, certificate: CommitCertificate): void {
    const state = this.heightState;
    const block: CommittedBlock = { height: this.height, proposal, certificate };
    state.decided = block;
    state.certifiedWithoutPayload = null;
    state.proposalWanted = null;
    this.committed.push(block);
    this.counters.committed++;
    this.decisions.set(this.height, { type: 'decision', payload: proposal.payload, certificate });
    this.decisionBytes += proposal.payload.length;
    // Oldest first, never the one just decided.
    while (
      this.decisions.size > 1 &&
      (this.decisions.size > MAX_RETAINED_DECISIONS || this.decisionBytes > this.maxDecisionBytes)
    ) {
      this.dropDecision(this.decisions.keys().next().value!);
    }
  }

  private dropDecision(height: number): void {
    const decision = this.decisions.get(height);
    if (decision === undefined) return;
    this.decisions.delete(height);
    this.decisionBytes -= decision.payload.length;
  }

  /**
   * Our timer expired in `view - 1` (or f+1 peers left for `view`): send VIEW-CHANGE for `view`.
   * §4.4: a backup whose timer expires stops taking part in the old view and multicasts it.
   */
  private startViewChange(view: number): void {
    const state = this.heightState;
    state.view = view;
    state.viewChanging = true;
    state.ticks = 0;
    state.proposalWanted = null;
    this.hardStateDirty = true;
    this.counters.viewChanges++;
    for (const old of [...state.viewChanges.keys()]) {
      if (old < view) state.viewChanges.delete(old);
    }
    this.broadcastViewChange();
    this.tryNewView(view);
  }

  private broadcastViewChange(): void {
    if (!this.isValidator()) return;
    const state = this.heightState;
    const message: ViewChangeMessage = {
      type: 'viewchange',
      height: this.height,
      view: state.view,
      prepared: state.prepared,
      payload: state.prepared === null ? null : state.preparedPayload,
      from: this.signer.publicKey,
      signature: this.sign(
        viewChangeSigningHash(this.chainId, this.height, state.view, state.prepared),
      ),
    };
    let forView = state.viewChanges.get(state.view);
    if (forView === undefined) {
      forView = new Map();
      state.viewChanges.set(state.view, forView);
    }
    forView.set(this.selfHex, message);
    this.emitOwn(message);
  }

  /**
   * f+1 validators (so at least one honest) want a higher view: join the (f+1)-th highest.
   * §4.5.2, second means. The paper joins the smallest view in the set; the (f+1)-th highest
   * is the highest that f + 1 of them (so an honest one) have all reached.
   */
  private maybeJoinHigherView(set: ValidatorSet): void {
    const state = this.heightState;
    if (!this.isValidator()) return;
    const highest = new Map<string, number>();
    for (const [view, senders] of state.viewChanges) {
      if (view <= state.view) continue;
      for (const sender of senders.keys()) {
        highest.set(sender, Math.max(view, highest.get(sender) ?? 0));
      }
    }
    if (highest.size <= set.faults) return;
    const views = [...highest.values()].sort((a, b) => b - a);
    this.startViewChange(views[set.faults]!);
  }

  /**
   * As primary of `view` with a quorum of VIEW-CHANGEs: re-propose the block of the highest
   * prepared certificate among them, or (if none) a new block from the application.
   * §4.4: the new primary's NEW-VIEW, its O computed for the one sequence number in play.
   */
  private tryNewView(view: number, appProposal?: Proposal): void {
    const state = this.heightState;
    if (state.view !== view || !state.viewChanging) return;
    if (state.newViewSent !== null && state.newViewSent.view >= view) return;
    if (!this.isPrimary(view) || state.decided !== null) return;
    const set = this.setAt(this.height);
    const forView = state.viewChanges.get(view);
    if (forView === undefined || forView.size < set.quorum) return;
    const proofs: ViewChangeProof[] = [...forView.values()].slice(0, set.quorum).map((message) => ({
      from: message.from,
      signature: message.signature,
      prepared: message.prepared,
    }));
    const mandated = highestPrepared(proofs);
    let proposal: Proposal;
    if (mandated !== null) {
      const payload = state.payloads.get(toHex(mandated.digest));
      if (payload === undefined) return; // a later VIEW-CHANGE may carry it; else the timer moves on
      proposal = { digest: mandated.digest, payload };
    } else if (appProposal !== undefined) {
      proposal = appProposal;
    } else {
      this.askForProposal(view);
      return;
    }
    if (!this.mayPrepare(view, proposal.digest)) return;
    const newView: NewViewMessage = {
      type: 'newview',
      height: this.height,
      view,
      viewChanges: proofs,
      digest: proposal.digest,
      payload: proposal.payload,
      from: this.signer.publicKey,
      signature: this.sign(
        newViewSigningHash(this.chainId, this.height, view, proposal.digest, proofs),
      ),
    };
    state.newViewSent = newView;
    state.proposalSeen.set(view, toHex(proposal.digest));
    this.emitOwn(newView);
    this.enterView(view);
    this.accept(view, proposal);
  }

  private enterView(view: number): void {
    const state = this.heightState;
    if (state.view !== view) this.counters.viewChanges++;
    state.view = view;
    state.viewChanging = false;
    state.ticks = 0;
    state.proposalWanted = null;
    this.hardStateDirty = true;
  }

  /** §4.3: a CHECKPOINT after executing every K-th height, signing the state's digest (root). */
  private signCheckpoint(height: number, stateRoot: Uint8Array): void {
    this.ownStateRoots.set(height, stateRoot);
    const set = this.setAt(height);
    if (!set.has(this.selfHex)) return;
    const message: CheckpointMessage = {
      type: 'checkpoint',
      height,
      stateRoot,
      from: this.signer.publicKey,
      signature: this.sign(checkpointSigningHash(this.chainId, height, stateRoot)),
    };
    this.checkpointVotes.set(this.selfHex, message);
    this.emitOwn(message);
    this.evaluateCheckpoint(height, stateRoot, set);
  }

  private evaluateCheckpoint(height: number, stateRoot: Uint8Array, set: ValidatorSet): void {
    const votes: Vote[] = [];
    for (const message of this.checkpointVotes.values()) {
      if (message.height === height && bytesEqual(message.stateRoot, stateRoot)) {
        votes.push(vote(message));
      }
    }
    if (votes.length < set.quorum) return;
    const certificate: CheckpointCertificate = {
      height,
      stateRoot,
      votes: votes.slice(0, set.quorum),
    };
    if (height < this.height) {
      this.makeStable(certificate);
      return;
    }
    if (this.pendingStable === null || this.pendingStable.height < height) {
      this.pendingStable = certificate;
    }
    this.requestSync(height, false);
  }

  /**
   * A stable checkpoint: everything below it is final everywhere, so logs below it are pruned.
   * §4.3: the low-water mark moves to it and earlier messages and checkpoints are discarded.
   */
  private makeStable(certificate: CheckpointCertificate): void {
    if (this.stableCheckpoint !== null && this.stableCheckpoint.height >= certificate.height)
      return;
    const own = this.ownStateRoots.get(certificate.height);
    if (own !== undefined && !bytesEqual(own, certificate.stateRoot)) {
      this.counters.checkpointMismatches++;
    }
    this.stableCheckpoint = certificate;
    this.newStableCheckpoint = certificate;
    if (this.pendingStable !== null && this.pendingStable.height <= certificate.height) {
      this.pendingStable = null;
    }
    this.hardStateDirty = true;
    const low = certificate.height;
    for (const height of [...this.decisions.keys()]) {
      if (height < low) this.dropDecision(height);
    }
    for (const height of [...this.ownStateRoots.keys()]) {
      if (height <= low) this.ownStateRoots.delete(height);
    }
    // Keep the set in force at the checkpoint and every later one.
    const inForce = this.validatorSets.findLastIndex((entry) => entry.fromHeight <= low);
    if (inForce > 0) {
      for (const entry of this.validatorSets.slice(0, inForce))
        this.setCache.delete(entry.fromHeight);
      this.validatorSets = this.validatorSets.slice(inForce);
    }
  }

  // --- Helpers ------------------------------------------------------------------------------

  /** The validator set deciding `height`; the newest known one for heights beyond the schedule. */
  private setAt(height: number): ValidatorSet {
    let entry = this.validatorSets[0]!;
    for (const candidate of this.validatorSets) {
      if (candidate.fromHeight <= height) entry = candidate;
    }
    let set = this.setCache.get(entry.fromHeight);
    if (set === undefined) {
      set = new ValidatorSet(entry.validators, this.quorumOf);
      this.setCache.set(entry.fromHeight, set);
    }
    return set;
  }

  /**
   * Whether the view timer should run: PBFT's request timer. Anything seen at this height (a
   * proposal, a vote, a view change, a view past 0) means someone expects a block; otherwise
   * only the application's own pending work does. A throwing hook counts as work: a timer
   * that runs needlessly costs a view change, one that never runs costs liveness.
   */
  private heightHasWork(): boolean {
    const state = this.heightState;
    if (
      state.view > 0 ||
      state.viewChanging ||
      state.proposalSeen.size > 0 ||
      state.certifiedWithoutPayload !== null ||
      state.viewChanges.size > 0 ||
      !state.prepares.isEmpty ||
      !state.commits.isEmpty
    ) {
      return true;
    }
    if (this.app.hasPendingWork === undefined) return true;
    try {
      return this.app.hasPendingWork();
    } catch {
      return true;
    }
  }

  /** Signs the current height with whichever own key its set holds (see rotatedSigners). */
  private selectSigner(): void {
    const set = this.setAt(this.height);
    const { first, rotated } = this.ownSigners;
    this.signer = [first, ...rotated].find((s) => set.has(toHex(s.publicKey))) ?? first;
    this.selfHex = toHex(this.signer.publicKey);
  }

  private isValidator(): boolean {
    return this.setAt(this.height).has(this.selfHex);
  }

  private isPrimary(view: number): boolean {
    return (
      this.isValidator() &&
      bytesEqual(this.setAt(this.height).primary(this.height, view), this.signer.publicKey)
    );
  }

  /** The application's hooks are trusted code, but a throw there must not escape step(). */
  private digestMatches(payload: Uint8Array, digest: Uint8Array): boolean {
    try {
      return bytesEqual(this.app.digestOf(payload), digest);
    } catch {
      return false;
    }
  }

  private validProposal(payload: Uint8Array): boolean {
    try {
      return this.app.validateProposal(this.height, payload) === true;
    } catch {
      return false;
    }
  }

  /** §4.5.2, first means: each view's timer is twice the previous one's (capped). */
  private timeoutTicks(view: number): number {
    return this.baseTimeoutTicks * 2 ** Math.min(view, this.maxTimeoutDoublings);
  }

  private verifySigned(message: SignedMessage): boolean {
    const hash = messageSigningHash(this.chainId, message);
    if (this.signatures.verify(message.from, hash, message.signature)) return true;
    this.drop('badSignature');
    return false;
  }

  private sign(hash: Uint8Array): Uint8Array {
    return this.signer.sign(hash);
  }

  /** Own messages are persisted (ready.ownVotes) before they are sent (ready.messages). */
  private emitOwn(message: SignedMessage): void {
    this.ownVotes.push(message);
    this.outbox.push({ to: 'all', message });
  }

  private notePeerHeight(peerHex: string, height: number): void {
    if ((this.peerHeights.get(peerHex) ?? 0) >= height) return;
    this.peerHeights.set(peerHex, height);
    const set = this.setAt(this.height);
    const heights: number[] = [];
    for (const [peer, peerHeight] of this.peerHeights) {
      if (set.has(peer) && peerHeight > this.height) heights.push(peerHeight);
    }
    if (heights.length <= set.faults) return;
    heights.sort((a, b) => b - a);
    // At least one honest validator works on heights[f], so every height below it is final.
    this.requestSync(heights[set.faults]! - 1, false);
  }

  /**
   * Stuck in view changes while a validator proved (by a signed message) that it works on a
   * later height: that peer may be the only one ahead, and if it restarted it has no decisions
   * in memory to send us, so ask the node layer to sync (rate-limited by the retry interval).
   * A byzantine peer can only cause a fruitless sync request: synced blocks carry certificates.
   */
  private suspectBehind(): void {
    const set = this.setAt(this.height);
    let ahead = 0;
    for (const [peer, height] of this.peerHeights) {
      if (height > ahead && set.has(peer)) ahead = height;
    }
    if (ahead > this.height) this.requestSync(ahead - 1, false);
  }

  /** Says in ready() that blocks up to `height` exist elsewhere and this node lacks them. */
  private requestSync(height: number, retry: boolean): void {
    const missing =
      height > this.height || (height === this.height && this.heightState.decided === null);
    if (!missing) return;
    if (!retry && height <= this.behindTarget) return;
    this.behindTarget = Math.max(this.behindTarget, height);
    this.syncTo = this.behindTarget;
    this.lastSyncRequestAt = this.now;
  }

  /**
   * A peer is stuck at a height we decided (it asks for a view change there, or it is more than
   * one height behind): send it the decision, rate-limited. Late votes of the height we just
   * decided get no answer: their senders are about to decide too.
   */
  private helpLaggard(message: Exclude<SignedMessage, CheckpointMessage>): void {
    if (message.type !== 'viewchange' && message.height >= this.height - 1) return;
    const first = this.decisions.get(message.height);
    if (first === undefined) return;
    const peerHex = toHex(message.from);
    // Per peer, whatever the height: replayed old messages for many heights must not multiply replies.
    const last = this.decisionReplies.get(peerHex);
    if (last !== undefined && this.now - last < DECISION_REPLY_INTERVAL_TICKS) return;
    const set = this.setAt(message.height);
    if (!set.has(peerHex)) return;
    // Verified so a forged sender cannot make us flood a victim with blocks.
    if (
      !this.signatures.verify(
        message.from,
        messageSigningHash(this.chainId, message),
        message.signature,
      )
    ) {
      return;
    }
    if (this.decisionReplies.size >= 4 * set.size) this.decisionReplies.clear();
    this.decisionReplies.set(peerHex, this.now);
    // The next few heights go along: the laggard buffers them and catches up in one round trip.
    for (let height = message.height; height < message.height + DECISIONS_PER_REPLY; height++) {
      const decision = this.decisions.get(height);
      if (decision === undefined) break;
      this.counters.decisionsSent++;
      this.outbox.push({ to: message.from, message: decision });
    }
  }

  private drop(reason: DropReason): void {
    this.counters.dropped[reason]++;
  }

  // --- Evidence -----------------------------------------------------------------------------

  /**
   * `message` contradicts `first`, a statement of the same validator this node verified (or
   * signed) before. Dropped either way; if its signature verifies, the pair is evidence. Only
   * the first conflict per validator and height is verified: a byzantine sender cannot make us
   * pay a signature check for each of its conflicting messages.
   */
  private onConflict(
    message: PrePrepareMessage | PrepareMessage | CommitMessage | CheckpointMessage,
    phase: EquivocationPhase,
    view: number | null,
    fromHex: string,
    first: SignedStatement,
  ): void {
    if (!this.wantsEvidence(phase, fromHex, message.height)) {
      this.drop('conflicting');
      return;
    }
    if (!this.verifySigned(message)) return;
    this.drop('conflicting');
    const second = statement(
      message.type === 'checkpoint' ? message.stateRoot : message.digest,
      message,
    );
    this.recordEvidence(fromHex, {
      validator: message.from,
      phase,
      height: message.height,
      view,
      first,
      second,
    });
  }

  /**
   * A verified certificate of the current height holds votes that may contradict votes we hold
   * (a validator that showed each peer a different vote): both signatures are verified already.
   */
  private compareWithCertificate(
    phase: 'prepare' | 'commit',
    certificate: PreparedCertificate | CommitCertificate,
  ): void {
    const book = phase === 'prepare' ? this.heightState.prepares : this.heightState.commits;
    const digestHex = toHex(certificate.digest);
    for (const inCertificate of certificate.votes) {
      const fromHex = toHex(inCertificate.from);
      const prior = book.firstVote(certificate.view, fromHex);
      if (prior === undefined || prior.digestHex === digestHex) continue;
      if (!this.wantsEvidence(phase, fromHex, this.height)) continue;
      this.recordEvidence(fromHex, {
        validator: inCertificate.from,
        phase,
        height: this.height,
        view: certificate.view,
        first: firstStatement(prior),
        second: statement(certificate.digest, inCertificate),
      });
    }
  }

  /** At most one piece of evidence per validator and height (votes and checkpoints apart). */
  private wantsEvidence(phase: EquivocationPhase, fromHex: string, height: number): boolean {
    if (phase === 'checkpoint') return this.checkpointEquivocators.get(fromHex) !== height;
    return height === this.height && !this.heightState.equivocators.has(fromHex);
  }

  private recordEvidence(fromHex: string, evidence: Equivocation): void {
    if (evidence.phase === 'checkpoint') {
      // One entry per validator; a set has at most MAX_VALIDATORS, so this clears only on churn.
      if (this.checkpointEquivocators.size >= 4 * this.setAt(this.height).size) {
        this.checkpointEquivocators.clear();
      }
      this.checkpointEquivocators.set(fromHex, evidence.height);
    } else {
      this.heightState.equivocators.add(fromHex);
    }
    this.counters.equivocations++;
    if (this.evidence.length < MAX_PENDING_EVIDENCE) this.evidence.push(evidence);
  }
}

function statement(
  digest: Uint8Array,
  signed: { readonly signature: Uint8Array },
): SignedStatement {
  return { digest, signature: signed.signature };
}

function firstStatement(first: FirstVote): SignedStatement {
  return { digest: bytesOfHex(first.digestHex), signature: first.vote.signature };
}

function vote(message: { readonly from: Uint8Array; readonly signature: Uint8Array }): Vote {
  return { from: message.from, signature: message.signature };
}

/** The prepared certificate of the highest view among view changes (the block a new view must keep). */
export function highestPrepared(proofs: readonly ViewChangeProof[]): PreparedCertificate | null {
  let best: PreparedCertificate | null = null;
  for (const proof of proofs) {
    if (proof.prepared !== null && (best === null || proof.prepared.view > best.view)) {
      best = proof.prepared;
    }
  }
  return best;
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ConsensusError('CONSENSUS_BAD_CONFIG', `${name} must be a positive integer`);
  }
  return value;
}
