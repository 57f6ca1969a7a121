import { sha512 } from '@noble/hashes/sha2.js';
import { assertLength, binaryString, bytesEqual, fromHex, toHex } from './bytes.js';
import { bytesToNumberLE, CURVE_ORDER, Point, SMALL_ORDER_ENCODINGS } from './ed25519-reference.js';
import { CryptoError } from './errors.js';
import { LruCache } from './lru.js';
import type { Ed25519Backend, Ed25519BackendName, KeyVerifier } from './platform/contract.js';
import * as platform from './platform/node.js';

export type { Ed25519BackendName } from './platform/contract.js';

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
 * The public-key part of medchain's verification rule: a key must be the canonical encoding
 * of a curve point (y < p, no negative zero) and must not be of small order. OpenSSL and
 * noble's permissive mode disagree on such keys, and OpenSSL alone accepts the identity as a
 * key, under which R = identity, S = 0 "signs" every message. We refuse them before any
 * backend sees them, so every node reaches the same verdict (README: "One verification rule
 * for the whole system").
 */
export function isAcceptablePublicKey(publicKey: Uint8Array): boolean {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_LENGTH) return false;
  const decodes = platform.ed25519PointDecodes;
  if (decodes === null) {
    try {
      const point = Point.fromBytes(publicKey, false);
      return !point.isSmallOrder() && bytesEqual(point.toBytes(), publicKey);
    } catch {
      return false;
    }
  }
  // The same verdict without decompressing on noble: y < p, y not that of a small-order
  // point, and the bytes decode to a curve point. Points sharing a y are P and -P, of equal
  // order, so a small-order y means a small-order point; and x = 0 (the only x with a
  // "negative zero" spelling) has y = 1 or p - 1, both small-order y's.
  return hasCanonicalY(publicKey) && !SMALL_ORDER_Y.has(yOf(publicKey)) && decodes(publicKey);
}

export function assertAcceptablePublicKey(publicKey: Uint8Array): void {
  if (!isAcceptablePublicKey(publicKey)) {
    throw new CryptoError(
      'CRYPTO_BAD_PUBLIC_KEY',
      'public key is not a canonical, non-small-order Ed25519 point',
    );
  }
}

/** L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
const CURVE_ORDER_LE = fromHex('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010');

/** S < L, on bytes from the most significant end (almost always settled by the top byte). */
function hasCanonicalScalar(signature: Uint8Array): boolean {
  for (let i = 63; i >= 32; i--) {
    const s = signature[i]!;
    const l = CURVE_ORDER_LE[i - 32]!;
    if (s !== l) return s < l;
  }
  return false; // S = L
}

/** R's y is below p = 2^255 - 19: not 0x7fff...ffed..0x7fff...ffff with the sign bit ignored. */
function hasCanonicalY(encoding: Uint8Array): boolean {
  if ((encoding[31]! & 0x7f) !== 0x7f) return true;
  for (let i = 30; i > 0; i--) if (encoding[i] !== 0xff) return true;
  return encoding[0]! < 0xed;
}

const SMALL_ORDER = new Set(SMALL_ORDER_ENCODINGS.map(binaryString));

/** An encoding's y (the top bit, x's sign, cleared) as a binary string. */
function yOf(encoding: Uint8Array): string {
  const y = encoding.slice();
  y[31]! &= 0x7f;
  return binaryString(y);
}

/** The y's of the eight small-order points: 0, 1, p - 1 and the two of order 8. */
const SMALL_ORDER_Y = new Set(SMALL_ORDER_ENCODINGS.map(yOf));

/**
 * The rule's pre-check, run before any backend, so that the verdict never depends on where a
 * backend's defaults differ: lengths and types, S < L, and R canonical and not of small order
 * (libsodium refuses a small-order R; OpenSSL and the noble equation accept it when the
 * equation holds). An R spelled with y >= p matches no backend's byte comparison anyway; it is
 * refused here so that the rule, not the backends' comparisons, says so. The public key is
 * checked by the key cache.
 */
function passesPreCheck(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  return (
    publicKey instanceof Uint8Array &&
    publicKey.length === PUBLIC_KEY_LENGTH &&
    message instanceof Uint8Array &&
    signature instanceof Uint8Array &&
    signature.length === SIGNATURE_LENGTH &&
    hasCanonicalScalar(signature) &&
    hasCanonicalY(signature) &&
    !SMALL_ORDER.has(binaryString(signature.subarray(0, 32)))
  );
}

