import {
  type ConsensusConfig,
  type ConsensusCore,
  type ConsensusStats,
  type DropReason,
  drainReady,
  type Equivocation,
  encodeMessage,
  type HardState,
  type Ready,
  restoreCore,
  type SignedMessage,
  verifyEquivocation,
} from '@medchain/consensus';
import { type Canonical, decodeCanonical, encodeCanonical, toHex, verify } from '@medchain/crypto';
import { type ExecutionOptions, verifyTransactionSignature } from '@medchain/ledger';
import type { EvidenceRepository } from '../db/index.js';
import { NodeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Clock, Timer, Timers, WalLog } from '../shell/ports.js';
import { systemClock, systemTimers } from '../shell/system.js';
import type { Chain, ExecutedBlock } from './chain.js';
import { decodeWalRecord, encodeHardStateRecord, encodeOwnVoteRecord } from './codec.js';
import type { Mempool } from './mempool.js';
import type { EvidenceList, RecordedEquivocation } from './types.js';

export interface DriverOptions {
  readonly core: ConsensusCore;
  readonly chain: Chain;
  readonly mempool: Mempool;
  readonly wal: WalLog;
  /** Tick and proposal timers. Default the system's. */
  readonly timers?: Timers;
  /** Evidence timestamps. Default the system clock. */
  readonly clock?: Clock;
  /** This validator's public key (the proposer field of its blocks). */
  readonly selfKey: Uint8Array;
  /** Sends encoded consensus message bytes to one validator (by public key) or to all. */
  readonly send: (to: Uint8Array | 'all', bytes: Uint8Array) => void;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly tickIntervalMs: number;
  readonly block: {
    readonly maxTxs: number;
    readonly maxBytes: number;
    readonly batchTimeMs: number;
  };
  /**
   * How long the primary of a view past 0 waits for transactions before it proposes an empty
   * block (the replicas changed view and wait for one). It must stay well under the
   * view-change timeout. In view 0 an empty mempool means no block at all: the chain idles.
   */
  readonly emptyBlockDelayMs: number;
  /** Called when the core says blocks up to `height` are final elsewhere (see also `onBehind`). */
  readonly onSyncTo?: (height: number) => void;
  /** Called after each block is executed and stored, in height order (see also `subscribe`). */
  readonly onCommitted?: (block: ExecutedBlock) => void;
  /** Called once if the driver hits an error it cannot go on after (disk, diverged state). */
  readonly onFatal?: (error: unknown) => void;
  /** The WAL is rewritten to the latest hard state once it grows past this. Default 16 MiB. */
  readonly walCheckpointBytes?: number;
  /** Peer messages waiting at once; more are dropped and counted. Default 20,000. */
  readonly maxQueuedMessages?: number;
  /**
   * Bytes of peer messages waiting at once; more are dropped and counted. Default 64 MiB: a
   * proposal carries its block (up to `block.maxBytes`), so a count alone bounds nothing.
   */
  readonly maxQueuedMessageBytes?: number;
  /** Equivocations kept for the API (the most recent). Default 1,000. */
  readonly maxKeptEvidence?: number;
}

type Input =
  | { readonly kind: 'message'; readonly bytes: Uint8Array }
  | { readonly kind: 'tick' }
  | { readonly kind: 'propose' }
  /** Nothing to handle: only drains what the core already has (its first ready after a restore). */
  | { readonly kind: 'wake' }
  | {
      readonly kind: 'decisions';
      readonly messages: readonly Uint8Array[];
      readonly done: () => void;
    };

/**
 * Equivocation evidence the core caught, the most recent `limit` kept, in LevelDB (bucket
 * consensusEvidence) so a restart keeps it. The core hands out at most one per validator and
 * height, so this grows only while a validator misbehaves.
 */
export class EvidenceLog {
  private kept: RecordedEquivocation[] = [];
  /** Sequence number of the next entry (keys are u64 BE, so the bucket is in arrival order). */
  private next = 0;

