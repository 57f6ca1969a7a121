import type { Connection, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { lpStream } from '@libp2p/utils';
import { NodeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { ProtocolHost } from './framed-protocol.js';
import { assertFrameSize } from './framing.js';

export interface RequestProtocolOptions {
  /** `/medchain/<concern>/1.0.0` */
  protocol: string;
  maxRequestBytes: number;
  maxResponseBytes: number;
  /** Answers one request. A throw aborts the stream: the requester gets NODE_REQUEST_FAILED. */
  handle: (peerId: string, request: Uint8Array, signal: AbortSignal) => Promise<Uint8Array>;
  allowPeer?: (peerId: string) => boolean;
  /** Deadline for one whole exchange, both sides. Default 10 s. */
  timeoutMs?: number;
  /** Concurrent inbound requests per connection. Default 16. */
  maxInboundStreams?: number;
  logger: Logger;
  metrics: Metrics;
}

/**
 * One request, one response per stream, both length-prefixed (lpStream from @libp2p/utils):
 * for the concerns that ask instead of push (block and state sync, record exchange).
 */
export class RequestProtocol {
  private readonly abort = new AbortController();
  private started = false;

  constructor(
    private readonly host: ProtocolHost,
    readonly options: RequestProtocolOptions,
  ) {}

  get protocol(): string {
    return this.options.protocol;
  }

  async start(): Promise<void> {
    await this.host.handle(this.protocol, (stream, connection) => this.serve(stream, connection), {
      maxInboundStreams: this.options.maxInboundStreams ?? 16,
    });
    this.started = true;
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.abort.abort();
    await this.host.unhandle(this.protocol);
  }

  /** Sends `request` to `peerId` and resolves with its response bytes. */
  async request(
    peerId: string,
    request: Uint8Array,
    options: { signal?: AbortSignal } = {},
  ): Promise<Uint8Array> {
    if (!this.started) {
      throw new NodeError('NODE_PROTOCOL_STOPPED', `${this.protocol} is not running`);
    }
    assertFrameSize(request, this.options.maxRequestBytes, this.protocol);
    const signal = this.signal(options.signal);
    const { metrics } = this.options;
    let stream: Stream | undefined;
    try {
      stream = await this.host.dialProtocol(peerIdFromString(peerId), this.protocol, { signal });
      const lp = lpStream(stream, { maxDataLength: this.options.maxResponseBytes });
      await lp.write(request, { signal });
      metrics.net.framesOut.inc({ protocol: this.protocol });
      const response = await lp.read({ signal });
      metrics.net.framesIn.inc({ protocol: this.protocol });
      await stream.close({ signal }).catch(() => undefined);
      return response.subarray();
    } catch (error) {
      stream?.abort(error as Error);
      metrics.net.framesRejected.inc({ protocol: this.protocol, reason: 'request_failed' });
      throw new NodeError(
        'NODE_REQUEST_FAILED',
        `${this.protocol} request to ${peerId} failed: ${(error as Error).message}`,
      );
    }
  }

  private signal(caller: AbortSignal | undefined): AbortSignal {
    const signals = [this.abort.signal, AbortSignal.timeout(this.options.timeoutMs ?? 10_000)];
    if (caller !== undefined) signals.push(caller);
    return AbortSignal.any(signals);
  }

  private async serve(stream: Stream, connection: Connection): Promise<void> {
    const peerId = connection.remotePeer.toString();
    const { metrics, logger } = this.options;
    const reject = (reason: string, error?: unknown) => {
      metrics.net.framesRejected.inc({ protocol: this.protocol, reason });
      logger.debug(
        { protocol: this.protocol, peer: peerId, reason, err: error },
        'request refused',
      );
    };
    if (this.options.allowPeer !== undefined && !this.options.allowPeer(peerId)) {
      reject('not_allowed');
      stream.abort(new Error('peer not allowed on this protocol'));
      return;
    }
    const signal = this.signal(undefined);
    const lp = lpStream(stream, { maxDataLength: this.options.maxRequestBytes });
    let request: Uint8Array;
    try {
      request = (await lp.read({ signal })).subarray();
    } catch (error) {
      reject((error as Error).name === 'InvalidDataLengthError' ? 'oversize' : 'framing', error);
      stream.abort(error as Error);
      return;
    }
    metrics.net.framesIn.inc({ protocol: this.protocol });
    try {
      const response = await this.options.handle(peerId, request, signal);
      assertFrameSize(response, this.options.maxResponseBytes, this.protocol);
      await lp.write(response, { signal });
      metrics.net.framesOut.inc({ protocol: this.protocol });
      await stream.close({ signal });
    } catch (error) {
      reject('handler', error);
      stream.abort(error as Error);
    }
  }
}
