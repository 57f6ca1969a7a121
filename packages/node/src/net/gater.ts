import type { ConnectionGater, PeerId } from '@libp2p/interface';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

/** The peer ids allowed to connect; replaced when the validator set or membership changes. */
export class PeerAllowlist {
  private peers: Set<string>;

  constructor(peerIds: Iterable<string> = []) {
    this.peers = new Set(peerIds);
  }

  has(peerId: string): boolean {
    return this.peers.has(peerId);
  }

  replace(peerIds: Iterable<string>): void {
    this.peers = new Set(peerIds);
  }

  add(peerId: string): void {
    this.peers.add(peerId);
  }

  delete(peerId: string): void {
    this.peers.delete(peerId);
  }

  get size(): number {
    return this.peers.size;
  }
}

/**
 * A connection gater for a private network: dials to, and connections from, any peer id not
 * in the allowlist are refused. Inbound peers are checked right after the Noise handshake
 * proves their id, so a stranger never reaches the muxer or any protocol handler. With
 * `privateNetwork: false` everything is allowed (a public test network).
 */
export function allowlistGater(
  allowlist: PeerAllowlist,
  options: { privateNetwork: boolean; logger?: Logger; metrics?: Metrics },
): ConnectionGater {
  const deny = (stage: string, peerId: PeerId): boolean => {
    if (!options.privateNetwork) return false;
    const id = peerId.toString();
    if (allowlist.has(id)) return false;
    options.metrics?.net.connectionsDenied.inc({ stage });
    options.logger?.warn({ peer: id, stage }, 'connection refused: peer not in the allowlist');
    return true;
  };
  return {
    denyDialPeer: (peerId) => deny('dial', peerId),
    denyInboundEncryptedConnection: (peerId) => deny('inbound', peerId),
    denyOutboundEncryptedConnection: (peerId) => deny('outbound', peerId),
  };
}