  constructor(
    private readonly repository: EvidenceRepository,
    private readonly limit: number,
  ) {}

  /** Reads back what an earlier run kept; an entry that does not decode is skipped. */
  async load(): Promise<void> {
    const loaded: RecordedEquivocation[] = [];
    let first = true;
    for await (const [sequence, value] of this.repository.loadNewest(this.limit)) {
      if (first) this.next = sequence + 1;
      first = false;
      const entry = decodeRecordedEquivocation(value);
      if (entry !== undefined) loaded.push(entry);
    }
    this.kept = [...loaded.reverse(), ...this.kept];
  }

  async add(entry: RecordedEquivocation): Promise<void> {
    const sequence = this.next++;
    const batch = this.repository.db.batch();
    this.repository.save(batch, sequence, encodeCanonical(entry as unknown as Canonical));
    if (sequence >= this.limit) this.repository.delete(batch, sequence - this.limit);
    await this.repository.db.write(batch);
    this.kept.push(entry);
    if (this.kept.length > this.limit) this.kept.shift();
  }

  list(): EvidenceList {
    return { items: [...this.kept], total: this.next };
  }
}

/** Our own bytes, but a damaged entry must not stop the node: anything off is undefined. */
function decodeRecordedEquivocation(bytes: Uint8Array): RecordedEquivocation | undefined {
  try {
    const value = decodeCanonical(bytes) as unknown as RecordedEquivocation;
    const { evidence, verified, recordedAt } = value;
    const statementOk = (s: unknown) =>
      typeof s === 'object' &&
      s !== null &&
      (s as { digest: unknown }).digest instanceof Uint8Array &&
      (s as { signature: unknown }).signature instanceof Uint8Array;
    if (
      typeof verified !== 'boolean' ||
      !Number.isSafeInteger(recordedAt) ||
      !(evidence.validator instanceof Uint8Array) ||
      typeof evidence.phase !== 'string' ||
      !Number.isSafeInteger(evidence.height) ||
      !(evidence.view === null || Number.isSafeInteger(evidence.view)) ||
      !statementOk(evidence.first) ||
      !statementOk(evidence.second)
    ) {
      return undefined;
    }
    return { evidence, verified, recordedAt };
  } catch {
    return undefined;
  }
}

/** Inputs handled before one drain of ready(): a burst of votes costs one fsync. */
const INPUTS_PER_DRAIN = 512;

/** Default bounds of the peer messages waiting for the driver (README "Memory"). */
const DEFAULT_MAX_QUEUED_MESSAGES = 20_000;
const DEFAULT_MAX_QUEUED_MESSAGE_BYTES = 64 * 1024 * 1024;

/**
 * The consensus driver: the single writer of consensus state. One queue of inputs (peer
 * messages, ticks, proposal timers, synced decisions); after each batch it drains `ready()`
 * in the order the core demands: hard state and own votes to the WAL and fsync, then send,
 * then execute and store committed blocks, then proposals and sync, then `advance()`.
 */
export class ConsensusDriver {
  private readonly queue: Input[] = [];
  private queuedMessages = 0;
  private queuedMessageBytes = 0;
  private readonly maxQueuedMessages: number;
  private readonly maxQueuedMessageBytes: number;
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private stopping = false;
  private failed = false;
  private tickTimer: Timer | undefined;
  private tickQueued = false;
  private proposalTimer: Timer | undefined;
  private readonly timers: Timers;
  private readonly clock: Clock;
  private readonly committedListeners = new Set<(block: ExecutedBlock) => void>();
  private readonly behindListeners = new Set<(height: number) => void>();
  private pendingProposal: { height: number; view: number; waitingForTxs: boolean } | null = null;
  private lastStats: ConsensusStats;
  private lastHeight = 0;
  private lastView = 0;
  private readonly evidenceLog: EvidenceLog;
  /** The mempool's verdicts from admission, so execution verifies no signature twice. */
  private readonly verdicts: ExecutionOptions;

