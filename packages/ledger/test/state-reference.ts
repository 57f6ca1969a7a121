import { sha256, taggedHash } from '@medchain/crypto';

/**
 * The state root straight from its definition, with no storage, batching or compaction
 * tricks: 0 pairs -> 32 zero bytes, 1 pair -> its leaf hash, more -> node(left, right).
 * Tests compare the real tree against it.
 */
export function referenceRoot(entries: Iterable<readonly [Uint8Array, Uint8Array]>): Uint8Array {
  const leaves = [...entries].map(([key, value]) => {
    const path = taggedHash('StateKey', key);
    return { path, hash: taggedHash('StateLeaf', path, sha256(value)) };
  });
  return subtreeHash(leaves, 0);
}

function bit(path: Uint8Array, depth: number): number {
  return (path[Math.floor(depth / 8)]! >> (7 - (depth % 8))) & 1;
}

function subtreeHash(
  leaves: readonly { path: Uint8Array; hash: Uint8Array }[],
  depth: number,
): Uint8Array {
  if (leaves.length === 0) return new Uint8Array(32);
  if (leaves.length === 1) return leaves[0]!.hash;
  const left = leaves.filter((leaf) => bit(leaf.path, depth) === 0);
  const right = leaves.filter((leaf) => bit(leaf.path, depth) === 1);
  return taggedHash('StateNode', subtreeHash(left, depth + 1), subtreeHash(right, depth + 1));
}
