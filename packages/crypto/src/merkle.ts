import { bytesEqual } from './bytes.js';
import { CryptoError } from './errors.js';
import { taggedHash } from './hash.js';

/**
 * Merkle trees over ordered lists, shaped as RFC 6962 / RFC 9162: the left subtree holds the
 * largest power of two strictly below n leaves. Leaves and inner nodes hash under different
 * domains, so an inner node can never pose as a leaf.
 *
 * Unlike RFC 6962, the root also commits to the number of leaves:
 * root = H_MerkleRoot(u64be(n) || treeHash). In RFC 9162 the verifier learns the size from a
 * signed tree head; our block headers carry only the root, and without the size a proof for
 * leaf 4 of 5 also "verifies" as leaf 2 of 3 (same path, same hashes). With the size inside
 * the root, a proof binds its index and size: change either and it fails.
 */
export interface MerkleProof {
  readonly index: number;
  readonly size: number;
  /** Sibling hashes from the leaf upwards. */
  readonly path: readonly Uint8Array[];
}

export function merkleLeafHash(leaf: Uint8Array): Uint8Array {
  return taggedHash('MerkleLeaf', leaf);
}

function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return taggedHash('MerkleNode', left, right);
}

function sizeBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(size));
  return bytes;
}

function rootFromTreeHash(size: number, treeHash: Uint8Array): Uint8Array {
  return taggedHash('MerkleRoot', sizeBytes(size), treeHash);
}

/** Root of an empty list: the size 0 with no tree hash. */
export const EMPTY_MERKLE_ROOT: Uint8Array = taggedHash('MerkleRoot', sizeBytes(0));

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function rootOfHashes(hashes: readonly Uint8Array[], start: number, end: number): Uint8Array {
  const n = end - start;
  if (n === 1) return hashes[start]!;
  const k = largestPowerOfTwoBelow(n);
  return nodeHash(rootOfHashes(hashes, start, start + k), rootOfHashes(hashes, start + k, end));
}

export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return EMPTY_MERKLE_ROOT;
  return rootFromTreeHash(
    leaves.length,
    rootOfHashes(leaves.map(merkleLeafHash), 0, leaves.length),
  );
}

export function merkleProof(leaves: readonly Uint8Array[], index: number): MerkleProof {
  if (!Number.isInteger(index) || index < 0 || index >= leaves.length) {
    throw new CryptoError(
      'CRYPTO_BAD_MERKLE_INDEX',
      `leaf index ${index} is outside a list of ${leaves.length}`,
    );
  }
  const hashes = leaves.map(merkleLeafHash);
  const path: Uint8Array[] = [];
  let start = 0;
  let end = hashes.length;
  // Walk down from the root, remembering the sibling subtree at each split.
  while (end - start > 1) {
    const k = largestPowerOfTwoBelow(end - start);
    if (index < start + k) {
      path.push(rootOfHashes(hashes, start + k, end));
      end = start + k;
    } else {
      path.push(rootOfHashes(hashes, start, start + k));
      start += k;
    }
  }
  return { index, size: leaves.length, path: path.reverse() };
}

/** RFC 9162 section 2.1.3.2: recompute the tree hash from a leaf and its audit path; never throws. */
export function verifyMerkleProof(root: Uint8Array, leaf: Uint8Array, proof: MerkleProof): boolean {
  if (typeof proof !== 'object' || proof === null) return false;
  const { index, size, path } = proof;
  if (
    !Number.isSafeInteger(index) ||
    !Number.isSafeInteger(size) ||
    index < 0 ||
    index >= size ||
    !Array.isArray(path) ||
    !(leaf instanceof Uint8Array)
  ) {
    return false;
  }
  let fn = index;
  let sn = size - 1;
  let hash = merkleLeafHash(leaf);
  for (const sibling of path) {
    if (!(sibling instanceof Uint8Array) || sibling.length !== 32 || sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      hash = nodeHash(sibling, hash);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      hash = nodeHash(hash, sibling);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && root instanceof Uint8Array && bytesEqual(rootFromTreeHash(size, hash), root);
}