  constructor(private readonly options: DriverOptions) {
    this.lastStats = options.core.stats();
    this.timers = options.timers ?? systemTimers;
    this.clock = options.clock ?? systemClock;
    this.maxQueuedMessages = options.maxQueuedMessages ?? DEFAULT_MAX_QUEUED_MESSAGES;
    this.maxQueuedMessageBytes = options.maxQueuedMessageBytes ?? DEFAULT_MAX_QUEUED_MESSAGE_BYTES;
    if (options.onCommitted !== undefined) this.committedListeners.add(options.onCommitted);
    if (options.onSyncTo !== undefined) this.behindListeners.add(options.onSyncTo);
    this.evidenceLog = new EvidenceLog(
      options.chain.store.evidence,
      options.maxKeptEvidence ?? 1_000,
    );
    const { mempool } = options;
    this.verdicts = {
      isSignatureValid: (tx, txHash) =>
        mempool.isVerified(txHash) || verifyTransactionSignature(tx),
      isRequestSignatureValid: mempool.isRequestSignatureValid,
    };
  }

  get core(): ConsensusCore {
    return this.options.core;
  }

  get mempool(): Mempool {
    return this.options.mempool;
  }

  get height(): number {
    return this.options.core.currentHeight;
  }

  get view(): number {
    return this.options.core.currentView;
  }

  /**
   * Calls `listener` after each block is executed and stored, in height order; returns the
   * unsubscribe function. A listener that throws is logged and does not stop the driver.
   */
  subscribe(listener: (block: ExecutedBlock) => void): () => void {
    this.committedListeners.add(listener);
    return () => this.committedListeners.delete(listener);
  }

  /** Calls `listener` when the core learns blocks up to a height are final elsewhere (block sync). */
  onBehind(listener: (height: number) => void): () => void {
    this.behindListeners.add(listener);
    return () => this.behindListeners.delete(listener);
  }

  /** The equivocations caught (the API's GET /v1/consensus/evidence), kept across restarts. */
  evidence(): EvidenceList {
    return this.evidenceLog.list();
  }

  start(): void {
    if (this.running !== undefined) return;
    this.running = this.run();
    this.push({ kind: 'wake' });
    this.tickTimer = this.timers.setInterval(() => {
      if (this.tickQueued) return; // a slow drain must not pile up ticks
      this.tickQueued = true;
      this.push({ kind: 'tick' });
    }, this.options.tickIntervalMs);
  }

  /** Stops taking inputs and waits for the batch in progress to be persisted and applied. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.tickTimer?.cancel();
    this.proposalTimer?.cancel();
    this.wake?.();
    await this.running;
    for (const input of this.queue) if (input.kind === 'decisions') input.done();
    this.queue.length = 0;
  }

  /** A consensus frame from a peer (not yet decoded). */
  receive(bytes: Uint8Array): void {
    if (
      this.queuedMessages >= this.maxQueuedMessages ||
      this.queuedMessageBytes + bytes.length > this.maxQueuedMessageBytes
    ) {
      this.options.metrics.consensus.messagesDropped.inc({ reason: 'queue_full' });
      return;
    }
    this.queuedMessages++;
    this.queuedMessageBytes += bytes.length;
    this.push({ kind: 'message', bytes });
  }

