import type { ConsensusSigner } from '@medchain/consensus';
import type { GenesisDocument } from '@medchain/ledger';
import { Chain } from '../chain/chain.js';
import { createConsensusReactor } from '../chain/consensus-reactor.js';
import type { ConsensusDriver } from '../chain/driver.js';
import { Mempool, type MempoolOptions } from '../chain/mempool.js';
import { createMempoolReactor, type MempoolReactor } from '../chain/mempool-reactor.js';
import { Database } from '../db/index.js';
import { type Logger, moduleLogger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { MembershipGate } from '../net/membership.js';
import { PeerDirectory } from '../net/peers.js';
import type { BlockSync } from '../sync/block-sync.js';
import { createBlockSyncReactor } from '../sync/block-sync-reactor.js';
import {
  catchUpFromSnapshot,
  createStateSyncReactor,
  type StateSyncReactor,
} from '../sync/state-sync-reactor.js';
import type { ShellPorts } from './ports.js';

/** Consensus tuning from genesis.consensus (integers), with the core's defaults otherwise. */
export function consensusTuning(genesis: GenesisDocument) {
  const value = (name: string): number | undefined => genesis.consensus[name];
  return {
    checkpointInterval: value('checkpointInterval') ?? 100,
    baseTimeoutTicks: value('baseTimeoutTicks') ?? 10,
    maxTimeoutDoublings: value('maxTimeoutDoublings') ?? 5,
  };
}

export interface ShellOptions {
  readonly genesis: GenesisDocument;
  /** The validator key consensus signs with (and the proposer of its blocks). */
  readonly signer: ConsensusSigner;
  /** Keys rotated to; the core switches at the set change (may grow in place). */
  readonly rotatedSigners?: readonly ConsensusSigner[];
  /** Mempool admission limits (`mempool.*` in config.json). */
  readonly mempool: Pick<
    MempoolOptions,
    'maxTxs' | 'maxBytes' | 'maxTxBytes' | 'maxPerSigner' | 'maxPerAddress' | 'futureNonceTtlMs'
  >;
  readonly block: {
    readonly maxTxs: number;
    readonly maxBytes: number;
    readonly batchTimeMs: number;
  };
  readonly tickIntervalMs: number;
  /** A fresh store first tries to take a peer's certified state. Default true. */
  readonly stateSync?: boolean;
  /** Bytes of state the state store keeps in memory (config memory.stateCacheBytes). Default 16 MiB. */
  readonly stateCacheBytes?: number;
  /** The WAL is rewritten past this many bytes. Default 16 MiB. */
  readonly walCheckpointBytes?: number;
  /** Called once if consensus cannot go on (disk, diverged state). */
  readonly onFatal?: (error: unknown) => void;
  /**
   * Applies the member set to the network (the libp2p allowlist and hang-ups). Default: every
   * member allowed, nothing to apply (a transport that has no gate of its own).
   */
  readonly gate?: Pick<MembershipGate, 'allowed' | 'apply'>;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** The node's replicated core, built over the ports: what the simulation runs as a node. */
export interface Shell {
  readonly db: Database;
  readonly chain: Chain;
  readonly mempool: Mempool;
  readonly driver: ConsensusDriver;
  /** API admission: the mempool, gossip and the proposal timer. */
  readonly mempoolReactor: MempoolReactor;
  readonly blockSync: BlockSync;
  readonly stateSync: StateSyncReactor;
  readonly peers: PeerDirectory;
  /** Stops the reactors in reverse build order (the ports are the caller's to close). */
  stop(): Promise<void>;
}

/** Every member but this node itself (the directory's peers never include it); nothing to apply. */
function openGate(self: string): Pick<MembershipGate, 'allowed' | 'apply'> {
  return {
    allowed: (members) => {
      const ids = new Set(members);
      ids.delete(self);
      return ids;
    },
    apply: async () => [],
  };
}

/**
 * Builds the shell over `ports`, in order: the chain on the key-value store, the member
 * directory, state sync for a fresh store, the mempool, then the reactors (consensus,
 * mempool, block sync, state sync), and starts consensus. A failure stops what was built.
 */
export async function createShell(options: ShellOptions, ports: ShellPorts): Promise<Shell> {
  const { genesis, logger, metrics } = options;
  const { transport, timers, clock, storage } = ports;
  const stops: Array<() => Promise<void> | void> = [];
  const stop = async () => {
    for (const close of stops.splice(0).reverse()) {
      try {
        await close();
      } catch (error) {
        logger.error({ err: error }, 'error while stopping the shell');
      }
    }
  };
  try {
    const db = new Database(storage.kv, { logger: moduleLogger(logger, 'db'), metrics });
    const openChain = () =>
      Chain.open({
        db,
        genesis,
        logger: moduleLogger(logger, 'node'),
        metrics,
        now: clock.now,
        ...(options.stateCacheBytes === undefined
          ? {}
          : { stateCacheBytes: options.stateCacheBytes }),
      });
    let chain = await openChain();
    const fresh = chain.height === 0 && (await storage.wal.replay()).length === 0;
    const peers = new PeerDirectory(options.gate ?? openGate(transport.self), chain);
    await peers.refresh();

    const tuning = consensusTuning(genesis);
    const syncLog = moduleLogger(logger, 'sync');
    if (fresh && options.stateSync !== false) {
      const synced = await catchUpFromSnapshot(
        {
          chainId: genesis.chainId,
          install: (snapshot) => Chain.installSnapshot(db, snapshot),
          validators: chain.validators,
        },
        { transport, timers, peers, logger: syncLog },
      );
      if (synced !== undefined) {
        chain = await openChain();
        await peers.refresh(chain);
      }
    }
    const head = chain;

    const mempool = new Mempool({
      chainId: genesis.chainId,
      ...options.mempool,
      head,
      clock,
      metrics,
    });
    head.usePool(mempool);
    const consensus = await createConsensusReactor(
      {
        ...tuning,
        tickIntervalMs: options.tickIntervalMs,
        block: options.block,
        ...(options.walCheckpointBytes === undefined
          ? {}
          : { walCheckpointBytes: options.walCheckpointBytes }),
        ...(options.onFatal === undefined ? {} : { onFatal: options.onFatal }),
      },
      {
        transport,
        timers,
        clock,
        wal: storage.wal,
        chain: head,
        mempool,
        signer: options.signer,
        ...(options.rotatedSigners === undefined ? {} : { rotatedSigners: options.rotatedSigners }),
        peers,
        logger: moduleLogger(logger, 'consensus'),
        metrics,
      },
    );
    stops.push(() => consensus.stop());
    const driver = consensus.driver;
    // A committed membership change re-reads the members (and cuts a removed one off).
    stops.push(
      driver.subscribe((executed) => {
        if (executed.nextValidators !== null) void peers.refresh();
      }),
    );
    const stallIntervalMs = 2 * tuning.baseTimeoutTicks * options.tickIntervalMs;
    const mempoolReactor = await createMempoolReactor(
      { regossipIntervalMs: stallIntervalMs },
      { transport, timers, mempool, chain: head, consensus: driver, peers, metrics },
    );
    stops.push(() => mempoolReactor.stop());
    const blockSync = await createBlockSyncReactor(
      { stallIntervalMs },
      { transport, timers, chain: head, driver, peers, logger: syncLog, metrics },
    );
    stops.push(() => blockSync.stop());
    const stateSync = await createStateSyncReactor(
      { interval: tuning.checkpointInterval },
      { transport, timers, db, chain: head, peers, logger: syncLog },
    );
    stops.push(() => stateSync.stop());
    consensus.start();
    return {
      db,
      chain: head,
      mempool,
      driver,
      mempoolReactor,
      blockSync: blockSync.sync,
      stateSync,
      peers,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
