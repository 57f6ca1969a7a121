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
export class FramingError extends Error {
  readonly code = 'NODE_FRAMING';
}

/** Indexable bytes: Uint8Array or libp2p's Uint8ArrayList. */
interface ByteSource {
  readonly byteLength: number;
  get?(index: number): number;
}

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
      if (i >= data.byteLength) throw new RangeError('incomplete length prefix');
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
