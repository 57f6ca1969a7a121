import type * as Browser from './browser.js';
import type * as Node from './node.js';

/**
 * What each platform file provides. The rest of the package imports `./node.js`; a browser
 * bundle gets `./browser.js` in its place (package.json `browser` field), so both must export
 * exactly this, with the same results byte for byte (test/browser-platform.test.ts).
 * `SigningKey` is each platform's own prepared key.
 */
export interface Platform<SigningKey> {
  /** toHex, binaryString, fromBinaryString, compareBytes and sha256 are public as they are (re-exported). */
  toHex(bytes: Uint8Array): string;
  binaryString(bytes: Uint8Array): string;
  fromBinaryString(text: string): Uint8Array;
  hexToBytes(hex: string): Uint8Array;
  compareBytes(a: Uint8Array, b: Uint8Array): number;
  constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean;
  sha256(data: Uint8Array): Uint8Array;
  sha512(data: Uint8Array): Uint8Array;
  sha256Prefixed(prefix: Uint8Array, parts: readonly Uint8Array[]): Uint8Array;
  /** The digest as a binary string (`binaryString` form); string parts are in that form too. */
  sha256Binary(data: Uint8Array): string;
  sha256PrefixedBinary(
    prefix: Uint8Array,
    first: Uint8Array | string,
    second: Uint8Array | string | undefined,
  ): string;
  ed25519SigningKey(seed: Uint8Array): SigningKey;
  ed25519PublicKey(key: SigningKey): Uint8Array;
  ed25519Sign(key: SigningKey, message: Uint8Array): Uint8Array;
  /** The Ed25519 verifiers this platform has, fastest first (README: "One verification rule"). */
  readonly ed25519Backends: readonly Ed25519Backend[];
  /**
   * Natively, whether 32 bytes decode to a point on the curve (y taken mod p, the top bit as
   * x's sign, nothing else checked); `null` where the platform has no native curve arithmetic.
   */
  readonly ed25519PointDecodes: ((encoding: Uint8Array) => boolean) | null;
  x25519(scalar: Uint8Array, uCoordinate: Uint8Array): Uint8Array | null;
  scrypt(
    passphrase: Uint8Array,
    salt: Uint8Array,
    options: ScryptOptions,
    length: number,
  ): Uint8Array;
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  aes256GcmSeal(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
  ): Uint8Array;
  aes256GcmOpen(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    sealed: Uint8Array,
  ): Uint8Array | null;
}

export type Ed25519BackendName = 'libsodium' | 'openssl' | 'noble';

/** A signature check bound to one public key: prepared once per key, kept in a key cache. */
export type KeyVerifier = (message: Uint8Array, signature: Uint8Array) => boolean;

/**
 * One implementation of the rule's equation. It is only ever given inputs that passed the
 * rule's pre-check in ed25519.ts (acceptable key, 64-byte signature, S < L, R canonical and
 * not of small order), and must then accept exactly when encode([S]B - [k]A) == R, compared
 * on bytes. Never throws.
 */
export interface Ed25519Backend {
  readonly name: Ed25519BackendName;
  /** `publicKey` is a private copy that passed the key check; it may be kept. */
  prepareKey(publicKey: Uint8Array): KeyVerifier;
}

export interface ScryptOptions {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  /** Bytes of working memory allowed. */
  readonly maxmem: number;
}

/** Compile-time only: `tsc` fails when either file drifts from the contract. */
type Exactly<Module, Contract> = Module extends Contract
  ? [Exclude<keyof Module, keyof Contract>] extends [never]
    ? true
    : false
  : false;
type Holds<T extends true> = T;
export type NodeFollowsContract = Holds<Exactly<typeof Node, Platform<Node.SigningKey>>>;
export type BrowserFollowsContract = Holds<Exactly<typeof Browser, Platform<Browser.SigningKey>>>;
