import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import { equalBytes } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import type { Ed25519Backend } from './platform/contract.js';

/**
 * medchain's verification rule on @noble/curves point arithmetic: the noble backend (the
 * browser's only verifier, and the last of Node's) and the table the rule's pre-check reads.
 * Platform-free (the browser platform imports it), so it uses noble's helpers, not ./bytes.js.
 */
export const Point = ed25519.Point;
export type EdPoint = InstanceType<typeof Point>;
export const CURVE_ORDER = Point.Fn.ORDER;

export function bytesToNumberLE(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

/**
 * Every encoding of a point of small order that has a canonical y (y < p): the 8 points of
 * the torsion subgroup, plus the "negative zero" spellings (sign bit set, x = 0) of the
 * identity and of the point of order 2. Encodings with y >= p are refused separately.
 */
export const SMALL_ORDER_ENCODINGS: readonly Uint8Array[] = ED25519_TORSION_SUBGROUP.flatMap(
  (hex) => {
    const point = Point.fromHex(hex);
    const bytes = point.toBytes();
    if (point.x !== 0n) return [bytes];
    const negativeZero = bytes.slice();
    negativeZero[31]! |= 0x80;
    return [bytes, negativeZero];
  },
);

/**
 * The rule's equation, cofactorless and compared on bytes: encode([S]B - [k]A) == R with
 * k = SHA-512(R || A || M) mod L. `a` is the decoded `publicKey`; the caller has checked the
 * rest of the rule (acceptable key, 64-byte signature, S < L, R canonical and not of small
 * order). R is never decoded: bytes that are not a point's encoding cannot match.
 */
export function cofactorlessEquationHolds(
  a: EdPoint,
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  const rBytes = signature.subarray(0, 32);
  const s = bytesToNumberLE(signature.subarray(32, 64));
  const hashed = sha512.create().update(rBytes).update(publicKey).update(message).digest();
  const k = Point.Fn.create(bytesToNumberLE(hashed));
  const expectedR = Point.BASE.multiplyUnsafe(s).subtract(a.multiplyUnsafe(k));
  return equalBytes(expectedR.toBytes(), rBytes);
}

/** The rule on noble points; a prepared key keeps its decompressed point. */
export const nobleBackend: Ed25519Backend = {
  name: 'noble',
  prepareKey(publicKey) {
    const a = Point.fromBytes(publicKey, false);
    return (message, signature) => cofactorlessEquationHolds(a, publicKey, message, signature);
  },
};
