import { bytesEqual, compareBytes } from '@medchain/crypto';
import { binaryKey } from './store.js';
import {
  emptyHash,
  encodeInner,
  encodeLeaf,
  isEmptyHash,
  pathBit,
  stateLeafHash,
  stateNodeHash,
  type TreeNode,
} from './tree.js';

/** One key's change: its new value hash, or undefined for a delete. */
export interface TreeUpdate {
  readonly keyHash: Uint8Array;
  readonly valueHash: Uint8Array | undefined;
}

interface Leaf {
  readonly keyHash: Uint8Array;
  readonly valueHash: Uint8Array;
}

/** A subtree's hash, and whether it is a lone leaf when that is known without a read. */
interface Subtree {
  readonly hash: Uint8Array;
  readonly isLeaf: boolean | undefined;
}

/** Where a batch reads the current tree; `id` is `binaryKey(hash)`, `depth` the node's level. */
export type NodeReader = (hash: Uint8Array, id: string, depth: number) => TreeNode;

/** Also the subtree it roots, so building a node allocates one record, not two. */
export interface CreatedNode extends Subtree {
  readonly bytes: Uint8Array;
  readonly node: TreeNode;
  /** Where it was built; a leaf may end up higher when a neighbour's delete lifts it. */
  readonly depth: number;
}

export interface ReplacedNode {
  readonly hash: Uint8Array;
  readonly node: TreeNode;
}

const EMPTY: Subtree = { hash: emptyHash(), isLeaf: false };

/** First index in [lo, hi) whose path has bit `depth` set; the range is sorted and shares the bits above. */
function splitIndex(
  items: readonly { keyHash: Uint8Array }[],
  lo: number,
  hi: number,
  depth: number,
): number {
  let low = lo;
  let high = hi;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (pathBit(items[mid]!.keyHash, depth) === 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * Applies one commit's updates to a tree in a single walk: the updates are sorted by path,
 * so each inner node on a shared path is read and re-hashed once per commit, not once per
 * key. Records the nodes it creates and the nodes it replaces, by id.
 */
export class TreeBatch {
  readonly created = new Map<string, CreatedNode>();
  readonly replaced = new Map<string, ReplacedNode>();
  readonly #read: NodeReader;

  constructor(read: NodeReader) {
    this.#read = read;
  }

  /** `updates` must be sorted by key hash with no key hash twice. Returns the new root. */
  apply(root: Uint8Array, updates: readonly TreeUpdate[]): Uint8Array {
    return this.#update(root, 0, updates, 0, updates.length).hash;
  }

  #update(
    hash: Uint8Array,
    depth: number,
    updates: readonly TreeUpdate[],
    lo: number,
    hi: number,
  ): Subtree {
    if (lo === hi) return { hash, isLeaf: undefined };
    if (isEmptyHash(hash)) {
      const leaves = insertedLeaves(updates, lo, hi);
      return this.#build(depth, leaves, 0, leaves.length);
    }
    const id = binaryKey(hash);
    const node = this.#read(hash, id, depth);
    this.replaced.set(id, { hash, node });
    if (node.kind === 'leaf') {
      const leaves = insertedLeaves(updates, lo, hi);
      // The lone leaf here joins the updates unless one of them rewrites or deletes it.
      let overridden = false;
      for (let i = lo; i < hi && !overridden; i++) {
        overridden = bytesEqual(updates[i]!.keyHash, node.keyHash);
      }
      if (!overridden) {
        const at = insertionIndex(leaves, node.keyHash);
        leaves.splice(at, 0, { keyHash: node.keyHash, valueHash: node.valueHash });
      }
      return this.#build(depth, leaves, 0, leaves.length);
    }
    const mid = splitIndex(updates, lo, hi, depth);
    const left = this.#update(node.left, depth + 1, updates, lo, mid);
    const right = this.#update(node.right, depth + 1, updates, mid, hi);
    return this.#join(left, right, depth);
  }

  /** The subtree holding exactly `leaves[lo..hi)` (sorted, distinct), built from nothing. */
  #build(depth: number, leaves: readonly Leaf[], lo: number, hi: number): Subtree {
    if (lo === hi) return EMPTY;
    if (hi - lo === 1) {
      const { keyHash, valueHash } = leaves[lo]!;
      const node: TreeNode = { kind: 'leaf', keyHash, valueHash };
      return this.#create(
        stateLeafHash(keyHash, valueHash),
        encodeLeaf(keyHash, valueHash),
        node,
        depth,
      );
    }
    const mid = splitIndex(leaves, lo, hi, depth);
    return this.#join(
      this.#build(depth + 1, leaves, lo, mid),
      this.#build(depth + 1, leaves, mid, hi),
      depth,
    );
  }

  /** The node at `depth` over two subtrees; a lone leaf beside an empty subtree moves up instead. */
  #join(left: Subtree, right: Subtree, depth: number): Subtree {
    const leftEmpty = isEmptyHash(left.hash);
    const rightEmpty = isEmptyHash(right.hash);
    if (leftEmpty && rightEmpty) return EMPTY;
    if (leftEmpty && this.#isLeaf(right, depth + 1)) return right;
    if (rightEmpty && this.#isLeaf(left, depth + 1)) return left;
    const node: TreeNode = { kind: 'inner', left: left.hash, right: right.hash };
    return this.#create(
      stateNodeHash(left.hash, right.hash),
      encodeInner(left.hash, right.hash),
      node,
      depth,
    );
  }

  #isLeaf(subtree: Subtree, depth: number): boolean {
    if (subtree.isLeaf !== undefined) return subtree.isLeaf;
    return this.#read(subtree.hash, binaryKey(subtree.hash), depth).kind === 'leaf';
  }

  #create(hash: Uint8Array, bytes: Uint8Array, node: TreeNode, depth: number): Subtree {
    const created: CreatedNode = { hash, isLeaf: node.kind === 'leaf', bytes, node, depth };
    this.created.set(binaryKey(hash), created);
    return created;
  }
}

function insertedLeaves(updates: readonly TreeUpdate[], lo: number, hi: number): Leaf[] {
  const leaves: Leaf[] = [];
  for (let i = lo; i < hi; i++) {
    const { keyHash, valueHash } = updates[i]!;
    if (valueHash !== undefined) leaves.push({ keyHash, valueHash });
  }
  return leaves;
}

/** Insertion index of `keyHash` in sorted `leaves`. */
function insertionIndex(leaves: readonly Leaf[], keyHash: Uint8Array): number {
  let low = 0;
  let high = leaves.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compareBytes(leaves[mid]!.keyHash, keyHash) < 0) low = mid + 1;
    else high = mid;
  }
  return low;
}
