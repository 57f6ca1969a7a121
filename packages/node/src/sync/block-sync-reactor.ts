import type { Chain } from '../chain/chain.js';
import type { ConsensusDriver } from '../chain/driver.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { protocolId } from '../net/host.js';
import type { PeerDirectory } from '../net/peers.js';
import type { Timers, Transport } from '../shell/ports.js';
import {
  BlockSync,
  decodeBlocksRequest,
  SYNC_MAX_REQUEST_BYTES,
  SYNC_MAX_RESPONSE_BYTES,
  serveBlocks,
} from './block-sync.js';

/** The blocks protocol: a range of committed blocks with their commit certificates. */
export const BLOCKS_PROTOCOL = protocolId('blocks');

export interface BlockSyncReactorOptions {
  /** Without a new block for this long, peers are asked for blocks above ours. */
  readonly stallIntervalMs: number;
}

export interface BlockSyncReactorComponents {
  readonly transport: Transport;
  readonly timers: Timers;
  readonly chain: Chain;
  readonly driver: Pick<ConsensusDriver, 'feedDecisions' | 'onBehind'>;
  readonly peers: PeerDirectory;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export interface BlockSyncReactor {
  readonly sync: BlockSync;
  /** True while a sync is fetching blocks. */
  readonly syncing: boolean;
  stop(): Promise<void>;
}

/**
 * The block sync reactor: serves stored blocks on the blocks protocol, and fetches them for
 * this node when the driver says it is behind or the stall probe finds the chain stuck.
 */
export async function createBlockSyncReactor(
  options: BlockSyncReactorOptions,
  components: BlockSyncReactorComponents,
): Promise<BlockSyncReactor> {
  const { transport, timers, chain, driver, peers, logger, metrics } = components;
  const channel = await transport.requests({
    protocol: BLOCKS_PROTOCOL,
    maxRequestBytes: SYNC_MAX_REQUEST_BYTES,
    maxResponseBytes: SYNC_MAX_RESPONSE_BYTES,
    handle: async (_peer, request) => serveBlocks(chain, decodeBlocksRequest(request)),
    allowPeer: (peer) => peers.isMember(peer),
  });
  const sync = new BlockSync({
    chain,
    driver,
    protocol: channel,
    timers,
    peers: () => peers.memberPeers(),
    logger,
    metrics,
  });
  const unsubscribe = driver.onBehind((height) => sync.requestUpTo(height));
  sync.watchForStalls(options.stallIntervalMs);
  return {
    sync,
    get syncing() {
      return sync.syncing;
    },
    async stop() {
      unsubscribe();
      await sync.stop();
      await channel.close();
    },
  };
}
