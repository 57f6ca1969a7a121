import type { SeededRandom } from '@medchain/crypto';
import {
  type MessageChannel,
  type MessageChannelSpec,
  NodeError,
  type PeerEvent,
  type PeerId,
  type RequestChannel,
  type RequestChannelSpec,
  type Transport,
} from '../../src/index.js';
import type { Incarnation, SimTimers } from './clock.js';
import type { Scheduler } from './scheduler.js';

/** The network's faults now; the simulation changes them between phases. */
export interface LinkFaults {
  /** Per message (and per request and response). */
  lossRate: number;
  duplicateRate: number;
  /** One-way delay, uniform in [low, high] ms. */
  delay: readonly [number, number];
  /** Nodes on one side of a cut; null when the network is whole. */
  partition: ReadonlySet<number> | null;
}

/** Everything a node put on the wire, before the network lost or copied any of it. */
export type WireTap = (from: number, to: number, protocol: string, bytes: Uint8Array) => void;

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

interface Endpoint {
  readonly index: number;
  readonly peer: PeerId;
  transport: SimTransport | null;
}

/**
 * The links between simulated nodes. Every message and request crosses it as bytes, with
 * loss, duplication, delay and partitions drawn from the run's seed. Over one healthy link
 * messages arrive in send order, as the Transport contract promises (libp2p streams do);
 * loss and duplication still happen per message.
 */
export class SimNetwork {
  readonly faults: LinkFaults = { lossRate: 0, duplicateRate: 0, delay: [1, 5], partition: null };
  private readonly endpoints: Endpoint[] = [];
  private readonly byPeer = new Map<PeerId, Endpoint>();
  /** Time the last message on each link (from:to) is due, to keep links in order. */
  private readonly linkClock = new Map<string, number>();
  /** Who each node saw connected at the last refresh (for connect/disconnect events). */
  private connected: Set<number>[] = [];
  delivered = 0;
  dropped = 0;
  /** Messages and requests a node addressed to itself (its peer lists should never hold it). */
  toSelf = 0;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: SeededRandom,
    private readonly tap: WireTap,
  ) {}

  addNode(peer: PeerId): number {
    const index = this.endpoints.length;
    const endpoint: Endpoint = { index, peer, transport: null };
    this.endpoints.push(endpoint);
    this.byPeer.set(peer, endpoint);
    this.connected.push(new Set());
    return index;
  }

  peerOf(index: number): PeerId {
    return this.endpoints[index]!.peer;
  }

  /** The Transport port of a new incarnation of node `index`. */
  attach(index: number, life: Incarnation, timers: SimTimers): Transport {
    const endpoint = this.endpoints[index]!;
    const transport = new SimTransport(this, endpoint.peer, index, life, timers);
    endpoint.transport = transport;
    this.refresh();
    return transport;
  }

  /** Node `index` crashed: its links go down. */
  detach(index: number): void {
    this.endpoints[index]!.transport = null;
    this.refresh();
  }

  setPartition(partition: ReadonlySet<number> | null): void {
    this.faults.partition = partition;
    this.refresh();
  }

  reachable(from: number, to: number): boolean {
    const cut = this.faults.partition;
    return cut === null || cut.has(from) === cut.has(to);
  }

  private live(index: number): SimTransport | null {
    const transport = this.endpoints[index]?.transport;
    return transport?.life.alive ? transport : null;
  }

  connectedPeers(index: number): PeerId[] {
    if (this.live(index) === null) return [];
    return this.endpoints
      .filter((other) => other.index !== index && this.live(other.index) !== null)
      .filter((other) => this.reachable(index, other.index))
      .map((other) => other.peer);
  }

  /** Recomputes who is connected to whom and tells listeners what changed (asynchronously). */
  private refresh(): void {
    this.endpoints.forEach((_endpoint, index) => {
      const now = new Set(this.connectedPeers(index).map((peer) => this.byPeer.get(peer)!.index));
      const before = this.connected[index]!;
      this.connected[index] = now;
      const transport = this.live(index);
      if (transport === null) return;
      const events: PeerEvent[] = [];
      for (const other of now) {
        if (!before.has(other)) events.push({ peer: this.peerOf(other), type: 'connect' });
      }
      for (const other of before) {
        if (!now.has(other)) events.push({ peer: this.peerOf(other), type: 'disconnect' });
      }
      if (events.length > 0) this.scheduler.after(0, () => transport.emit(events));
    });
  }

  /**
   * Puts `bytes` on the link from -> to: maybe lost, maybe twice, after a delay, never ahead
   * of an earlier message on the same link. `arrive` runs at the far end if it is still up
   * and reachable then.
   */
  transmit(
    from: number,
    to: number,
    arrive: (receiver: SimTransport) => void,
    /** Runs instead when the far end is down on arrival (a request's connection is refused). */
    down?: () => void,
  ): void {
    if (!this.reachable(from, to) || this.live(from) === null) {
      this.dropped++;
      return;
    }
    const { lossRate, duplicateRate, delay } = this.faults;
    if (this.random.chance(lossRate)) {
      this.dropped++;
      return;
    }
    const copies = this.random.chance(duplicateRate) ? 2 : 1;
    const link = `${from}:${to}`;
    for (let i = 0; i < copies; i++) {
      const due = Math.max(
        this.scheduler.now + delay[0] + this.random.float() * (delay[1] - delay[0]),
        this.linkClock.get(link) ?? 0,
      );
      this.linkClock.set(link, due);
      this.scheduler.at(due, () => {
        const receiver = this.live(to);
        if (receiver === null || !this.reachable(from, to)) {
          this.dropped++;
          if (receiver === null && this.reachable(from, to)) down?.();
          return;
        }
        this.delivered++;
        arrive(receiver);
      });
    }
  }

  wire(from: number, to: number, protocol: string, bytes: Uint8Array): void {
    this.tap(from, to, protocol, bytes);
  }

  indexOf(peer: PeerId): number | undefined {
    return this.byPeer.get(peer)?.index;
  }
}