  /** Decisions (blocks with certificates) fetched by sync; resolves once they were handled. */
  feedDecisions(messages: readonly Uint8Array[]): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => this.push({ kind: 'decisions', messages, done: resolve }));
  }

  /** The mempool got transactions: a primary waiting to fill a block may propose sooner. */
  transactionsArrived(): void {
    const pending = this.pendingProposal;
    if (pending === null) return;
    const { mempool, block } = this.options;
    if (mempool.size >= block.maxTxs) {
      this.scheduleProposal(0);
    } else if (pending.waitingForTxs && mempool.hasProposable()) {
      pending.waitingForTxs = false;
      this.scheduleProposal(block.batchTimeMs);
    }
  }

  private push(input: Input): void {
    this.queue.push(input);
    const wake = this.wake;
    if (wake !== undefined) {
      this.wake = undefined;
      wake();
    }
  }

  private async run(): Promise<void> {
    // Before the first drain, so new evidence is numbered after what an earlier run kept.
    try {
      await this.evidenceLog.load();
    } catch (error) {
      this.options.logger.warn({ err: error }, 'could not read the kept equivocation evidence');
    }
    while (!this.stopping) {
      if (this.queue.length === 0) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        continue;
      }
      const batch = this.queue.splice(0, INPUTS_PER_DRAIN);
      try {
        for (const input of batch) this.handle(input);
        await this.drain();
      } catch (error) {
        this.fail(error);
      } finally {
        for (const input of batch) if (input.kind === 'decisions') input.done();
      }
    }
  }

  private fail(error: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.stopping = true;
    this.tickTimer?.cancel();
    this.proposalTimer?.cancel();
    this.options.logger.fatal({ err: error }, 'consensus driver stopped');
    this.options.onFatal?.(error);
  }

  private handle(input: Input): void {
    const { core } = this.options;
    switch (input.kind) {
      case 'message':
        this.queuedMessages--;
        this.queuedMessageBytes -= input.bytes.length;
        this.step(input.bytes);
        return;
      case 'decisions':
        for (const bytes of input.messages) this.step(bytes);
        return;
      case 'tick':
        this.tickQueued = false;
        core.tick();
        return;
      case 'propose':
        this.propose();
        return;
      case 'wake':
        return;
    }
  }

  private step(bytes: Uint8Array): void {
    const { metrics } = this.options;
    let value: unknown;
    try {
      value = decodeCanonical(bytes);
    } catch {
      metrics.consensus.messagesReceived.inc({ type: 'undecodable' });
      metrics.consensus.messagesDropped.inc({ reason: 'malformed' });
      return;
    }
    const type = (value as { type?: unknown } | null)?.type;
    metrics.consensus.messagesReceived.inc({
      type: typeof type === 'string' && KNOWN_TYPES.has(type) ? type : 'unknown',
    });
    // The core parses, verifies and counts drops itself; a throw here would be a core bug,
    // and one peer's message must never stop the driver.
    try {
      this.options.core.step(value);
    } catch (error) {
      metrics.consensus.messagesDropped.inc({ reason: 'core_error' });
      this.options.logger.error({ err: error }, 'consensus core threw on a message');
    }
  }

  private propose(): void {
    const { core, chain, mempool, block } = this.options;
    const pending = this.pendingProposal;
    this.pendingProposal = null;
    if (
      pending === null ||
      core.currentHeight !== pending.height ||
      core.currentView !== pending.view
    ) {
      return;
    }
    const txs = mempool.reap(block.maxTxs, block.maxBytes);
    if (txs.length === 0 && pending.view === 0 && !chain.headStateUncertified) {
      // Only transactions behind a nonce gap: nothing for a block, wait for more.
      this.pendingProposal = { ...pending, waitingForTxs: true };
      return;
    }
    const proposal = chain.buildProposal(this.options.selfKey, txs);
    const accepted = core.propose(proposal);
    this.options.logger.debug(
      { height: pending.height, view: pending.view, txs: txs.length, accepted },
      'proposed a block',
    );
  }

  /**
   * The core wants a block. With transactions, or a head state no header carries yet: after
   * the batch time (at once when a block's worth waits). Without, in view 0: no timer at all,
   * the next transaction starts one (`transactionsArrived`). Without, after a view change: an
   * empty block soon, since the replicas wait for this view's proposal.
   */
  private requestProposal(request: { readonly height: number; readonly view: number }): void {
    const { mempool, block, chain } = this.options;
    const waitingForTxs = !mempool.hasProposable() && !chain.headStateUncertified;
    this.pendingProposal = { ...request, waitingForTxs };
    if (mempool.size >= block.maxTxs) this.scheduleProposal(0);
    else if (!waitingForTxs) this.scheduleProposal(block.batchTimeMs);
    else if (request.view > 0) this.scheduleProposal(this.options.emptyBlockDelayMs);
    else this.proposalTimer?.cancel();
  }

  private scheduleProposal(delayMs: number): void {
    this.proposalTimer?.cancel();
    this.proposalTimer = this.timers.setTimeout(() => this.push({ kind: 'propose' }), delayMs);
  }

  /** Works through ready() until the core has nothing more: the shared Ready loop. */
  private async drain(): Promise<void> {
    const { core, chain, mempool, metrics } = this.options;
    await drainReady(core, {
      persist: (ready) => this.persist(ready),
      send: (messages) => {
        for (const out of messages) this.options.send(out.to, encodeMessage(out.message));
      },
      evidence: async (evidence) => {
        for (const item of evidence) await this.recordEvidence(item);
      },
      apply: async (committed) => {
        const executed = await chain.commitBlock(
          committed.proposal.payload,
          committed.certificate,
          this.verdicts,
        );
        mempool.update(executed.block.txs);
        metrics.consensus.commits.inc();
        for (const listener of this.committedListeners) {
          try {
            listener(executed);
          } catch (error) {
            this.options.logger.error({ err: error }, 'a committed-block listener threw');
          }
        }
        return executed.nextValidators === null
          ? { stateRoot: executed.stateRoot }
          : { stateRoot: executed.stateRoot, nextValidators: executed.nextValidators };
      },
      requestProposal: (request) => this.requestProposal(request),
      syncTo: (height) => {
        for (const listener of this.behindListeners) listener(height);
      },
      stableCheckpoint: (checkpoint) =>
        this.options.logger.debug({ height: checkpoint.height }, 'checkpoint became stable'),
    });
    this.updateMetrics();
  }

  /**
   * A validator signed two conflicting statements: checked again on its own (what any third
   * party would run), kept for the API, counted and logged.
   */
  private async recordEvidence(evidence: Equivocation): Promise<void> {
    const { core, chain, metrics, logger } = this.options;
    const verified = verifyEquivocation(
      chain.chainId,
      evidence,
      core.validatorsAt(evidence.height),
      { verify },
    );
    await this.evidenceLog.add({ evidence, verified, recordedAt: this.clock.now() });
    metrics.consensus.equivocations.inc({ phase: evidence.phase });
    logger.warn(
      {
        validator: toHex(evidence.validator),
        height: evidence.height,
        view: evidence.view,
        phase: evidence.phase,
        verified,
      },
      'validator equivocated: it signed two conflicting consensus statements',
    );
  }

  /** Hard state and own votes reach the disk (fsync) before anything is sent. */
  private async persist(ready: Ready): Promise<void> {
    const { wal } = this.options;
    const records: Uint8Array[] = [];
    if (ready.hardState !== null) records.push(encodeHardStateRecord(ready.hardState));
    for (const vote of ready.ownVotes) records.push(encodeOwnVoteRecord(vote));
    if (records.length === 0) return;
    const limit = this.options.walCheckpointBytes ?? 16 * 1024 * 1024;
    if (ready.hardState !== null && wal.sizeBytes > limit) {
      // The newest hard state holds everything a restart needs: start a fresh log with it.
      await wal.checkpoint(records);
      return;
    }
    wal.append(records);
    await wal.sync();
  }

  private updateMetrics(): void {
    const { core, metrics } = this.options;
    const stats = core.stats();
    for (const reason of Object.keys(stats.dropped) as DropReason[]) {
      const delta = stats.dropped[reason] - this.lastStats.dropped[reason];
      if (delta > 0) metrics.consensus.messagesDropped.inc({ reason }, delta);
    }
    this.lastStats = stats;
    // Views count from 0 at each height: a view above the last seen (or any above 0 at a new
    // height) is that many view changes.
    const passed =
      core.currentHeight === this.lastHeight ? core.currentView - this.lastView : core.currentView;
    if (passed > 0) metrics.consensus.viewChanges.inc(passed);
    this.lastHeight = core.currentHeight;
    this.lastView = core.currentView;
    metrics.consensus.height.set(core.currentHeight);
    metrics.consensus.view.set(core.currentView);
    metrics.consensus.validators.set(core.validatorsAt(core.currentHeight).length);
  }
}

