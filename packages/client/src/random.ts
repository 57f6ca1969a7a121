import { toHex } from '@medchain/crypto';

/** Random bytes from the platform's CSPRNG (WebCrypto: browsers, and Node >= 20 as globalThis.crypto). */
export function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  // getRandomValues fills at most 65536 bytes per call.
  for (let offset = 0; offset < length; offset += 65_536) {
    globalThis.crypto.getRandomValues(bytes.subarray(offset, Math.min(length, offset + 65_536)));
  }
  return bytes;
}

/** A request-signature nonce: 32 hex characters (128 random bits), inside the profile's alphabet. */
export function requestNonce(): string {
  return toHex(randomBytes(16));
}
