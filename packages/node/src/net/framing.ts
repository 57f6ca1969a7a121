import { LengthPrefixedDecoder } from '@libp2p/utils';
import { CodedError } from '@medchain/crypto';
import { NodeError } from '../errors.js';

/*
 * Frames are an unsigned LEB128 varint length followed by that many bytes, the same framing
 * as libp2p's lpStream and LengthPrefixedDecoder, so either end may use those helpers.
 */

/** Bytes of the varint that encodes `length`. */
export function varintLength(length: number): number {
  let bytes = 1;
  for (let rest = Math.floor(length / 128); rest > 0; rest = Math.floor(rest / 128)) bytes++;
  return bytes;
}

export function encodeFrame(payload: Uint8Array): Uint8Array {
  const prefix = varintLength(payload.length);
  const out = new Uint8Array(prefix + payload.length);
  let rest = payload.length;
  for (let i = 0; i < prefix; i++) {
    const low = rest % 128;
    rest = Math.floor(rest / 128);
    out[i] = rest > 0 ? low | 0x80 : low;
  }
  out.set(payload, prefix);
  return out;
}

/** Raised for a length prefix no honest encoder writes (too long or not minimal). */
export class FramingError extends CodedError<'NODE_FRAMING'> {
  override readonly name = 'FramingError';

  constructor(message: string) {
    super('NODE_FRAMING', message);
  }
}

/** Indexable bytes: Uint8Array or libp2p's Uint8ArrayList. */
interface ByteSource {
  readonly byteLength: number;
  get?(index: number): number;
}

/**
 * The decoder asks for a length after every chunk it drains, so "need more bytes" is thrown
 * once per chunk received: one shared error, because building a fresh one (its stack trace)
 * was 3% of a validator's busy time at 100 tx/s. It never leaves the decoder.
 */
const INCOMPLETE_PREFIX = new RangeError('incomplete length prefix');

/**
 * A length decoder for LengthPrefixedDecoder that gives up after the bytes needed for
 * `maxFrameBytes`, so a peer cannot make us buffer an endless varint, and rejects
 * non-minimal encodings, which would desynchronise the decoder's prefix arithmetic.
 * Throws RangeError (the decoder's "need more bytes" signal) when the prefix is incomplete.
 */
export function boundedLengthDecoder(maxFrameBytes: number): (data: ByteSource) => number {
  const maxPrefix = varintLength(maxFrameBytes);
  return (data) => {
    let value = 0;
    for (let i = 0; i < maxPrefix; i++) {
      if (i >= data.byteLength) throw INCOMPLETE_PREFIX;
      const byte = data.get !== undefined ? data.get(i) : (data as Uint8Array)[i]!;
      value += (byte & 0x7f) * 2 ** (7 * i);
      if ((byte & 0x80) === 0) {
        if (byte === 0 && i > 0) throw new FramingError('non-minimal length prefix');
        return value;
      }
    }
    throw new FramingError(`length prefix longer than ${maxPrefix} bytes`);
  };
}

/**
 * Inbound frame decoding: LengthPrefixedDecoder with `boundedLengthDecoder`, plus how many
 * bytes of an unfinished frame it holds, so a stream that stops mid-frame can be timed out.
 */
export class FrameDecoder {
  private readonly decoder: LengthPrefixedDecoder;
  private held = 0;

  constructor(maxFrameBytes: number) {
    const readLength = boundedLengthDecoder(maxFrameBytes);
    this.decoder = new LengthPrefixedDecoder({
      maxDataLength: maxFrameBytes,
      // One 'message' event can carry everything the stream buffered (up to the stream's own
      // maxReadBufferLength), so the decoder must not cap it; what it keeps between events is
      // at most one partial frame, bounded by maxDataLength and the bounded length prefix.
      maxBufferSize: Number.MAX_SAFE_INTEGER,
      // The decoder reads a length from its whole buffer at the start of every step and
      // stops only right after such a read (too few bytes) or by throwing, so the buffer
      // seen by the last read is exactly what it keeps for the next chunk.
      lengthDecoder: (data) => {
        this.held = data.byteLength;
        return readLength(data);
      },
    });
  }

  /** Bytes of an incomplete frame (prefix included) held back; 0 on a frame boundary. */
  get pendingBytes(): number {
    return this.held;
  }

  /**
   * The frames completed by `chunk` (iterate to the end before reading `pendingBytes`).
   * Throws InvalidMessageLengthError for an oversize length, FramingError for a bad prefix.
   */
  decode(chunk: DecoderInput): ReturnType<LengthPrefixedDecoder['decode']> {
    return this.decoder.decode(chunk);
  }
}

/** Uint8Array or the Uint8ArrayList a stream 'message' event carries. */
type DecoderInput = Parameters<LengthPrefixedDecoder['decode']>[0];

/** An inbound stream aborted because it idled or left a frame unfinished for too long. */
export class StreamTimeoutError extends CodedError<'NODE_STREAM_TIMEOUT'> {
  override readonly name = 'StreamTimeoutError';

  constructor(message: string) {
    super('NODE_STREAM_TIMEOUT', message);
  }
}

export function assertFrameSize(
  payload: Uint8Array,
  maxFrameBytes: number,
  protocol: string,
): void {
  if (payload.length > maxFrameBytes) {
    throw new NodeError(
      'NODE_FRAME_TOO_LARGE',
      `${protocol}: frame of ${payload.length} bytes exceeds the ${maxFrameBytes}-byte limit`,
    );
  }
}
