import type { ConsensusConfig, ConsensusSigner } from '@medchain/consensus';
import { toHex, verify } from '@medchain/crypto';
import { MAX_BLOCK_BYTES } from '@medchain/ledger';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { protocolId } from '../net/host.js';
import type { PeerDirectory } from '../net/peers.js';
import type { Clock, MessageChannel, Timers, Transport, WalLog } from '../shell/ports.js';
import type { Chain } from './chain.js';
import { ConsensusDriver, restoreConsensus } from './driver.js';
import type { Mempool } from './mempool.js';

/** The consensus protocol: signed PBFT messages, pushed to validators. */
export const CONSENSUS_PROTOCOL = protocolId('consensus');
/** Largest consensus message: a PRE-PREPARE carries a whole block. */
export const CONSENSUS_MAX_MESSAGE_BYTES = MAX_BLOCK_BYTES + 1024 * 1024;

export interface ConsensusReactorOptions {
  /** Core tuning from genesis.consensus (consensusTuning). */
  readonly checkpointInterval: number;
  readonly baseTimeoutTicks: number;
  readonly maxTimeoutDoublings: number;
  readonly tickIntervalMs: number;
  readonly block: {
    readonly maxTxs: number;
    readonly maxBytes: number;
    readonly batchTimeMs: number;
  };
  /** The WAL is rewritten to the latest hard state past this many bytes. Default 16 MiB. */
  readonly walCheckpointBytes?: number;
  /** Called once if the driver cannot go on (disk, diverged state). */
  readonly onFatal?: (error: unknown) => void;
}

export interface ConsensusReactorComponents {
  readonly transport: Transport;
  readonly timers: Timers;
  readonly clock: Clock;
  readonly wal: WalLog;
  readonly chain: Chain;
  readonly mempool: Mempool;
  readonly signer: ConsensusSigner;
  /** Keys rotated to (the keyring adds to it on reload); the core switches at the set change. */
  readonly rotatedSigners?: readonly ConsensusSigner[];
  readonly peers: PeerDirectory;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export interface ConsensusReactor {
  readonly driver: ConsensusDriver;
  /** Starts the driver's loop and timers. */
  start(): void;
  /** Stops the driver (the batch in progress is persisted and applied) and the protocol. */
  stop(): Promise<void>;
}

/**
 * The consensus reactor: restores the core from the WAL and the block store, owns the
 * consensus protocol (peer messages into the driver, the driver's messages routed to
 * validators by key) and the driver with its tick and proposal timers.
 */
export async function createConsensusReactor(
  options: ConsensusReactorOptions,
  components: ConsensusReactorComponents,
): Promise<ConsensusReactor> {
  const { transport, chain, mempool, signer, peers, logger, metrics } = components;
  const config: ConsensusConfig = {
    chainId: chain.chainId,
    signer,
    ...(components.rotatedSigners === undefined
      ? {}
      : { rotatedSigners: components.rotatedSigners }),
    verifier: { verify },
    application: {
      digestOf: (payload) => chain.digestOf(payload),
      validateProposal: (height, payload) => chain.validateProposal(height, payload),
      // The view timer runs only while a block has something to carry (transactions, or the
      // head's state root, which only the next header certifies): an idle chain is quiet.
      hasPendingWork: () => mempool.hasProposable() || chain.headStateUncertified,
    },
    genesisValidators: chain.validators.map((v) => v.publicKey),
    checkpointInterval: options.checkpointInterval,
    baseTimeoutTicks: options.baseTimeoutTicks,
    maxTimeoutDoublings: options.maxTimeoutDoublings,
  };
  const restored = await restoreConsensus(components.wal, chain, config, logger);
  logger.info(
    {
      from: restored.restoredFrom,
      height: restored.core.currentHeight,
      view: restored.core.currentView,
      storedHeight: chain.height,
      replayedVotes: restored.replayedVotes,
    },
    'consensus core restored',
  );
  let channel: MessageChannel | undefined;
  const selfKey = toHex(signer.publicKey);
  const send = (to: Uint8Array | 'all', bytes: Uint8Array) => {
    if (channel === undefined) return;
    if (to === 'all') {
      for (const [key, peer] of peers.validators()) {
        if (peer !== transport.self && key !== selfKey) channel.send(peer, bytes);
      }
      return;
    }
    const peer = peers.peerOfValidator(to);
    if (peer !== undefined && peer !== transport.self) channel.send(peer, bytes);
  };
  const driver = new ConsensusDriver({
    core: restored.core,
    chain,
    mempool,
    wal: components.wal,
    timers: components.timers,
    clock: components.clock,
    selfKey: signer.publicKey,
    send,
    logger,
    metrics,
    tickIntervalMs: options.tickIntervalMs,
    block: options.block,
    emptyBlockDelayMs: Math.max(
      options.block.batchTimeMs,
      Math.floor((options.baseTimeoutTicks * options.tickIntervalMs) / 4),
    ),
    ...(options.walCheckpointBytes === undefined
      ? {}
      : { walCheckpointBytes: options.walCheckpointBytes }),
    ...(options.onFatal === undefined ? {} : { onFatal: options.onFatal }),
  });
  channel = await transport.messages<Uint8Array>({
    protocol: CONSENSUS_PROTOCOL,
    maxMessageBytes: CONSENSUS_MAX_MESSAGE_BYTES,
    decode: (bytes) => bytes.slice(),
    onMessage: (_peer, bytes) => driver.receive(bytes),
    allowPeer: (peer) => peers.isMember(peer),
  });
  const registered = channel;
  return {
    driver,
    start: () => driver.start(),
    async stop() {
      await driver.stop();
      await registered.close();
    },
  };
}