/**
 * Bounded LRU cache of prepared keys per backend; `null` remembers a key that failed the rule.
 * LRU rather than FIFO so a flood of one-off keys cannot push out the validators' keys,
 * which are looked up on every consensus message.
 */
export const PUBLIC_KEY_CACHE_LIMIT = 16_384;

export type VerifyFunction = (
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
) => boolean;

interface RuleVerifier {
  verify: VerifyFunction;
  preparedKey(publicKey: Uint8Array): KeyVerifier | null;
}

function ruleVerifier(backend: Ed25519Backend): RuleVerifier {
  const keys = new LruCache<KeyVerifier | null>(PUBLIC_KEY_CACHE_LIMIT);
  const preparedKey = (publicKey: Uint8Array): KeyVerifier | null => {
    const id = binaryString(publicKey);
    const hit = keys.get(id);
    if (hit !== undefined) return hit;
    // A copy: the backend may keep it, and the caller's array may change afterwards.
    const key = isAcceptablePublicKey(publicKey) ? backend.prepareKey(publicKey.slice()) : null;
    keys.set(id, key);
    return key;
  };
  return {
    preparedKey,
    verify(publicKey, message, signature) {
      if (!passesPreCheck(publicKey, message, signature)) return false;
      return preparedKey(publicKey)?.(message, signature) ?? false;
    },
  };
}

const verifiers = new Map(
  platform.ed25519Backends.map((backend) => [backend.name, ruleVerifier(backend)]),
);
const fastest = verifiers.get(platform.ed25519Backends[0]!.name)!;

/** The backend {@link verify} runs on: `libsodium` where sodium-native loads, else `openssl` (Node) or `noble` (browsers). */
export const ED25519_BACKEND: Ed25519BackendName = platform.ed25519Backends[0]!.name;

/**
 * The rule on every backend this platform has, each with its own key cache, fastest first:
 * for tests and benchmarks, which hold them to identical verdicts.
 */
export const ed25519Verifiers: ReadonlyMap<Ed25519BackendName, VerifyFunction> = new Map(
  [...verifiers].map(([name, verifier]) => [name, verifier.verify]),
);

/**
 * {@link isAcceptablePublicKey}, remembered in the verifier's key cache. The check decodes a
 * point (libsodium in Node, noble in browsers), and a transaction's signer is checked when it is decoded and again
 * when its signature is verified: sharing one cache makes that one check per key.
 */
export function isAcceptablePublicKeyCached(publicKey: Uint8Array): boolean {
  return (
    publicKey instanceof Uint8Array &&
    publicKey.length === PUBLIC_KEY_LENGTH &&
    fastest.preparedKey(publicKey) !== null
  );
}

/**
 * medchain's verification rule (README: "One verification rule for the whole system") on the
 * fastest backend here ({@link ED25519_BACKEND}): acceptable public key, S < L, R canonical
 * and not of small order, and the cofactorless equation encode([S]B - [k]A) == R.
 * Never throws: malformed input is simply not a valid signature.
 */
export const verify: VerifyFunction = fastest.verify;

/**
 * The same rule written out from scratch on noble points, for tests and audits: it shares
 * no code with {@link verify}'s pre-check or with any backend. Strict decoding of A and R
 * (canonical, on the curve), neither of small order, S < L, and [S]B = R + [k]A compared as
 * points. Decodes the key on every call.
 */
export function verifyReference(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    if (!(message instanceof Uint8Array) || signature.length !== SIGNATURE_LENGTH) return false;
    const rBytes = signature.subarray(0, 32);
    const a = Point.fromBytes(publicKey, false);
    const r = Point.fromBytes(rBytes, false);
    const s = bytesToNumberLE(signature.subarray(32, 64));
    if (a.isSmallOrder() || r.isSmallOrder() || s >= CURVE_ORDER) return false;
    const hashed = sha512.create().update(rBytes).update(publicKey).update(message).digest();
    const k = bytesToNumberLE(hashed) % CURVE_ORDER;
    return Point.BASE.multiplyUnsafe(s).equals(r.add(a.multiplyUnsafe(k)));
  } catch {
    // Not bytes, wrong length, or not a canonical point encoding.
    return false;
  }
}

/** Short form of a public key for humans and logs, e.g. `ed:3b6a27bc…c6da29`. Not for parsing. */
export function shortPublicKey(publicKey: Uint8Array): string {
  const hex = toHex(publicKey);
  return `ed:${hex.slice(0, 8)}…${hex.slice(-6)}`;
}