interface Registered<T> {
  readonly spec: MessageChannelSpec<T>;
  closed: boolean;
}

interface RegisteredRequests {
  readonly spec: RequestChannelSpec;
  closed: boolean;
}

/** One incarnation's Transport port. */
export class SimTransport implements Transport {
  private readonly messageProtocols = new Map<string, Registered<unknown>>();
  private readonly requestProtocols = new Map<string, RegisteredRequests>();
  private readonly listeners = new Set<(event: PeerEvent) => void>();

  constructor(
    private readonly network: SimNetwork,
    readonly self: PeerId,
    readonly index: number,
    readonly life: Incarnation,
    private readonly timers: SimTimers,
  ) {}

  async messages<T>(spec: MessageChannelSpec<T>): Promise<MessageChannel> {
    const registered: Registered<T> = { spec, closed: false };
    this.messageProtocols.set(spec.protocol, registered as Registered<unknown>);
    return {
      protocol: spec.protocol,
      send: (peer, bytes) => {
        if (registered.closed) {
          throw new NodeError('NODE_PROTOCOL_STOPPED', `${spec.protocol} is closed`);
        }
        if (bytes.length === 0) throw new NodeError('NODE_FRAME_EMPTY', 'empty message');
        if (bytes.length > spec.maxMessageBytes) {
          throw new NodeError('NODE_FRAME_TOO_LARGE', `${bytes.length} bytes`);
        }
        const to = this.network.indexOf(peer);
        if (to === this.index) this.network.toSelf++;
        if (to === undefined || to === this.index || !this.life.alive) return true;
        const copy = bytes.slice();
        this.network.wire(this.index, to, spec.protocol, copy);
        this.network.transmit(this.index, to, (receiver) =>
          receiver.receive(this.self, spec.protocol, copy),
        );
        return true;
      },
      forget: () => undefined,
      close: async () => {
        registered.closed = true;
      },
    };
  }

