/**
 * The primitives in browsers: @noble/curves, @noble/hashes and @noble/ciphers, no `node:`
 * module and no `Buffer`. Bundlers put this file in place of `./node.ts` through the
 * package.json `browser` field (README: "Platforms"). Same contract and same bytes as the
 * Node file (`./contract.ts`, test/browser-platform.test.ts); synchronous like the rest of
 * the package, which is why this is noble and not WebCrypto.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { ed25519, x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { equalBytes } from '@noble/curves/utils.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { scrypt as nobleScrypt } from '@noble/hashes/scrypt.js';
import { sha256 as nobleSha256, sha512 as nobleSha512 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes as nobleHexToBytes } from '@noble/hashes/utils.js';
import { nobleBackend } from '../ed25519-reference.js';
import type { Ed25519Backend, ScryptOptions } from './contract.js';

/** noble signs from the seed itself; a copy, so the caller's array can change afterwards. */
export type SigningKey = Uint8Array;

export function toHex(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('toHex expects a Uint8Array');
  return bytesToHex(bytes);
}

/** apply() takes any array-like; chunks keep its argument list far below engines' limits. */
const LATIN1_CHUNK = 8192;

/** By char codes: TextDecoder's 'latin1' is really windows-1252 and changes 0x80-0x9f. */
export function binaryString(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('binaryString expects a Uint8Array');
  if (bytes.length <= LATIN1_CHUNK)
    return String.fromCharCode.apply(null, bytes as unknown as number[]);
  let text = '';
  for (let i = 0; i < bytes.length; i += LATIN1_CHUNK) {
    text += String.fromCharCode.apply(
      null,
      bytes.subarray(i, i + LATIN1_CHUNK) as unknown as number[],
    );
  }
  return text;
}

export function fromBinaryString(text: string): Uint8Array {
  if (typeof text !== 'string') throw new TypeError('fromBinaryString expects a string');
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

export function hexToBytes(hex: string): Uint8Array {
  return nobleHexToBytes(hex);
}

/** Lexicographic byte order: the one order used wherever bytes must be sorted. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return equalBytes(a, b);
}

/** Plain SHA-256, for interoperable digests (FHIR content hashes, test vectors). */
export function sha256(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}

export function sha512(data: Uint8Array): Uint8Array {
  return nobleSha512(data);
}

export function sha256Prefixed(prefix: Uint8Array, parts: readonly Uint8Array[]): Uint8Array {
  const hash = nobleSha256.create().update(prefix);
  for (const part of parts) hash.update(part);
  return hash.digest();
}

function binaryBytes(part: Uint8Array | string): Uint8Array {
  return typeof part === 'string' ? fromBinaryString(part) : part;
}

export function sha256Binary(data: Uint8Array): string {
  return binaryString(nobleSha256(data));
}

export function sha256PrefixedBinary(
  prefix: Uint8Array,
  first: Uint8Array | string,
  second: Uint8Array | string | undefined,
): string {
  const hash = nobleSha256.create().update(prefix).update(binaryBytes(first));
  if (second !== undefined) hash.update(binaryBytes(second));
  return binaryString(hash.digest());
}

export function ed25519SigningKey(seed: Uint8Array): SigningKey {
  return new Uint8Array(seed);
}

export function ed25519PublicKey(key: SigningKey): Uint8Array {
  return ed25519.getPublicKey(key);
}

export function ed25519Sign(key: SigningKey, message: Uint8Array): Uint8Array {
  return ed25519.sign(message, key);
}

/** The rule's equation on noble points, the only backend a browser has (no native code). */
export const ed25519Backends: readonly Ed25519Backend[] = [nobleBackend];

/** No native curve arithmetic here: key checks decode on noble points. */
export const ed25519PointDecodes = null;

/** RFC 7748 X25519; `null` when u is of small order (noble refuses it before the ladder). */
export function x25519(scalar: Uint8Array, uCoordinate: Uint8Array): Uint8Array | null {
  try {
    return nobleX25519.getSharedSecret(scalar, uCoordinate);
  } catch {
    return null;
  }
}

export function scrypt(
  passphrase: Uint8Array,
  salt: Uint8Array,
  options: ScryptOptions,
  length: number,
): Uint8Array {
  return nobleScrypt(passphrase, salt, { ...options, dkLen: length });
}

export function hkdfSha256(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  return hkdf(nobleSha256, ikm, salt, info, length);
}

export function aes256GcmSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  return gcm(key, nonce, aad).encrypt(plaintext);
}

export function aes256GcmOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
): Uint8Array | null {
  try {
    return gcm(key, nonce, aad).decrypt(sealed);
  } catch {
    return null;
  }
}
