import type { Connection, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { lpStream } from '@libp2p/utils';
import { NodeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { type ProtocolHost, trackInboundStream, whenClosed } from './framed-protocol.js';
import { assertFrameSize, StreamTimeoutError, varintLength } from './framing.js';

export interface RequestProtocolOptions {
  /** `/medchain/<concern>/1.0.0` */
  protocol: string;
  maxRequestBytes: number;
  maxResponseBytes: number;
  /** Answers one request. A throw aborts the stream: the requester gets NODE_REQUEST_FAILED. */
  handle: (peerId: string, request: Uint8Array, signal: AbortSignal) => Promise<Uint8Array>;
  allowPeer?: (peerId: string) => boolean;
  /**
   * Deadline for one whole exchange, both sides, until the stream is closed both ways; past
   * it the stream is aborted (the server counts timeout `deadline`). Default 10 s.
   */
  timeoutMs?: number;
  /** Concurrent inbound requests per connection. Default 16. */
  maxInboundStreams?: number;
  logger: Logger;
  metrics: Metrics;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** `promise`, or a rejection with the signal's reason once `signal` fires. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * lpStream reading messages of up to `maxBytes`. Its read buffer (4 MiB by default) must hold
 * a whole message with its prefix, or any larger response overflows and the stream is aborted.
 */
function lpFor(stream: Stream, maxBytes: number) {
  return lpStream(stream, {
    maxDataLength: maxBytes,
    maxBufferSize: Math.max(maxBytes + varintLength(maxBytes), 4 * 1024 * 1024),
  });
}

/**
 * One request, one response per stream, both length-prefixed (lpStream from @libp2p/utils):
 * for the concerns that ask instead of push (block and state sync, record exchange). The
 * requester closes its end after the request, the server after the response; every stream
 * is closed both ways or aborted by the deadline, so neither side can be left holding one.
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
      const lp = lpFor(stream, this.options.maxResponseBytes);
      await lp.write(request, { signal });
      metrics.net.framesOut.inc({ protocol: this.protocol });
      await stream.close({ signal });
      const response = await lp.read({ signal });
      metrics.net.framesIn.inc({ protocol: this.protocol });
      // The answer is here; a server that never closes its end is cut at the deadline,
      // without holding the caller up.
      const open = stream;
      whenClosed(open, signal).catch((error: unknown) => open.abort(error as Error));
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
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const signals = [this.abort.signal, AbortSignal.timeout(timeoutMs)];
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
    if (!trackInboundStream(stream, this.protocol, metrics)) return;
    const signal = this.signal(undefined);
    /** Aborts the stream, counting a deadline apart from the peer's or the handler's fault. */
    const fail = (reason: string, error: unknown) => {
      if (signal.aborted && !this.abort.signal.aborted) {
        metrics.net.streamTimeouts.inc({ protocol: this.protocol, reason: 'deadline' });
        logger.debug({ protocol: this.protocol, peer: peerId, reason }, 'request deadline passed');
        const timeoutMs = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
        stream.abort(
          new StreamTimeoutError(`${this.protocol}: exchange not done within ${timeoutMs} ms`),
        );
      } else {
        reject(reason, error);
        stream.abort(error as Error);
      }
    };
    const lp = lpFor(stream, this.options.maxRequestBytes);
    let request: Uint8Array;
    try {
      request = (await lp.read({ signal })).subarray();
    } catch (error) {
      fail((error as Error).name === 'InvalidDataLengthError' ? 'oversize' : 'framing', error);
      return;
    }
    metrics.net.framesIn.inc({ protocol: this.protocol });
    let response: Uint8Array;
    try {
      // Raced with the deadline: a handler that ignores its signal cannot hold the stream.
      response = await untilAborted(this.options.handle(peerId, request, signal), signal);
      assertFrameSize(response, this.options.maxResponseBytes, this.protocol);
    } catch (error) {
      fail('handler', error);
      return;
    }
    try {
      await lp.write(response, { signal });
      metrics.net.framesOut.inc({ protocol: this.protocol });
      await stream.close({ signal });
      // Free once the requester closes its end too (it already has, unless it misbehaves).
      await whenClosed(stream, signal);
    } catch (error) {
      fail('response', error);
    }
  }
}
