import type * as Browser from './browser.js';
import type * as Node from './node.js';

/**
 * What each platform file provides. The rest of the package imports `./node.js`; a browser
 * bundle gets `./browser.js` in its place (package.json `browser` field), so both must export
 * exactly this, with the same results byte for byte (test/browser-platform.test.ts).
 * `SigningKey` and `VerifyingKey` are each platform's own prepared keys.
 */
export interface Platform<SigningKey, VerifyingKey> {
  /** toHex, binaryString, compareBytes and sha256 are public as they are (re-exported). */
  toHex(bytes: Uint8Array): string;
  binaryString(bytes: Uint8Array): string;
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
  ed25519VerifyingKey(publicKey: Uint8Array): VerifyingKey;
  ed25519Verify(key: VerifyingKey, message: Uint8Array, signature: Uint8Array): boolean;
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
export type NodeFollowsContract = Holds<
  Exactly<typeof Node, Platform<Node.SigningKey, Node.VerifyingKey>>
>;
export type BrowserFollowsContract = Holds<
  Exactly<typeof Browser, Platform<Browser.SigningKey, Browser.VerifyingKey>>
>;