const KNOWN_TYPES = new Set([
  'preprepare',
  'prepare',
  'commit',
  'viewchange',
  'newview',
  'checkpoint',
  'decision',
]);

export interface RestoredConsensus {
  readonly core: ConsensusCore;
  /** Where the core resumed: from the WAL, or fresh at height 1. */
  readonly restoredFrom: 'wal' | 'genesis' | 'chain';
  readonly replayedVotes: number;
}

/**
 * Rebuilds the consensus core after a start or a crash: the last hard state in the WAL,
 * reconciled with the block store (a block stored just before the crash is reported applied
 * again), then this node's own PREPARE/COMMIT votes at that height are stepped back in so
 * they count again. The hard state's last votes keep the core from signing a different vote
 * for a height and view it already voted in.
 */
export async function restoreConsensus(
  wal: WalLog,
  chain: Chain,
  config: ConsensusConfig,
  logger: Logger,
): Promise<RestoredConsensus> {
  let hardState: HardState | undefined;
  let votes: SignedMessage[] = [];
  for (const bytes of await wal.replay()) {
    const record = decodeWalRecord(bytes);
    if (record.kind === 'hardState') {
      if (hardState === undefined || record.hardState.height !== hardState.height) votes = [];
      hardState = record.hardState;
    } else if (record.vote !== null) {
      votes.push(record.vote);
    }
  }
  let restoredFrom: RestoredConsensus['restoredFrom'] = 'wal';
  if (hardState === undefined) {
    if (chain.height === 0) {
      const { core } = restoreCore(config, {
        hardState: undefined,
        storedHeight: 0,
        lastApplied: () => ({ stateRoot: chain.stateRoot }),
      });
      return { core, restoredFrom: 'genesis', replayedVotes: 0 };
    }
    // The WAL is gone but blocks are stored: resume after them. Votes signed at the next
    // height before the loss are unknown, so this is logged loudly.
    logger.warn(
      { height: chain.height + 1 },
      'no consensus hard state in the WAL; resuming after the stored chain',
    );
    restoredFrom = 'chain';
    hardState = {
      height: chain.height + 1,
      view: 0,
      viewChanging: false,
      prepared: null,
      preparedPayload: null,
      lastPrepare: null,
      lastCommit: null,
      validatorSets: [{ fromHeight: 1, validators: chain.validators.map((v) => v.publicKey) }],
      stableCheckpoint: null,
    };
  }
  if (hardState.height !== chain.height && hardState.height !== chain.height + 1) {
    throw new NodeError(
      'NODE_WAL_CORRUPT',
      `the WAL is at height ${hardState.height} but the block store ends at ${chain.height}`,
    );
  }
  const { core, replayedVotes } = restoreCore(config, {
    hardState,
    storedHeight: chain.height,
    lastApplied: () => {
      const next = chain.lastNextValidators;
      return next === null
        ? { stateRoot: chain.stateRoot }
        : { stateRoot: chain.stateRoot, nextValidators: next };
    },
    ownVotes: votes,
  });
  return { core, restoredFrom, replayedVotes };
}
