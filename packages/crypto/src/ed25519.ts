import { assertLength, bytesEqual, toHex } from './bytes.js';
import {
  bytesToNumberLE,
  CURVE_ORDER,
  cofactorlessEquationHolds,
  Point,
} from './ed25519-reference.js';
import { CryptoError } from './errors.js';
import { LruCache } from './lru.js';
import * as platform from './platform/node.js';

export const PUBLIC_KEY_LENGTH = 32;
export const SEED_LENGTH = 32;
export const SIGNATURE_LENGTH = 64;

export interface KeyPair {
  /** 32-byte Ed25519 public key (RFC 8032 encoding). */
  readonly publicKey: Uint8Array;
  /** 32-byte RFC 8032 private key (the seed). Keep it in a keystore, never on the ledger. */
  readonly seed: Uint8Array;
}

function signingKey(seed: Uint8Array): platform.SigningKey {
  assertLength(seed, SEED_LENGTH, 'Ed25519 seed');
  return platform.ed25519SigningKey(seed);
}

export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  return {
    publicKey: platform.ed25519PublicKey(signingKey(seed)),
    seed: new Uint8Array(seed),
  };
}

/**
 * Randomness comes from the caller (`crypto.randomBytes` at the edge, a seeded PRNG in
 * tests), so this package never reads an entropy source on its own.
 */
export function generateKeyPair(randomBytes: (length: number) => Uint8Array): KeyPair {
  return keyPairFromSeed(randomBytes(SEED_LENGTH));
}

/** A signing key held prepared (an OpenSSL key object on Node), so repeated signatures skip re-importing it. */
export class Signer {
  readonly publicKey: Uint8Array;
  readonly #key: platform.SigningKey;

  constructor(seed: Uint8Array) {
    this.#key = signingKey(seed);
    this.publicKey = platform.ed25519PublicKey(this.#key);
  }

  sign(message: Uint8Array): Uint8Array {
    return platform.ed25519Sign(this.#key, message);
  }
}

export function sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return new Signer(seed).sign(message);
}

/**
 * The public-key half of medchain's single verification rule: a key must be the canonical
 * encoding of a curve point (y < p, no negative zero) and must not be of small order.
 * OpenSSL and noble's permissive mode disagree on such keys, and OpenSSL alone accepts the
 * identity as a key, under which R = identity, S = 0 "signs" every message. We refuse them
 * before either backend sees them, so every node reaches the same verdict (README: "One
 * verification rule for the whole system").
 */
export function isAcceptablePublicKey(publicKey: Uint8Array): boolean {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_LENGTH) return false;
  try {
    const point = Point.fromBytes(publicKey, false);
    return !point.isSmallOrder() && bytesEqual(point.toBytes(), publicKey);
  } catch {
    return false;
  }
}

export function assertAcceptablePublicKey(publicKey: Uint8Array): void {
  if (!isAcceptablePublicKey(publicKey)) {
    throw new CryptoError(
      'CRYPTO_BAD_PUBLIC_KEY',
      'public key is not a canonical, non-small-order Ed25519 point',
    );
  }
}

/** S must be below the group order; OpenSSL enforces this too, we check it up front for both backends. */
function hasCanonicalScalar(signature: Uint8Array): boolean {
  return bytesToNumberLE(signature.subarray(32, 64)) < CURVE_ORDER;
}

/**
 * Bounded LRU cache of imported public keys; `null` remembers a key that failed the rule.
 * LRU rather than FIFO so a flood of one-off keys cannot push out the validators' keys,
 * which are looked up on every consensus message.
 */
export const PUBLIC_KEY_CACHE_LIMIT = 16_384;
const keyCache = new LruCache<platform.VerifyingKey | null>(PUBLIC_KEY_CACHE_LIMIT);

function cachedPublicKey(publicKey: Uint8Array): platform.VerifyingKey | null {
  const id = toHex(publicKey);
  const hit = keyCache.get(id);
  if (hit !== undefined) return hit;
  const key = isAcceptablePublicKey(publicKey) ? platform.ed25519VerifyingKey(publicKey) : null;
  keyCache.set(id, key);
  return key;
}

/**
 * {@link isAcceptablePublicKey}, remembered in the verifier's key cache. The check decompresses
 * a point (~90 µs on noble), and a transaction's signer is checked when it is decoded and again
 * when its signature is verified: sharing one cache makes that one check per key.
 */
export function isAcceptablePublicKeyCached(publicKey: Uint8Array): boolean {
  return (
    publicKey instanceof Uint8Array &&
    publicKey.length === PUBLIC_KEY_LENGTH &&
    cachedPublicKey(publicKey) !== null
  );
}

function wellFormed(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return (
    publicKey instanceof Uint8Array &&
    publicKey.length === PUBLIC_KEY_LENGTH &&
    message instanceof Uint8Array &&
    signature instanceof Uint8Array &&
    signature.length === SIGNATURE_LENGTH &&
    hasCanonicalScalar(signature)
  );
}

/**
 * medchain's verification rule on the platform's backend (OpenSSL on Node, the hot path;
 * the reference equation in browsers): acceptable public key, S < L, and the cofactorless
 * equation [S]B = R + [k]A checked by comparing the encoding of R.
 * Never throws: malformed input is simply not a valid signature.
 */
export function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (!wellFormed(publicKey, message, signature)) return false;
  const key = cachedPublicKey(publicKey);
  return key !== null && platform.ed25519Verify(key, message, signature);
}

/**
 * The same rule written out on @noble/curves point arithmetic. Ten times slower than
 * OpenSSL's {@link verify}; it exists as an independent reference that tests hold the fast
 * path to. The browser build's `verify` is this equation, with decoded keys cached.
 */
export function verifyReference(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (!wellFormed(publicKey, message, signature) || !isAcceptablePublicKey(publicKey)) return false;
  try {
    return cofactorlessEquationHolds(
      Point.fromBytes(publicKey, false),
      publicKey,
      message,
      signature,
    );
  } catch {
    return false;
  }
}

/** Short form of a public key for humans and logs, e.g. `ed:3b6a27bc…c6da29`. Not for parsing. */
export function shortPublicKey(publicKey: Uint8Array): string {
  const hex = toHex(publicKey);
  return `ed:${hex.slice(0, 8)}…${hex.slice(-6)}`;
}
