import type { Chain } from '../chain/chain.js';
import type { Database } from '../db/index.js';
import type { Logger } from '../logger.js';
import { protocolId } from '../net/host.js';
import type { PeerDirectory } from '../net/peers.js';
import type { Timers, Transport } from '../shell/ports.js';
import { SYNC_MAX_REQUEST_BYTES, SYNC_MAX_RESPONSE_BYTES } from './block-sync.js';
import { BLOCKS_PROTOCOL } from './block-sync-reactor.js';
import {
  decodeSnapshotRequest,
  SNAPSHOT_MAX_PAGE_BYTES,
  SNAPSHOT_MAX_REQUEST_BYTES,
  StateSyncError,
} from './snapshot-codec.js';
import { SnapshotServer } from './snapshot-server.js';
import { type StateSyncOptions, type StateSyncResult, stateSync } from './state-sync.js';

/** The snapshots protocol: state snapshot offers and pages. */
export const SNAPSHOTS_PROTOCOL = protocolId('snapshots');

function decodeRequest(bytes: Uint8Array) {
  const request = decodeSnapshotRequest(bytes);
  if (request === null) {
    throw new StateSyncError('STATE_SYNC_BAD_REQUEST', 'not a snapshot request');
  }
  return request;
}

export interface StateSyncReactorComponents {
  readonly transport: Transport;
  readonly timers: Timers;
  readonly db: Database;
  readonly chain: Chain;
  readonly peers: PeerDirectory;
  readonly logger: Logger;
}

export interface StateSyncReactor {
  readonly server: SnapshotServer;
  stop(): Promise<void>;
}

/**
 * The state sync reactor's serving side: state snapshots pinned at checkpoint heights,
 * served in pages on the snapshots protocol (released before the database closes).
 */
export async function createStateSyncReactor(
  options: { readonly interval: number },
  components: StateSyncReactorComponents,
): Promise<StateSyncReactor> {
  const { transport, timers, db, chain, peers, logger } = components;
  const server = new SnapshotServer({
    db,
    head: () => chain,
    interval: options.interval,
    logger,
    timers,
  });
  const channel = await transport.requests({
    protocol: SNAPSHOTS_PROTOCOL,
    maxRequestBytes: SNAPSHOT_MAX_REQUEST_BYTES,
    maxResponseBytes: SNAPSHOT_MAX_PAGE_BYTES,
    handle: (_peer, request) => server.serve(decodeRequest(request)),
    allowPeer: (peer) => peers.isMember(peer),
  });
  return {
    server,
    async stop() {
      await channel.close();
      await server.close();
    },
  };
}

/**
 * The state sync reactor's fetching side, for a fresh home: asks the members for a certified
 * snapshot (snapshots protocol) and the blocks that certify it (blocks protocol), and installs
 * it through `install`. Both protocols are held only for the download.
 */
export async function catchUpFromSnapshot(
  options: Pick<StateSyncOptions, 'chainId' | 'install' | 'validators'>,
  components: Omit<StateSyncReactorComponents, 'db' | 'chain'>,
): Promise<StateSyncResult | undefined> {
  const { transport, timers, peers, logger } = components;
  const snapshots = await transport.requests({
    protocol: SNAPSHOTS_PROTOCOL,
    maxRequestBytes: SNAPSHOT_MAX_REQUEST_BYTES,
    maxResponseBytes: SNAPSHOT_MAX_PAGE_BYTES,
  });
  try {
    const blocks = await transport.requests({
      protocol: BLOCKS_PROTOCOL,
      maxRequestBytes: SYNC_MAX_REQUEST_BYTES,
      maxResponseBytes: SYNC_MAX_RESPONSE_BYTES,
    });
    try {
      return await stateSync({
        ...options,
        protocol: snapshots,
        blocks,
        timers,
        peers: () => peers.memberPeers(),
        logger,
      });
    } finally {
      await blocks.close();
    }
  } finally {
    await snapshots.close();
  }
}
