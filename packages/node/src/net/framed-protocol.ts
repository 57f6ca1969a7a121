import { setTimeout as sleep } from 'node:timers/promises';
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { NodeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { assertFrameSize, encodeFrame, FrameDecoder, StreamTimeoutError } from './framing.js';

/** What a framed protocol needs from the libp2p node (a Libp2p instance satisfies it). */
export type ProtocolHost = Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>;

export interface FramedProtocolOptions<T> {
  /** `/medchain/<concern>/1.0.0` */
  protocol: string;
  /** Largest frame payload accepted or sent; a bigger one closes the inbound stream. */
  maxFrameBytes: number;
  /** Turns frame bytes into a message; a throw counts as a rejected frame (reason `decode`). */
  decode: (bytes: Uint8Array) => T;
  /** Receives each decoded message; a throw is counted (reason `handler`) and logged. */
  onMessage: (peerId: string, message: T) => void;
  /** Extra per-protocol admission (e.g. validators only); refused streams are aborted. */
  allowPeer?: (peerId: string) => boolean;
  /** Frames waiting per peer before new ones are dropped (reason `queue_full`). Default 10,000. */
  maxQueuedFrames?: number;
  /** Bytes waiting per peer before new frames are dropped (reason `queue_full`). Default 64 MiB. */
  maxQueuedBytes?: number;
  /** Reconnect backoff for the long-lived outbound stream. Default 50 ms doubling to 5 s. */
  reconnect?: { minDelayMs: number; maxDelayMs: number };
  /** Concurrent inbound streams per connection. Default 8. */
  maxInboundStreams?: number;
  /**
   * An inbound stream that delivers no byte for this long is aborted (timeout `idle`), so a
   * silent peer cannot hold a stream slot. Outbound links close themselves after half of it
   * without frames, so a quiet honest link is never cut. Default 60 s.
   */
  idleTimeoutMs?: number;
  /**
   * A frame that has started must complete within this long of the previous one (timeout
   * `partial_frame`), so a peer trickling half a frame cannot hold a slot either. Default 30 s.
   */
  frameTimeoutMs?: number;
  logger: Logger;
  metrics: Metrics;
}

const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
const DEFAULT_FRAME_TIMEOUT_MS = 30_000;

/**
 * Counts an inbound `stream` in `medchain_protocol_inbound_streams` until it closes, then runs
 * `onRelease` once. libp2p frees the stream's per-connection slot on that same 'close' event,
 * which needs both write ends closed (or a reset or abort): a handler that never closes its own
 * end holds the slot for the life of the connection, whatever the remote does.
 * Returns false (and tracks nothing) for a stream that already closed during negotiation.
 */
export function trackInboundStream(
  stream: Stream,
  protocol: string,
  metrics: Metrics,
  onRelease?: (error: Error | undefined) => void,
): boolean {
  if (stream.status !== 'open') return false;
  const open = metrics.net.inboundStreams.labels({ protocol });
  open.inc();
  stream.addEventListener(
    'close',
    (event) => {
      open.dec();
      onRelease?.(event.error);
    },
    { once: true },
  );
  return true;
}

/**
 * Resolves once `stream` is closed both ways (at once if it already is); rejects with the
 * signal's reason if `signal` fires first.
 */
export function whenClosed(stream: Stream, signal: AbortSignal): Promise<void> {
  if (stream.status !== 'open' && stream.status !== 'closing') return Promise.resolve();
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onClose = () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    };
    const onAbort = () => {
      stream.removeEventListener('close', onClose);
      reject(signal.reason);
    };
    stream.addEventListener('close', onClose, { once: true });
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Bytes coalesced into one `send()`, so a burst of small frames costs few muxer frames. */
const SEND_CHUNK_BYTES = 64 * 1024;

function joinFrames(frames: Uint8Array[], total: number): Uint8Array {
  if (frames.length === 1) return frames[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const frame of frames) {
    out.set(frame, offset);
    offset += frame.length;
  }
  return out;
}

/**
 * One libp2p protocol carrying length-prefixed frames one way per stream. Each peer gets one
 * long-lived outbound stream that is reopened with bounded backoff when it fails, so a
 * consensus message never pays for a new stream. Sends honour backpressure (`send()` false
 * means wait for drain). Inbound frames are decoded as they arrive ('message' events); an
 * oversize or malformed length closes that stream, a frame that fails to decode is dropped;
 * both are counted and logged, never thrown into libp2p. Inbound streams are read-only: their
 * write end is closed at once, and a stream that idles or stalls mid-frame is aborted.
 */
export class FramedProtocol<T> {
  private readonly links = new Map<string, OutboundLink>();
  private readonly inbound = new Set<Stream>();
  private readonly abort = new AbortController();
  private started = false;

  constructor(
    private readonly host: ProtocolHost,
    readonly options: FramedProtocolOptions<T>,
  ) {}

  get protocol(): string {
    return this.options.protocol;
  }

  async start(): Promise<void> {
    await this.host.handle(
      this.options.protocol,
      (stream, connection) => this.acceptStream(stream, connection),
      { maxInboundStreams: this.options.maxInboundStreams ?? 8 },
    );
    this.started = true;
  }

  /** Stops accepting streams, closes every stream and cancels pending reconnects. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.abort.abort();
    await this.host.unhandle(this.options.protocol);
    for (const link of this.links.values()) link.close();
    for (const stream of this.inbound) stream.abort(new Error('protocol stopped'));
    this.links.clear();
    this.inbound.clear();
  }

  /**
   * Queues one frame for `peerId`. Returns false when it was dropped because the peer's queue
   * is full. Throws NODE_FRAME_TOO_LARGE for a payload over the limit and NODE_FRAME_EMPTY for
   * an empty one (a zero length carries nothing and the decoder skips it): both are bugs in
   * the caller.
   */
  send(peerId: string, payload: Uint8Array): boolean {
    if (!this.started) {
      throw new NodeError('NODE_PROTOCOL_STOPPED', `${this.protocol} is not running`);
    }
    assertFrameSize(payload, this.options.maxFrameBytes, this.protocol);
    if (payload.length === 0) {
      throw new NodeError('NODE_FRAME_EMPTY', `${this.protocol}: empty frames are not sent`);
    }
    let link = this.links.get(peerId);
    if (link === undefined) {
      link = new OutboundLink(this, peerIdFromString(peerId), this.abort.signal);
      this.links.set(peerId, link);
    }
    const queued = link.enqueue(encodeFrame(payload));
    if (!queued) this.reject('queue_full', peerId);
    return queued;
  }

  /** Drops the outbound stream and queue of a peer that left the network. */
  forget(peerId: string): void {
    this.links.get(peerId)?.close();
    this.links.delete(peerId);
  }

  /** Frames waiting to be written to `peerId` (0 for an unknown peer). */
  queuedFrames(peerId: string): number {
    return this.links.get(peerId)?.queuedFrames ?? 0;
  }

  /** @internal */
  dial(peer: PeerId, signal: AbortSignal): Promise<Stream> {
    return this.host.dialProtocol(peer, this.protocol, { signal });
  }

  /** @internal */
  reject(reason: string, peerId: string, error?: unknown): void {
    this.options.metrics.net.framesRejected.inc({ protocol: this.protocol, reason });
    this.options.logger.debug(
      { protocol: this.protocol, peer: peerId, reason, err: error },
      'frame rejected',
    );
  }

  private acceptStream(stream: Stream, connection: Connection): void {
    const peerId = connection.remotePeer.toString();
    const { metrics, logger, maxFrameBytes } = this.options;
    if (this.options.allowPeer !== undefined && !this.options.allowPeer(peerId)) {
      this.reject('not_allowed', peerId);
      stream.abort(new Error('peer not allowed on this protocol'));
      return;
    }
    const idleTimeoutMs = this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    const frameTimeoutMs = this.options.frameTimeoutMs ?? DEFAULT_FRAME_TIMEOUT_MS;
    const decoder = new FrameDecoder(maxFrameBytes);
    let lastByteAt = performance.now();
    /** When the frame now pending became due (the previous frame's end); undefined between frames. */
    let partialSince: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    let timerDueAt = Number.POSITIVE_INFINITY;
    let released = false;
    const tracked = trackInboundStream(stream, this.protocol, metrics, (error) => {
      released = true;
      clearTimeout(timer);
      this.inbound.delete(stream);
      // A graceful end with part of a frame held back: the sender closed mid-frame.
      if (error === undefined && decoder.pendingBytes > 0) this.reject('truncated', peerId);
    });
    if (!tracked) return;
    this.inbound.add(stream);

    // One timer per stream, moved only when a deadline comes closer: each byte just moves
    // `lastByteAt`, and the timer re-arms itself for whatever deadline is left when it fires.
    const arm = (at: number) => {
      if (released || (timer !== undefined && timerDueAt <= at)) return;
      clearTimeout(timer);
      timerDueAt = at;
      timer = setTimeout(expire, Math.max(0, at - performance.now()));
      timer.unref();
    };
    const expire = () => {
      timer = undefined;
      timerDueAt = Number.POSITIVE_INFINITY;
      const now = performance.now();
      const frameDue =
        partialSince === undefined ? Number.POSITIVE_INFINITY : partialSince + frameTimeoutMs;
      if (now >= frameDue) this.timeOut(stream, peerId, 'partial_frame', frameTimeoutMs);
      else if (now >= lastByteAt + idleTimeoutMs)
        this.timeOut(stream, peerId, 'idle', idleTimeoutMs);
      else arm(Math.min(frameDue, lastByteAt + idleTimeoutMs));
    };
    arm(lastByteAt + idleTimeoutMs);

    const frameCounter = metrics.net.framesIn.labels({ protocol: this.protocol });
    stream.addEventListener('message', (event) => {
      lastByteAt = performance.now();
      let completed = 0;
      try {
        for (const frame of decoder.decode(event.data)) {
          completed++;
          let message: T;
          try {
            message = this.options.decode(frame.subarray());
          } catch (error) {
            this.reject('decode', peerId, error);
            continue;
          }
          frameCounter.inc();
          try {
            this.options.onMessage(peerId, message);
          } catch (error) {
            this.reject('handler', peerId, error);
          }
        }
      } catch (error) {
        // The framing itself is broken (oversize, endless or non-minimal length): the stream
        // cannot be resynchronised, so it goes; the connection and other streams stay.
        const oversize = (error as Error).name === 'InvalidMessageLengthError';
        this.reject(oversize ? 'oversize' : 'framing', peerId, error);
        logger.warn(
          { protocol: this.protocol, peer: peerId, err: (error as Error).message },
          'closing inbound stream after a framing error',
        );
        stream.abort(error as Error);
        return;
      }
      if (decoder.pendingBytes === 0) {
        partialSince = undefined;
      } else if (completed > 0 || partialSince === undefined) {
        partialSince = lastByteAt;
        arm(partialSince + frameTimeoutMs);
      }
    });
    // Nothing is ever written back, so our end closes now: once the sender closes its end the
    // stream is closed both ways and its slot is free (see trackInboundStream).
    stream.close().catch((error: unknown) => stream.abort(error as Error));
  }

  private timeOut(
    stream: Stream,
    peerId: string,
    reason: 'idle' | 'partial_frame',
    timeoutMs: number,
  ): void {
    this.options.metrics.net.streamTimeouts.inc({ protocol: this.protocol, reason });
    this.options.logger.warn(
      { protocol: this.protocol, peer: peerId, reason, timeoutMs },
      'aborting a stalled inbound stream',
    );
    const what = reason === 'idle' ? 'sent nothing' : 'left a frame unfinished';
    stream.abort(
      new StreamTimeoutError(`${this.protocol}: inbound stream ${what} for ${timeoutMs} ms`),
    );
  }
}

/** What an outbound link uses of its protocol (keeps the link free of the message type). */
interface LinkOwner {
  readonly protocol: string;
  readonly options: Pick<
    FramedProtocolOptions<unknown>,
    'maxQueuedFrames' | 'maxQueuedBytes' | 'reconnect' | 'idleTimeoutMs' | 'logger' | 'metrics'
  >;
  dial(peer: PeerId, signal: AbortSignal): Promise<Stream>;
  reject(reason: string, peerId: string, error?: unknown): void;
}

/** The long-lived outbound stream to one peer, with its queue and reconnect loop. */
class OutboundLink {
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private closed = false;
  private stream: Stream | undefined;
  private running = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly owner: LinkOwner,
    private readonly peer: PeerId,
    private readonly signal: AbortSignal,
  ) {}

  get queuedFrames(): number {
    return this.queue.length;
  }

  enqueue(frame: Uint8Array): boolean {
    const { maxQueuedFrames = 10_000, maxQueuedBytes = 64 * 1024 * 1024 } = this.owner.options;
    if (this.queue.length >= maxQueuedFrames || this.queuedBytes + frame.length > maxQueuedBytes) {
      return false;
    }
    this.queue.push(frame);
    this.queuedBytes += frame.length;
    if (this.wake !== undefined) {
      const wake = this.wake;
      this.wake = undefined;
      wake();
    } else if (!this.running) {
      this.running = true;
      void this.run();
    }
    return true;
  }

  close(): void {
    this.closed = true;
    this.stream?.abort(new Error('protocol stopped'));
    this.stream = undefined;
    this.queue = [];
    this.queuedBytes = 0;
    this.wake?.();
  }

  /** Resolves true when a frame is queued (or the link closes), false after `idleMs` of an open stream without one. */
  private waitForFrames(idleMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer =
        this.stream === undefined
          ? undefined
          : setTimeout(() => {
              this.wake = undefined;
              resolve(false);
            }, idleMs);
      this.wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  /** Closes an idle stream gracefully; the peer closed its end at once, so both ends close. */
  private async retire(stream: Stream, waitMs: number): Promise<void> {
    const signal = AbortSignal.any([this.signal, AbortSignal.timeout(waitMs)]);
    try {
      await stream.close({ signal });
      await whenClosed(stream, signal);
    } catch (error) {
      stream.abort(error as Error);
    }
  }

  private async run(): Promise<void> {
    const { reconnect, logger, metrics } = this.owner.options;
    const minDelay = reconnect?.minDelayMs ?? 50;
    const maxDelay = reconnect?.maxDelayMs ?? 5_000;
    const protocol = this.owner.protocol;
    let delay = minDelay;
    while (!this.signal.aborted && !this.closed) {
      if (this.queue.length === 0) {
        const idleCloseMs = (this.owner.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS) / 2;
        if (!(await this.waitForFrames(idleCloseMs)) && this.stream !== undefined) {
          // Close a quiet link before the peer's idle timeout cuts it (and maybe a frame with
          // it); the next frame opens a new stream.
          void this.retire(this.stream, idleCloseMs);
          this.stream = undefined;
        }
        continue;
      }
      let stream = this.stream;
      if (stream === undefined || stream.status !== 'open' || stream.writeStatus !== 'writable') {
        try {
          stream = await this.owner.dial(this.peer, this.signal);
        } catch (error) {
          if (this.signal.aborted || this.closed) break;
          logger.debug(
            { protocol, peer: this.peer.toString(), err: (error as Error).message, retryMs: delay },
            'outbound stream failed to open; retrying',
          );
          try {
            await sleep(delay, undefined, { signal: this.signal });
          } catch {
            break;
          }
          delay = Math.min(delay * 2, maxDelay);
          continue;
        }
        this.stream = stream;
        delay = minDelay;
        metrics.net.streamsOpened.inc({ protocol });
      }
      // Take a chunk of queued frames and send them as one write.
      let count = 0;
      let bytes = 0;
      while (count < this.queue.length && (count === 0 || bytes < SEND_CHUNK_BYTES)) {
        bytes += this.queue[count]!.length;
        count++;
      }
      const frames = this.queue.splice(0, count);
      this.queuedBytes -= bytes;
      try {
        const accepted = stream.send(joinFrames(frames, bytes));
        metrics.net.framesOut.inc({ protocol }, count);
        if (!accepted) {
          metrics.net.sendWaits.inc({ protocol });
          await stream.onDrain({ signal: this.signal });
        }
      } catch (error) {
        if (this.signal.aborted || this.closed) break;
        // The stream died under us; frames handed to it may be lost, as on any network.
        this.owner.reject('stream_closed', this.peer.toString(), error);
        stream.abort(error as Error);
        this.stream = undefined;
      }
    }
    this.running = false;
  }
}
