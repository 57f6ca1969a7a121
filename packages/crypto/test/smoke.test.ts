import {
  decodeCanonical,
  encodeCanonical,
  keyPairFromSeed,
  merkleProof,
  merkleRoot,
  sign,
  toHex,
  verify,
  verifyMerkleProof,
  verifyReference,
} from '@medchain/crypto';
import { describe, expect, it } from 'vitest';

describe('smoke', () => {
  it('signs and verifies on both backends', () => {
    const seed = new Uint8Array(32).fill(7);
    const kp = keyPairFromSeed(seed);
    const msg = new Uint8Array([1, 2, 3]);
    const sig = sign(seed, msg);
    expect(verify(kp.publicKey, msg, sig)).toBe(true);
    expect(verifyReference(kp.publicKey, msg, sig)).toBe(true);
    sig[0]! ^= 1;
    expect(verify(kp.publicKey, msg, sig)).toBe(false);
    expect(verifyReference(kp.publicKey, msg, sig)).toBe(false);
  });
  it('round trips canonical values', () => {
    const v = { b: 1, a: [2 ** 40, -(2 ** 40), 2n ** 63n, 'x', new Uint8Array([9])], c: null };
    const bytes = encodeCanonical(v);
    const first = toHex(bytes);
    encodeCanonical({ z: 'overwrite?' });
    expect(toHex(bytes)).toBe(first);
    expect(decodeCanonical(bytes)).toEqual({
      ...v,
      a: [2 ** 40, -(2 ** 40), 2n ** 63n, 'x', new Uint8Array([9])],
    });
    expect(() => decodeCanonical(new Uint8Array([0xd3, 0, 0, 0, 0, 0, 0, 0, 5]))).toThrow(
      /canonical/,
    );
  });
  it('proves every leaf', () => {
    for (let n = 1; n < 20; n++) {
      const leaves = Array.from({ length: n }, (_, i) => new Uint8Array([i]));
      const root = merkleRoot(leaves);
      for (let i = 0; i < n; i++) {
        expect(verifyMerkleProof(root, leaves[i]!, merkleProof(leaves, i))).toBe(true);
        expect(verifyMerkleProof(root, new Uint8Array([99]), merkleProof(leaves, i))).toBe(false);
      }
    }
  });
});
