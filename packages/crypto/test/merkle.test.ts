import {
  EMPTY_MERKLE_ROOT,
  type MerkleProof,
  merkleLeafHash,
  merkleProof,
  merkleRoot,
  taggedHash,
  toHex,
  verifyMerkleProof,
} from '@medchain/crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

// Reference tree hash straight from RFC 9162 section 2.1.1: MTH(D[n]) = H(MTH(D[0:k]) || MTH(D[k:n]))
// with k the largest power of two smaller than n.
function referenceTreeHash(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 1) return merkleLeafHash(leaves[0]!);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return taggedHash(
    'MerkleNode',
    referenceTreeHash(leaves.slice(0, k)),
    referenceTreeHash(leaves.slice(k)),
  );
}

function referenceRoot(leaves: Uint8Array[]): Uint8Array {
  const size = new Uint8Array(8);
  new DataView(size.buffer).setBigUint64(0, BigInt(leaves.length));
  return leaves.length === 0
    ? taggedHash('MerkleRoot', size)
    : taggedHash('MerkleRoot', size, referenceTreeHash(leaves));
}

const leavesArb = fc.array(fc.uint8Array({ maxLength: 12 }), { minLength: 1, maxLength: 70 });
// Distinct contents: with two equal leaves, "leaf 1 has this content" is true and proves fine.
const distinctLeavesArb = fc.uniqueArray(fc.uint8Array({ maxLength: 12 }), {
  minLength: 1,
  maxLength: 70,
  selector: toHex,
});

function leavesOf(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => new Uint8Array([i & 0xff, i >> 8]));
}

describe('Merkle trees', () => {
  it('root matches the RFC 9162 tree hash, with the size committed', () => {
    fc.assert(
      fc.property(leavesArb, (leaves) => {
        expect(toHex(merkleRoot(leaves))).toBe(toHex(referenceRoot(leaves)));
      }),
      { numRuns: 150 },
    );
    expect(toHex(merkleRoot([]))).toBe(toHex(EMPTY_MERKLE_ROOT));
    expect(toHex(EMPTY_MERKLE_ROOT)).toBe(toHex(referenceRoot([])));
  });

  it('a leaf can never pose as an inner node, nor an inner node as a leaf', () => {
    const [a, b] = [new Uint8Array([1]), new Uint8Array([2])];
    const inner = taggedHash('MerkleNode', merkleLeafHash(a), merkleLeafHash(b));
    expect(toHex(merkleLeafHash(inner))).not.toBe(toHex(inner));
    expect(toHex(merkleRoot([a, b]))).not.toBe(toHex(merkleRoot([inner])));
  });

  it('every leaf of every tree up to 70 leaves has a proof that verifies', () => {
    for (let n = 1; n <= 70; n++) {
      const leaves = leavesOf(n);
      const root = merkleRoot(leaves);
      for (let i = 0; i < n; i++) {
        const proof = merkleProof(leaves, i);
        expect(proof.size).toBe(n);
        expect(proof.index).toBe(i);
        expect(verifyMerkleProof(root, leaves[i]!, proof), `leaf ${i} of ${n}`).toBe(true);
      }
    }
  });

  it('every mutation of a proof fails: any path bit, any other index, any other size, any other leaf, a shorter or longer path', () => {
    fc.assert(
      fc.property(distinctLeavesArb, fc.nat(), fc.nat(), (leaves, indexSeed, bitSeed) => {
        const n = leaves.length;
        const index = indexSeed % n;
        const root = merkleRoot(leaves);
        const leaf = leaves[index]!;
        const proof = merkleProof(leaves, index);
        const fails = (candidate: MerkleProof, candidateLeaf = leaf) =>
          expect(verifyMerkleProof(root, candidateLeaf, candidate)).toBe(false);

        for (let other = 0; other < n + 2; other++) {
          if (other !== index) fails({ ...proof, index: other });
        }
        for (let size = 0; size < n + 70; size++) {
          if (size !== n) fails({ ...proof, size });
        }
        for (let at = 0; at < proof.path.length; at++) {
          const path = proof.path.map((hash) => hash.slice());
          const bit = bitSeed % 256;
          path[at]![bit >> 3]! ^= 1 << (bit & 7);
          fails({ ...proof, path });
        }
        if (proof.path.length > 0) fails({ ...proof, path: proof.path.slice(1) });
        if (proof.path.length > 0) fails({ ...proof, path: proof.path.slice(0, -1) });
        fails({ ...proof, path: [...proof.path, merkleLeafHash(leaf)] });
        fails({ ...proof, path: [merkleLeafHash(leaf), ...proof.path] });
        const changed = leaf.slice();
        if (changed.length > 0) changed[bitSeed % changed.length]! ^= 1;
        fails(proof, changed.length > 0 ? changed : new Uint8Array([0]));
        fails(proof, new Uint8Array([...leaf, 0]));
        for (let other = 0; other < n; other++) {
          if (other !== index) fails(proof, leaves[other]!);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('rejects malformed proofs without throwing, and refuses to prove a missing leaf', () => {
    const leaves = leavesOf(5);
    const root = merkleRoot(leaves);
    const proof = merkleProof(leaves, 2);
    const malformed: unknown[] = [
      null,
      {},
      { ...proof, index: 1.5 },
      { ...proof, index: -1 },
      { ...proof, size: Number.POSITIVE_INFINITY },
      { ...proof, path: 'nope' },
      { ...proof, path: [new Uint8Array(31), ...proof.path.slice(1)] },
      { ...proof, path: [null, ...proof.path.slice(1)] },
    ];
    for (const bad of malformed) {
      expect(verifyMerkleProof(root, leaves[2]!, bad as MerkleProof)).toBe(false);
    }
    expect(verifyMerkleProof(root.subarray(1), leaves[2]!, proof)).toBe(false);
    for (const index of [-1, 5, 1.5, Number.NaN]) {
      expect(() => merkleProof(leaves, index)).toThrow(
        expect.objectContaining({ code: 'CRYPTO_BAD_MERKLE_INDEX' }),
      );
    }
    expect(() => merkleProof([], 0)).toThrow(
      expect.objectContaining({ code: 'CRYPTO_BAD_MERKLE_INDEX' }),
    );
  });
});
