import { ed25519 } from '@noble/curves/ed25519.js';
import { equalBytes } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';

/**
 * The equation of medchain's verification rule on @noble/curves point arithmetic: the
 * reference `verifyReference` holds OpenSSL to, and the browser's verifier. Platform-free
 * (the browser platform imports it), so it uses noble's helpers rather than ./bytes.js.
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
 * The cofactorless equation, compared on bytes: encode([S]B - [k]A) == R with
 * k = SHA-512(R || A || M) mod L. `a` is the decoded `publicKey`; the caller has checked the
 * rest of the rule (acceptable key, 64-byte signature, S < L). R is never decoded.
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
