import { sha256, taggedHash, toHex } from '@medchain/crypto';
import { AuthenticatedState, MemoryStore } from '../src/state/index.js';

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

/**
 * A store holding `entries` written in one commit, and its root: what every history of
 * commits that ends with these contents must leave behind, byte for byte.
 */
export function oneCommitStore(entries: Iterable<readonly [Uint8Array, Uint8Array]>): {
  store: MemoryStore;
  root: Uint8Array;
} {
  const store = new MemoryStore();
  const state = new AuthenticatedState(store);
  for (const [key, value] of entries) state.set(key, value);
  const { root, ops } = state.commit();
  store.write(ops);
  return { store, root };
}

/** A store's entries as `key=value` hex lines in key order, to compare two stores. */
export function storeDump(store: MemoryStore): string[] {
  return store.entries().map(([key, value]) => `${toHex(key)}=${toHex(value)}`);
}