  async requests(spec: RequestChannelSpec): Promise<RequestChannel> {
    const registered: RegisteredRequests = { spec, closed: false };
    this.requestProtocols.set(spec.protocol, registered);
    return {
      protocol: spec.protocol,
      request: (peer, request, options = {}) =>
        this.request(registered, peer, request, options.signal),
      close: async () => {
        registered.closed = true;
      },
    };
  }

  connectedPeers(): PeerId[] {
    return this.network.connectedPeers(this.index);
  }

  onPeer(listener: (event: PeerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(events: readonly PeerEvent[]): void {
    if (!this.life.alive) return;
    for (const event of events) for (const listener of [...this.listeners]) listener(event);
  }

  /** A message arrived: admission, decode, handler; a throw drops it, never the channel. */
  receive(from: PeerId, protocol: string, bytes: Uint8Array): void {
    const registered = this.messageProtocols.get(protocol);
    if (registered === undefined || registered.closed) return;
    const { spec } = registered;
    if (spec.allowPeer !== undefined && !spec.allowPeer(from)) return;
    if (bytes.length > spec.maxMessageBytes) return;
    let value: unknown;
    try {
      value = spec.decode(bytes);
    } catch {
      return;
    }
    try {
      spec.onMessage(from, value);
    } catch {
      // counted and logged by the real transport; the channel goes on
    }
  }

  private request(
    registered: RegisteredRequests,
    peer: PeerId,
    request: Uint8Array,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array> {
    const { spec } = registered;
    const to = this.network.indexOf(peer);
    return new Promise<Uint8Array>((resolve, reject) => {
      let settled = false;
      const fail = (why: string) => {
        if (settled) return;
        settled = true;
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
        reject(new NodeError('NODE_REQUEST_FAILED', `${spec.protocol} request to ${peer}: ${why}`));
      };
      const onAbort = () => fail('aborted');
      const timer = this.timers.setTimeout(
        () => fail('timed out'),
        spec.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      );
      if (signal?.aborted) {
        fail('aborted');
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      if (to === this.index) this.network.toSelf++;
      if (registered.closed || to === undefined || to === this.index) {
        fail('unreachable');
        return;
      }
      if (request.length > spec.maxRequestBytes) {
        fail('request too large');
        return;
      }
      const copy = request.slice();
      this.network.wire(this.index, to, spec.protocol, copy);
      this.network.transmit(
        this.index,
        to,
        (server) => {
          server.serve(this.self, spec.protocol, copy).then(
            (response) => {
              if (response === undefined) {
                this.network.transmit(to, this.index, () => fail('refused'));
                return;
              }
              this.network.transmit(to, this.index, () => {
                if (!this.life.alive || settled) return;
                if (response.length > spec.maxResponseBytes) {
                  fail('response too large');
                  return;
                }
                settled = true;
                timer.cancel();
                signal?.removeEventListener('abort', onAbort);
                resolve(response);
              });
            },
            () => this.network.transmit(to, this.index, () => fail('handler failed')),
          );
        },
        // The peer's process is down: its host refuses the connection.
        () => this.timers.setTimeout(() => fail('connection refused'), 1),
      );
    });
  }

  /** Answers a request, or undefined when this node does not serve the protocol or the peer. */
  async serve(
    from: PeerId,
    protocol: string,
    request: Uint8Array,
  ): Promise<Uint8Array | undefined> {
    const registered = this.requestProtocols.get(protocol);
    if (registered === undefined || registered.closed) return undefined;
    const { spec } = registered;
    if (spec.handle === undefined) return undefined;
    if (spec.allowPeer !== undefined && !spec.allowPeer(from)) return undefined;
    if (request.length > spec.maxRequestBytes) return undefined;
    const response = await spec.handle(from, request, new AbortController().signal);
    return response.slice();
  }
}
