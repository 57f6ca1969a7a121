import '../polyfill.js';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import type { ConnectionEncrypter, Libp2p, PrivateKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import type { PeerConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { allowlistGater, PeerAllowlist } from './gater.js';

/** Protocol id of one concern: `/medchain/<concern>/1.0.0`. */
export function protocolId(
  concern: 'consensus' | 'mempool' | 'blocks' | 'snapshots' | 'records',
): string {
  return `/medchain/${concern}/1.0.0`;
}

export interface HostOptions {
  privateKey: PrivateKey;
  /** Listen multiaddrs, e.g. `/ip4/127.0.0.1/tcp/0`. */
  listen: string[];
  /** Consortium members: their addresses go to the peer store, their ids to the allowlist. */
  peers: PeerConfig[];
  /** When true only `peers` (plus `allowlist` additions) may connect. */
  privateNetwork: boolean;
  logger: Logger;
  metrics: Metrics;
  /** Shared allowlist, so membership changes can update it later; built from `peers` if omitted. */
  allowlist?: PeerAllowlist;
}

export interface Host {
  libp2p: Libp2p;
  allowlist: PeerAllowlist;
  peerId: string;
  stop(): Promise<void>;
}

/**
 * Noise without its early muxer negotiation. With it, the dialer finishes the handshake first
 * and holds an open, multiplexed connection before the listener's gater has seen its peer id;
 * a refused stranger (or a removed member) would appear connected until the hang-up arrives.
 * Negotiating the muxer afterwards costs one round trip per connection and makes the dialer
 * wait for the listener's consent.
 */
function noiseMuxerAfterGate(): (
  components: Parameters<ReturnType<typeof noise>>[0],
) => ConnectionEncrypter {
  const create = noise();
  return (components) => {
    const encrypter = create(components);
    return {
      protocol: encrypter.protocol,
      secureInbound: (connection, options) =>
        encrypter.secureInbound(connection, { ...options, skipStreamMuxerNegotiation: true }),
      secureOutbound: (connection, options) =>
        encrypter.secureOutbound(connection, { ...options, skipStreamMuxerNegotiation: true }),
    };
  };
}

/**
 * A started libp2p node: TCP, Noise, Yamux, no discovery (members are configured), and the
 * allowlist gater. Framed protocols are registered on it afterwards.
 */
export async function createHost(options: HostOptions): Promise<Host> {
  const allowlist = options.allowlist ?? new PeerAllowlist();
  for (const peer of options.peers) allowlist.add(peer.peerId);
  const libp2p = await createLibp2p({
    privateKey: options.privateKey,
    addresses: { listen: options.listen },
    transports: [tcp()],
    connectionEncrypters: [noiseMuxerAfterGate()],
    streamMuxers: [yamux()],
    connectionGater: allowlistGater(allowlist, {
      privateNetwork: options.privateNetwork,
      logger: options.logger,
      metrics: options.metrics,
    }),
  });
  for (const peer of options.peers) {
    await libp2p.peerStore.merge(peerIdFromString(peer.peerId), {
      multiaddrs: peer.addrs.map((addr) => multiaddr(addr)),
    });
  }
  const updatePeers = () => options.metrics.net.peers.set(libp2p.getPeers().length);
  libp2p.addEventListener('peer:connect', updatePeers);
  libp2p.addEventListener('peer:disconnect', updatePeers);
  const peerId = libp2p.peerId.toString();
  options.logger.info(
    { peerId, listen: libp2p.getMultiaddrs().map((addr) => addr.toString()) },
    'libp2p host started',
  );
  return {
    libp2p,
    allowlist,
    peerId,
    async stop() {
      libp2p.removeEventListener('peer:connect', updatePeers);
      libp2p.removeEventListener('peer:disconnect', updatePeers);
      await libp2p.stop();
      options.metrics.net.peers.set(0);
    },
  };
}
