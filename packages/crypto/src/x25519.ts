import { ed25519 } from '@noble/curves/ed25519.js';
import { assertLength } from './bytes.js';
import { assertAcceptablePublicKey, SEED_LENGTH } from './ed25519.js';
import { CryptoError } from './errors.js';
import * as platform from './platform/node.js';

export const X25519_KEY_LENGTH = 32;

const Fp = ed25519.Point.Fp;
const BASE_POINT_U = new Uint8Array(32);
BASE_POINT_U[0] = 9;

/**
 * RFC 7748 X25519(k, u) (OpenSSL on Node): clamps k, ignores the top bit of u. An all-zero result
 * means u was of small order; OpenSSL and noble refuse it and so do we (CRYPTO_BAD_PUBLIC_KEY), since
 * such a "shared secret" is known to everyone.
 */
export function x25519(scalar: Uint8Array, uCoordinate: Uint8Array): Uint8Array {
  assertLength(scalar, X25519_KEY_LENGTH, 'X25519 scalar');
  assertLength(uCoordinate, X25519_KEY_LENGTH, 'X25519 u-coordinate');
  const shared = platform.x25519(scalar, uCoordinate);
  if (shared === null) {
    throw new CryptoError(
      'CRYPTO_BAD_PUBLIC_KEY',
      'X25519 gave the all-zero secret (small-order u)',
    );
  }
  return shared;
}

/** X25519(k, 9): the public u-coordinate of a scalar. */
export function x25519PublicKey(scalar: Uint8Array): Uint8Array {
  return x25519(scalar, BASE_POINT_U);
}

/**
 * The X25519 scalar of an Ed25519 identity: the first half of SHA-512(seed), clamped, i.e. the
 * very scalar a with A = [a]B that Ed25519 signs with. Its X25519 public key is therefore
 * {@link x25519PublicKeyFromEd25519} of the identity's public key.
 */
export function x25519SecretFromEd25519Seed(seed: Uint8Array): Uint8Array {
  assertLength(seed, SEED_LENGTH, 'Ed25519 seed');
  const scalar = platform.sha512(seed).slice(0, 32);
  scalar[0]! &= 248;
  scalar[31]! &= 127;
  scalar[31]! |= 64;
  return scalar;
}

/**
 * Maps an Ed25519 public key to its Montgomery u-coordinate, u = (1 + y) / (1 - y).
 * Only keys that pass {@link assertAcceptablePublicKey} are converted, so the result is
 * never a small-order point.
 */
export function x25519PublicKeyFromEd25519(publicKey: Uint8Array): Uint8Array {
  assertAcceptablePublicKey(publicKey);
  // The key is known canonical, so y is its low 255 bits; no second point decode needed.
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(publicKey[i]!);
  y &= (1n << 255n) - 1n;
  return Fp.toBytes(Fp.div(Fp.add(Fp.ONE, y), Fp.sub(Fp.ONE, y)));
}
