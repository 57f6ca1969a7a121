import type { Libp2p } from '@libp2p/interface';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type {
  MessageChannel,
  MessageChannelSpec,
  PeerEvent,
  PeerId,
  RequestChannel,
  RequestChannelSpec,
  Transport,
} from '../shell/ports.js';
import { FramedProtocol } from './framed-protocol.js';
import { RequestProtocol } from './request-protocol.js';

/** What the adapter uses of a libp2p node (a started Libp2p satisfies it). */
export type TransportHost = Pick<
  Libp2p,
  'handle' | 'unhandle' | 'dialProtocol' | 'getPeers' | 'addEventListener' | 'removeEventListener'
> & { readonly peerId: { toString(): string } };

export interface Libp2pTransportOptions {
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * The shipped Transport: message protocols are FramedProtocols (one long-lived outbound
 * stream per peer, backpressure, idle and partial-frame timeouts), request protocols are
 * RequestProtocols (one stream per exchange). Who may connect at all is the host's
 * allowlist gater.
 */
export class Libp2pTransport implements Transport {
  readonly self: PeerId;

  constructor(
    private readonly host: TransportHost,
    private readonly options: Libp2pTransportOptions,
  ) {
    this.self = host.peerId.toString();
  }

  async messages<T>(spec: MessageChannelSpec<T>): Promise<MessageChannel> {
    const protocol = new FramedProtocol<T>(this.host, {
      protocol: spec.protocol,
      maxFrameBytes: spec.maxMessageBytes,
      decode: spec.decode,
      onMessage: spec.onMessage,
      ...(spec.allowPeer === undefined ? {} : { allowPeer: spec.allowPeer }),
      logger: this.options.logger,
      metrics: this.options.metrics,
    });
    await protocol.start();
    return {
      protocol: spec.protocol,
      send: (peer, bytes) => protocol.send(peer, bytes),
      forget: (peer) => protocol.forget(peer),
      close: () => protocol.stop(),
    };
  }

  async requests(spec: RequestChannelSpec): Promise<RequestChannel> {
    const protocol = new RequestProtocol(this.host, {
      protocol: spec.protocol,
      maxRequestBytes: spec.maxRequestBytes,
      maxResponseBytes: spec.maxResponseBytes,
      // A protocol this node only asks on refuses every request it is sent.
      handle:
        spec.handle ??
        (() => Promise.reject(new Error(`${spec.protocol}: this node does not serve it`))),
      ...(spec.allowPeer === undefined ? {} : { allowPeer: spec.allowPeer }),
      ...(spec.timeoutMs === undefined ? {} : { timeoutMs: spec.timeoutMs }),
      ...(spec.maxConcurrentRequests === undefined
        ? {}
        : { maxInboundStreams: spec.maxConcurrentRequests }),
      logger: this.options.logger,
      metrics: this.options.metrics,
    });
    await protocol.start();
    return {
      protocol: spec.protocol,
      request: (peer, request, options) => protocol.request(peer, request, options),
      close: () => protocol.stop(),
    };
  }

  connectedPeers(): PeerId[] {
    return this.host.getPeers().map((peer) => peer.toString());
  }

  onPeer(listener: (event: PeerEvent) => void): () => void {
    const connect = (event: CustomEvent<{ toString(): string }>) =>
      listener({ peer: event.detail.toString(), type: 'connect' });
    const disconnect = (event: CustomEvent<{ toString(): string }>) =>
      listener({ peer: event.detail.toString(), type: 'disconnect' });
    this.host.addEventListener('peer:connect', connect);
    this.host.addEventListener('peer:disconnect', disconnect);
    return () => {
      this.host.removeEventListener('peer:connect', connect);
      this.host.removeEventListener('peer:disconnect', disconnect);
    };
  }
}
