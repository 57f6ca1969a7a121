import { CryptoError } from './errors.js';
import * as platform from './platform/node.js';

const HEX_PATTERN = /^(?:[0-9a-f]{2})*$/;
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

// The hottest helpers come straight from the platform file, without a wrapper call: toHex
// and binaryString make Map keys, compareBytes compares hashes, on every hot path.
export { binaryString, compareBytes, fromBinaryString, toHex } from './platform/node.js';

/** Parses lowercase hex; anything else (odd length, uppercase, 0x prefix) is an error, so one value has one spelling. */
export function fromHex(hex: string, expectedLength?: number): Uint8Array {
  if (typeof hex !== 'string' || !HEX_PATTERN.test(hex)) {
    throw new CryptoError('CRYPTO_BAD_HEX', 'expected an even-length lowercase hex string');
  }
  const bytes = platform.hexToBytes(hex);
  if (expectedLength !== undefined && bytes.length !== expectedLength) {
    throw new CryptoError(
      'CRYPTO_BAD_LENGTH',
      `expected ${expectedLength} bytes of hex, got ${bytes.length}`,
    );
  }
  return bytes;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && platform.compareBytes(a, b) === 0;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** Decodes UTF-8, rejecting invalid sequences rather than substituting U+FFFD. */
export function fromUtf8(bytes: Uint8Array): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw new CryptoError('CRYPTO_BAD_UTF8', 'bytes are not valid UTF-8');
  }
}

export function assertLength(bytes: Uint8Array, length: number, what: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    throw new CryptoError('CRYPTO_BAD_LENGTH', `${what} must be ${length} bytes`);
  }
}
